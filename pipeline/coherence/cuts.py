"""Frame-pair analysis: global motion, motion-compensated similarity, and cut verdicts.

One measure serves both questions the score asks of consecutive frames: *does the boundary
between two scenes carry on?* and *is there a cut inside this scene?* For a pair of frames (x, y):

1. **Global motion** (translation, and zoom when translation alone does not explain y): phase
   correlation of Hann-windowed luma at MOTION_SIZE; the best of its four strongest peaks, the
   neighbouring pairs' motion and "no motion" is kept, with a sub-pixel (parabolic) refinement.
   A zoom search (up to ±15 % per frame) runs only when translation leaves the pair unexplained.
2. **Similarity after motion compensation** over the overlap of x and the moved y: SSIM's
   luminance and contrast-structure terms computed once over the whole overlap (global, not
   windowed: at 64 px the overlap *is* the window), times a chroma term (mean a*b* shift). A pan,
   however fast, aligns and scores ~1; another photo or another place scores low.
3. **Motion consistency** with the pairs around it (CONTEXT either side): a continuous boundary
   moves like the frames around it, or not at all, or catches up a frozen frame or two. A jump to
   a similar-looking place (repetitive textures: coins, brick) aligns well but moves unlike its
   neighbours, which is what gives it away.

``continuity = similarity x motion consistency``; a pair is a cut when continuity is below
``CUT_THRESHOLD``, calibrated on labelled real footage (docs/coherence-score.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline.coherence.frames import LUMA

# --- calibrated verdict ----------------------------------------------------------------------
# Boundaries and frame pairs with continuity below this are cuts. Chosen on the labelled set of
# tests/pipeline/coherence_footage.py (seeds 1-3, 150 boundaries); ROC in docs/coherence-score.md.
CUT_THRESHOLD = 0.6

# --- similarity ------------------------------------------------------------------------------
# SSIM's stabilising constants for 0-255 data (Wang et al.: K1 = 0.01, K2 = 0.03). C2 also makes
# two flat frames "similar": where there is no structure, structure cannot have jumped.
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2
# Mean chroma shift (CIELAB a*b* units) that halves the chroma term. H.264 moves mean chroma by
# < 1; a +/-10 % brightness flicker by < 2; a cut between photos usually by 10-40.
AB_HALF = 12.0
# Translation explains a pair when its contrast-structure term reaches this; below it the zoom
# search runs (pans at 64 px align to 0.95-1.0; a zooming pair to 0.7-0.9 without the search).
ALIGNED = 0.9
# Zoom candidates per frame pair (x magnified by s about its centre): 15 %/frame in 5 % steps,
# then 2.5 % refinement around the best. Faster zooms are rare and look like cuts to people too.
ZOOM_STEPS = (1 / 1.05, 1.05, 1 / 1.1, 1.1, 1 / 1.15, 1.15)
ZOOM_REFINE = 1.025
HINT_SLACK = 0.03  # see ``_prefer_hint``
TIE_MARGIN = 0.005
# A hinted motion (standing still, or a neighbour's) that explains a pair this well is taken
# without phase correlation: most pairs of real footage move like their predecessor, and this
# skips ~70 % of the FFT work.
HINT_GOOD = 0.97
# A pair less continuous than this is aligned a second time with both neighbours' motion.
RECHECK = 0.9
# Pairs either side whose motion a pair is judged against, and how many frames of their motion a
# catch-up jump may carry (see ``motion_consistency``).
CONTEXT = 4
CATCH_UP = 3
MIN_OVERLAP = 0.25  # of the frame: smaller overlaps are not trusted as an alignment

# --- motion consistency --------------------------------------------------------------------------
# Distance (frame fractions; zoom as ZOOM_WEIGHT * |ln s|) between a pair's motion and the
# closest of its neighbours' motions (or none) at which consistency halves, plus MOTION_SLACK of
# the neighbour's own speed: a fast pan's steps are measured less precisely (a 15 %/frame pan
# over sky reads 0.11-0.16), a slow one's to 0.005. A jump cut inside one photo moves by 0.3+.
MOTION_TOL = 0.12
MOTION_SLACK = 0.5
# A zoom step of 10 % weighs like a shift of 5 % of the frame: scale is estimated on a 2.5 % grid
# and trades off against translation when a pair has little structure.
ZOOM_WEIGHT = 0.5
# The zoom search must beat the best translation by this much to be believed: on weakly textured
# pairs it otherwise "explains" codec noise with a spurious 5-10 % zoom.
ZOOM_GAIN = 0.02
# Below this luma standard deviation (0-255) a frame has too little structure for its motion to
# be measured (sky, a wall): motion consistency is then not judged. Sky with grain and a sliver of
# horizon measures 4-6, and its "motion" then reads 0 while the camera pans at 12 %/frame (at 4,
# such a pan read as a cut the moment a rocket entered the frame).
FLAT_SIGMA = 8.0


@dataclass(frozen=True)
class Motion:
    dx: float = 0.0  # fraction of the frame width that content moved between x and y
    dy: float = 0.0  # fraction of the frame height
    scale: float = 1.0  # > 1: y shows x magnified (zoom in)

    def distance(self, other: Motion) -> float:
        return math.sqrt(
            (self.dx - other.dx) ** 2
            + (self.dy - other.dy) ** 2
            + (ZOOM_WEIGHT * math.log(self.scale / other.scale)) ** 2
        )

    @property
    def speed(self) -> float:
        return self.distance(STILL)


STILL = Motion()


@dataclass(frozen=True)
class PairMeasure:
    """One pair of consecutive frames after motion compensation."""

    similarity: float  # luminance x contrast-structure x chroma over the overlap, in [0, 1]
    structure: float  # the contrast-structure term alone
    motion: Motion
    brightness: float  # mean luma change over the overlap, y - x (0-255)
    mean_luma: float  # mean luma of the overlap in x (0-255)
    chroma_shift: float  # CIELAB a*b* distance of the overlap's mean colours
    textured: bool  # enough structure for the motion to mean something


@dataclass(frozen=True)
class _Candidate:
    structure: float
    dy: float
    dx: float
    scale: float


# =================================================================================================
# Alignment
# =================================================================================================


@lru_cache(maxsize=16)
def _hann(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def spectra(luma: np.ndarray) -> np.ndarray:
    """Phase-correlation spectra of a stack of luma frames (T x h x w), computed in one go."""
    centred = luma - luma.mean(axis=(-2, -1), keepdims=True)
    return np.fft.rfft2(centred * _hann(luma.shape[-2:]))


def _subpixel(centre: float, before: float, after: float) -> float:
    den = before - 2.0 * centre + after
    return 0.0 if abs(den) < 1e-9 else float(np.clip(0.5 * (before - after) / den, -0.5, 0.5))


def _peaks(fx: np.ndarray, fy: np.ndarray, shape: tuple[int, int], k: int = 4) -> list[tuple]:
    """The ``k`` strongest phase-correlation peaks (non-maximum suppressed) as (dy, dx)."""
    cross = fx * np.conj(fy)
    surface = np.fft.irfft2(cross / (np.abs(cross) + 1e-3), s=shape)
    h, w = shape
    work = surface.copy()
    found = []
    for _ in range(k):
        py, px = divmod(int(np.argmax(work)), w)
        c = surface[py, px]
        dy = py + _subpixel(c, surface[(py - 1) % h, px], surface[(py + 1) % h, px])
        dx = px + _subpixel(c, surface[py, (px - 1) % w], surface[py, (px + 1) % w])
        found.append((dy - h if dy > h / 2 else dy, dx - w if dx > w / 2 else dx))
        work[
            np.ix_([(py + d) % h for d in range(-2, 3)], [(px + d) % w for d in range(-2, 3)])
        ] = -np.inf
    return found


def _overlap(x: np.ndarray, y: np.ndarray, dy: float, dx: float) -> tuple | None:
    """(x part, y part moved by (dy, dx) with bilinear interpolation, slices) over the overlap:
    x[i, j] is paired with y[i - dy, j - dx]. Works on 2-D and 3-D (colour) arrays."""
    h, w = x.shape[:2]
    iy, ix = math.floor(dy), math.floor(dx)
    fy, fx = dy - iy, dx - ix
    ys, ye, xs, xe = max(0, iy + 1), min(h, h + iy), max(0, ix + 1), min(w, w + ix)
    if ye - ys < 4 or xe - xs < 4:
        return None

    def y_at(oy: int, ox: int) -> np.ndarray:
        return y[ys - iy - oy : ye - iy - oy, xs - ix - ox : xe - ix - ox]

    moved = (
        (1 - fy) * (1 - fx) * y_at(0, 0)
        + fy * (1 - fx) * y_at(1, 0)
        + (1 - fy) * fx * y_at(0, 1)
        + fy * fx * y_at(1, 1)
    )
    return x[ys:ye, xs:xe], moved, (slice(ys, ye), slice(xs, xe))


def _zoomed(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (h x w) magnified by ``scale`` about its centre, and where that is defined."""
    h, w = image.shape
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    matrix = np.eye(2) / scale
    out = ndimage.affine_transform(
        image, matrix, offset=centre - matrix @ centre, order=1, mode="constant", cval=np.nan
    )
    valid = ~np.isnan(out)
    return np.where(valid, out, 0.0).astype(np.float32), valid


def _structure(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM's contrast-structure term (2 cov + C2) / (var a + var b + C2) over all pixels."""
    am, bm = a - a.mean(), b - b.mean()
    cov = float((am * bm).mean())
    return (2.0 * cov + C2) / (float((am * am).mean()) + float((bm * bm).mean()) + C2)


def _score_shift(
    x: np.ndarray, y: np.ndarray, valid: np.ndarray | None, dy: float, dx: float
) -> float | None:
    """Contrast-structure of x and y moved by (dy, dx) over their overlap; None if too small."""
    part = _overlap(x, y, dy, dx)
    if part is None:
        return None
    a, b, where = part
    if valid is not None:
        mask = valid[where]
        a, b = a[mask], b[mask]
    if a.size < MIN_OVERLAP * x.size:
        return None
    return _structure(a, b)


def _try_scale(
    x: np.ndarray,
    y: np.ndarray,
    spectra_xy: tuple[np.ndarray, np.ndarray],
    scale: float,
    shifts: Sequence[tuple[float, float]],
) -> _Candidate:
    """Best translation of ``y`` against ``x`` magnified by ``scale`` (``shifts``, then peaks)."""
    fx, fy = spectra_xy
    valid = None
    if scale != 1.0:
        x, valid = _zoomed(x, scale)
        fx = spectra(x)
    best = _Candidate(-1.0, 0.0, 0.0, scale)
    for dy, dx in shifts:
        value = _score_shift(x, y, valid, dy, dx)
        if value is not None and value > best.structure:
            best = _Candidate(value, dy, dx, scale)
    if best.structure >= HINT_GOOD:
        return best  # the neighbours' motion already explains the pair: skip the correlation
    # A peak must beat the hints by TIE_MARGIN: where the overlap is flat (sky) many shifts fit
    # equally well, and the neighbours' motion is then the better guess.
    for dy, dx in _peaks(fx, fy, x.shape):
        value = _score_shift(x, y, valid, dy, dx)
        if value is not None and value > best.structure + TIE_MARGIN:
            best = _Candidate(value, dy, dx, scale)
    return best


def align(
    x: np.ndarray,
    y: np.ndarray,
    hints: Sequence[Motion] = (),
    spectra_xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Candidate:
    """Best global motion (translation, then zoom if needed) taking luma ``x`` to luma ``y``.

    ``hints`` (the neighbouring pairs' motion, zoom included) are tried besides the correlation
    peaks: a fast pan whose frames share little texture can lose its peak to clutter, and a
    zoom over plain sky "aligns" nearly as well by a shift; the neighbours' motion is the better
    guess in both cases.
    """
    h, w = x.shape
    shifts = [(0.0, 0.0)] + [(m.dy * h, m.dx * w) for m in hints]
    spec = spectra_xy if spectra_xy is not None else (spectra(x), spectra(y))
    best = _try_scale(x, y, spec, 1.0, shifts)
    tried = {1.0: best}
    for scale in {m.scale for m in hints if m.scale != 1.0}:
        tried[scale] = _try_scale(x, y, spec, scale, shifts)
    if max(c.structure for c in tried.values()) < ALIGNED:
        for scale in ZOOM_STEPS:
            tried[scale] = _try_scale(x, y, spec, scale, shifts)
        centre = max(tried.values(), key=lambda c: c.structure).scale
        for scale in (centre * ZOOM_REFINE, centre / ZOOM_REFINE):
            tried[scale] = _try_scale(x, y, spec, scale, shifts)
    zoomed = max(tried.values(), key=lambda c: c.structure)
    chosen = zoomed if zoomed.structure > best.structure + ZOOM_GAIN else best
    return _prefer_hint(x, y, hints, chosen)


def _prefer_hint(
    x: np.ndarray, y: np.ndarray, hints: Sequence[Motion], chosen: _Candidate
) -> _Candidate:
    """A neighbour's exact motion (zoom included) when it explains the pair within HINT_SLACK
    of the best alignment found: on weak or compressed texture the structure is nearly flat
    around the true motion, and the free search then wanders to a motion its neighbours
    contradict. A jump cut is not rescued: at the neighbours' motion it does not align at all."""
    h, w = x.shape
    for motion in hints:
        xs, valid = (x, None) if motion.scale == 1.0 else _zoomed(x, motion.scale)
        value = _score_shift(xs, y, valid, motion.dy * h, motion.dx * w)
        if value is not None and value >= chosen.structure - HINT_SLACK:
            chosen = _Candidate(value, motion.dy * h, motion.dx * w, motion.scale)
    return chosen


# =================================================================================================
# One pair
# =================================================================================================


# sRGB (D65) -> XYZ, as in skimage.color; inlined because converting two colours through
# rgb2lab costs ~0.3 ms of array overhead, once per frame pair.
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _ab(rgb255: np.ndarray) -> np.ndarray:
    """CIELAB (a*, b*) of one sRGB colour given on the 0-255 scale."""
    c = np.clip(rgb255 / 255.0, 0.0, 1.0)
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    t = (_RGB_TO_XYZ @ linear) / _WHITE
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16.0 / 116.0)
    return np.array([500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def _chroma_shift(a_rgb: np.ndarray, b_rgb: np.ndarray) -> float:
    """Distance (CIELAB a*b*) between the mean colours of two pixel sets (N x 3, 0-255)."""
    mean_a = a_rgb.reshape(-1, 3).mean(axis=0)
    mean_b = b_rgb.reshape(-1, 3).mean(axis=0)
    return float(np.hypot(*(_ab(mean_a) - _ab(mean_b))))


def _moved_parts(x_rgb: np.ndarray, y_rgb: np.ndarray, best: _Candidate) -> tuple | None:
    """The overlapping RGB pixels of x (zoomed as found) and moved y, as (N x 3, N x 3)."""
    if best.scale != 1.0:
        channels = [_zoomed(x_rgb[..., c], best.scale) for c in range(3)]
        x_rgb = np.stack([c[0] for c in channels], axis=-1)
        valid = channels[0][1]
    else:
        valid = np.ones(x_rgb.shape[:2], dtype=bool)
    part = _overlap(x_rgb, y_rgb, best.dy, best.dx)
    if part is None:
        return None
    a, b, where = part
    mask = valid[where]
    return a[mask], b[mask]


def measure_pair(
    x_rgb: np.ndarray,
    y_rgb: np.ndarray,
    hints: Sequence[Motion] = (),
    spectra_xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> PairMeasure:
    """Motion-compensated comparison of two small float RGB frames (0-255) of one shape."""
    x, y = x_rgb @ LUMA, y_rgb @ LUMA
    best = align(x, y, hints, spectra_xy)
    parts = _moved_parts(x_rgb, y_rgb, best)
    if parts is None:  # nothing overlaps at any candidate: compare the frames as they are
        best, parts = _Candidate(-1.0, 0.0, 0.0, 1.0), (x_rgb.reshape(-1, 3), y_rgb.reshape(-1, 3))
    a, b = parts[0] @ LUMA, parts[1] @ LUMA
    mean_a, mean_b = float(a.mean()), float(b.mean())
    luminance = (2 * mean_a * mean_b + C1) / (mean_a**2 + mean_b**2 + C1)
    structure = max(0.0, best.structure)
    shift = _chroma_shift(*parts)
    chroma = 1.0 / (1.0 + (shift / AB_HALF) ** 2)
    h, w = x.shape
    return PairMeasure(
        similarity=float(luminance * structure * chroma),
        structure=float(structure),
        motion=Motion(best.dx / w, best.dy / h, best.scale),
        brightness=mean_b - mean_a,
        mean_luma=mean_a,
        chroma_shift=shift,
        # Judged on the whole frames: an overlap of plain sky says nothing about how the rest of
        # the picture moved, and a jump between two skies must still be judged on its motion.
        textured=bool(min(x.std(), y.std()) >= FLAT_SIGMA),
    )


# =================================================================================================
# Clips and boundaries
# =================================================================================================


def clip_pairs(small: np.ndarray, first_hints: Sequence[Motion] = ()) -> list[PairMeasure]:
    """Every consecutive pair of a clip's frames (T x h x w x 3).

    Each pair is first aligned with the previous pair's motion as a hint (the first pair with
    ``first_hints``: the previous scene's last motion, for a pan that carries on across scenes
    into plain background, where phase correlation alone loses it); a pair that then looks
    discontinuous is aligned again with both neighbours' motion, and keeps whichever reading is
    more continuous (a zoom read as a shift on its first pair is corrected by the next pair).
    """
    if len(small) < 2:
        return []
    spec = spectra(small @ LUMA)
    pairs: list[PairMeasure] = []
    for i in range(len(small) - 1):
        hints = [pairs[-1].motion] if pairs else list(first_hints)
        pairs.append(measure_pair(small[i], small[i + 1], hints, (spec[i], spec[i + 1])))
    for i, pair in enumerate(pairs):
        around = context(pairs, i)
        if continuity(pair, around) >= RECHECK:
            continue
        hints = [n.motion for n in neighbours(pairs, i)]
        again = measure_pair(small[i], small[i + 1], hints, (spec[i], spec[i + 1]))
        if continuity(again, around) > continuity(pair, around):
            pairs[i] = again
    return pairs


def neighbours(pairs: Sequence[PairMeasure], i: int, reach: int = 1) -> list[PairMeasure]:
    """The pairs up to ``reach`` either side of pair ``i`` (nearest first on each side)."""
    return [*pairs[max(0, i - reach) : i][::-1], *pairs[i + 1 : i + 1 + reach]]


def same_shot(pairs: Sequence[PairMeasure]) -> list[PairMeasure]:
    """The leading pairs (nearest first) up to the first that does not align: beyond a cut the
    camera belongs to another shot and says nothing about this one's motion."""
    shot = []
    for pair in pairs:
        if pair.similarity < CUT_THRESHOLD:
            break
        shot.append(pair)
    return shot


def context(pairs: Sequence[PairMeasure], i: int) -> list[PairMeasure]:
    """What pair ``i``'s motion is judged against: up to CONTEXT pairs either side, same shot."""
    before = pairs[max(0, i - CONTEXT) : i][::-1]
    return [*same_shot(before), *same_shot(pairs[i + 1 : i + 1 + CONTEXT])]


def boundary_pair(
    last: np.ndarray, first: np.ndarray, before: PairMeasure | None, after: PairMeasure | None
) -> PairMeasure:
    """The pair across a scene boundary; a clip of another size is resized to the first's."""
    if first.shape != last.shape:
        size = (last.shape[1], last.shape[0])
        image = Image.fromarray(np.clip(first, 0, 255).astype(np.uint8), mode="RGB")
        first = np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    hints = [p.motion for p in (before, after) if p is not None]
    return measure_pair(last, first, hints)


def _steps(motion: Motion) -> list[Motion]:
    """The motion over 1..CATCH_UP frames: what a pair shows when frames before it froze."""
    return [Motion(k * motion.dx, k * motion.dy, motion.scale**k) for k in range(1, CATCH_UP + 1)]


def motion_consistency(pair: PairMeasure, around: Sequence[PairMeasure | None]) -> float:
    """How well the pair's motion matches its context's (or standing still), in (0, 1].

    Candidates are standing still and every textured context pair's motion over 1 to CATCH_UP
    frames: a starved encoder freezes a pan for a frame or two and then catches up in one jump
    (H.264 at CRF 40 does this on low-contrast footage), which is not a cut.
    """
    # Only context pairs whose own alignment holds (similarity above the cut threshold) say how
    # the camera moves: the "motion" of a pair of unrelated frames is wherever noise peaked.
    textured = [
        n.motion for n in around if n is not None and n.textured and n.similarity >= CUT_THRESHOLD
    ]
    if not pair.textured or not textured:
        # The motion of a structureless frame is noise, and without a measured neighbour there is
        # nothing to be consistent with: no evidence either way.
        return 1.0
    error = min(pair.motion.distance(m) for n in textured for m in [STILL, *_steps(n)])
    tolerance = MOTION_TOL + MOTION_SLACK * max(m.speed for m in textured)
    return 1.0 / (1.0 + (error / tolerance) ** 2)


def continuity(pair: PairMeasure, neighbours: Sequence[PairMeasure | None]) -> float:
    """Continuity of a transition in [0, 1]: similarity after motion x motion consistency."""
    return float(pair.similarity * motion_consistency(pair, neighbours))


def is_cut(value: float) -> bool:
    return value < CUT_THRESHOLD


def internal_cuts(pairs: Sequence[PairMeasure], fps: float) -> list[tuple[float, float]]:
    """(time in seconds of the first frame after the cut, continuity) of every cut in a clip."""
    found = []
    for i, pair in enumerate(pairs):
        value = continuity(pair, context(pairs, i))
        if is_cut(value):
            found.append(((i + 1) / fps, value))
    return found
