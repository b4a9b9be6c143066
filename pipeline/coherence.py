"""Weight-free coherence score for a multi-scene video.

The score answers one question: do the scenes of one video look like they belong together? It is
built from three terms, each in [0, 1], computed on frames sampled from every scene clip and
converted to CIELAB (perceptually uniform, so distances mean roughly the same everywhere):

* **style** - how alike the scenes' colour and texture statistics are (all scene pairs);
* **continuity** - whether each *continuous* boundary really carries on (SSIM + colour distance
  between the last frame of scene i and the first frame of scene i+1); cuts are measured and
  reported but not scored, a cut is only penalised through style drift;
* **stability** - how little each scene flickers (VBench-style mean absolute frame change).

``score = exp((0.5 ln style + 0.3 ln continuity + 0.2 ln stability) / sum(weights used))``, a
weighted geometric mean (terms floored at 0.01); continuity drops out and the weights renormalise
when a video has no continuous boundary.
docs/coherence-score.md explains every constant. Nothing here needs model weights; a learned
embedding term can be added later as one more ``StyleComponent`` (see ``STYLE_COMPONENTS``).

Pure Python (numpy / scikit-image / matplotlib); clips are read through ``pipeline.media``.
"""

from __future__ import annotations

import io
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab
from skimage.filters import sobel
from skimage.metrics import structural_similarity
from skimage.transform import resize
from skimage.util import img_as_float, img_as_ubyte

if TYPE_CHECKING:
    from matplotlib.figure import Figure

VERSION = "coherence-v1"

# --- analysis resolution -----------------------------------------------------------------------
# Frames are analysed at a long side of ANALYSIS_SIZE pixels: statistics then do not depend on the
# render resolution, codec noise is averaged away (re-encoding barely moves the score) and scoring a
# whole video stays well under a second per scene.
ANALYSIS_SIZE = 160

# --- top-level weights --------------------------------------------------------------------------
# The score is a weighted *geometric* mean of the three terms (see ``combine``): a video is only
# coherent if it is consistent AND continuous AND stable, so a failed term must not be bought back
# by a perfect one (TV static in every scene has a perfectly consistent "style").
# Style carries the most weight: it is the one term that applies to every scene pair, cuts
# included, and "visual DNA" is what the product promises. Continuity is next: a broken continuous
# boundary is the most visible failure, but it only exists where the plan asks for it. Stability is
# smallest: every model we run is temporally smooth nearly all the time, so it mostly catches
# pathological output (flicker, noise), not small differences between configurations.
W_STYLE = 0.5
W_CONTINUITY = 0.3
W_STABILITY = 0.2
# A term of 0 would make the geometric mean 0 whatever the others say (and log(0) is undefined).
# The floor sets how hard a completely failed term caps the score: floor ** (w / sum(w)), i.e.
# 0.25 for stability, 0.13 for continuity, 0.03 for style (all three terms present).
TERM_FLOOR = 0.001

# --- style: histogram layouts -------------------------------------------------------------------
L_BINS = 32  # L* in [0, 100]
AB_BINS = 16  # joint a*/b* histogram, per axis
AB_RANGE = (-80.0, 80.0)  # covers nearly all sRGB chroma; outliers fall into the edge bins
GRAD_BINS = 24
GRAD_MAX = 0.3  # Sobel magnitude of L*/100; larger values (hard edges, noise) share the last bin

# --- style: distance -> similarity scales -------------------------------------------------------
# Colour moments: sim = exp(-d / TAU_MOMENTS), d = CIE76 distance of the LAB means plus half the
# distance of the LAB stds. One JND is ~2.3. On the local model "same seed, other prompt" gives a
# median d of 8 (sim 0.5), "other seed" a median of 26 (sim 0.11); TAU = 12 puts the knee between.
TAU_MOMENTS = 12.0

# --- continuity -----------------------------------------------------------------------------
# Mean per-pixel CIEDE2000 between the two boundary frames: sim = 1 / (1 + (dE / DE_HALF)^2).
# The flat shoulder near 0 matters: H.264's yuv420 conversion alone shifts colours by dE 1.5-3
# (and again on every re-encode), which must not read as a broken boundary; a hard cut between
# same-palette scenes is dE ~10-15 (sim ~0.5), between unrelated palettes 20+ (sim <= 0.2).
DE_HALF = 10.0
W_BOUNDARY_SSIM = 0.6  # structure matters most: a continuous boundary must not jump
W_BOUNDARY_COLOR = 0.4

# --- stability ----------------------------------------------------------------------------------
# VBench's temporal-flickering score is (255 - MAE) / 255 over adjacent frames. That map is so
# lenient that i.i.d. noise (MAE ~85) still scores 0.67, so we keep its linear form but reach 0 at
# MAE_ZERO: ordinary model output (adjacent-frame MAE 1-3 at 24 fps) stays >= 0.94, strobing or
# noise goes to 0. MAE is measured at analysis resolution, which also averages away codec noise.
MAE_ZERO = 50.0


class CoherenceError(Exception):
    """Scoring could not run (no clips, unreadable clip, bad frames). Names the scene if known."""


# =================================================================================================
# Inputs
# =================================================================================================


@dataclass(frozen=True)
class SceneClip:
    index: int
    path: Path
    continuous: bool  # carries on from scene index-1 (ignored for the first scene)


@dataclass(frozen=True)
class SceneFrames:
    """Frames sampled from one scene, in time order, first and last frame included."""

    index: int
    frames: list[np.ndarray]  # HxWx3 RGB, uint8 or float in [0, 1]
    continuous: bool
    # Consecutive (adjacent-in-time) frames for the flicker measure. Sparse samples would count
    # ordinary motion as flicker; None means "use ``frames``" (fine when they are adjacent).
    consecutive: list[np.ndarray] | None = None


# =================================================================================================
# Report
# =================================================================================================


@dataclass
class SceneScore:
    index: int
    style_to_first: float  # style similarity to the first scene (1.0 for the first scene)
    style_to_prev: float | None  # to the previous scene; None for the first scene
    style_mean: float  # mean similarity to every other scene (the value that enters ``style``)
    stability: float
    flicker_mae: float  # mean absolute change between consecutive samples, 0-255 scale
    lab_mean: list[float]
    lab_std: list[float]
    frames: int

    @property
    def style_distance(self) -> float:
        return 1.0 - self.style_mean


@dataclass
class BoundaryScore:
    from_index: int
    to_index: int
    continuous: bool
    ssim: float
    color_distance: float  # mean CIEDE2000 between last frame of from and first frame of to
    continuity: float  # W_BOUNDARY_SSIM * ssim + W_BOUNDARY_COLOR / (1 + (dE / DE_HALF)^2)
    style_similarity: float  # style similarity of the two scenes (what a cut is judged on)

    @property
    def kind(self) -> str:
        return "continuous" if self.continuous else "cut"


@dataclass
class CoherenceReport:
    score: float
    style: float
    continuity: float | None
    stability: float
    scenes: list[SceneScore]
    boundaries: list[BoundaryScore]
    notes: list[str]
    version: str = VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain floats/ints/str), as stored on a Generation."""
        data = asdict(self)
        data["boundaries"] = [
            {**b, "kind": "continuous" if b["continuous"] else "cut"} for b in data["boundaries"]
        ]
        data["weights"] = {
            "style": W_STYLE,
            "continuity": W_CONTINUITY,
            "stability": W_STABILITY,
        }
        return _plain(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoherenceReport:
        scene_fields = set(SceneScore.__dataclass_fields__)
        boundary_fields = set(BoundaryScore.__dataclass_fields__)
        return cls(
            score=float(data["score"]),
            style=float(data["style"]),
            continuity=None if data.get("continuity") is None else float(data["continuity"]),
            stability=float(data["stability"]),
            scenes=[
                SceneScore(**{k: v for k, v in s.items() if k in scene_fields})
                for s in data.get("scenes", [])
            ],
            boundaries=[
                BoundaryScore(**{k: v for k, v in b.items() if k in boundary_fields})
                for b in data.get("boundaries", [])
            ],
            notes=list(data.get("notes", [])),
            version=str(data.get("version", VERSION)),
        )


def _plain(value: Any) -> Any:
    """numpy scalars/arrays -> plain Python, so json.dumps never chokes on a stored report."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return value


# =================================================================================================
# Per-scene features
# =================================================================================================


@dataclass
class SceneFeatures:
    """Everything the style term needs about one scene; ``extra`` is for future terms
    (e.g. a CLIP/DINO embedding) so adding one does not change this type."""

    lab_mean: np.ndarray  # (3,)
    lab_std: np.ndarray  # (3,)
    hist_l: np.ndarray  # (L_BINS,), sums to 1
    hist_ab: np.ndarray  # (AB_BINS*AB_BINS,), sums to 1
    hist_grad: np.ndarray  # (GRAD_BINS,), sums to 1
    edge_energy: float  # mean Sobel magnitude of L*/100
    extra: dict[str, Any] = field(default_factory=dict)


def _to_analysis_rgb(frame: np.ndarray) -> np.ndarray:
    """HxWx3 float RGB in [0, 1], long side at most ANALYSIS_SIZE."""
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise CoherenceError(f"expected an HxWx3 RGB frame, got shape {arr.shape}")
    rgb = img_as_ubyte(np.clip(arr[..., :3], 0, 1)) if arr.dtype.kind == "f" else arr[..., :3]
    h, w = rgb.shape[:2]
    scale = ANALYSIS_SIZE / max(h, w)
    if scale < 1.0:
        # Box (area) filter: a true average of the pixels each output pixel covers, so no
        # ringing and codec noise averages out; PIL does it ~20x faster than skimage.resize,
        # which matters because the flicker measure shrinks every frame of every clip.
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
        rgb = np.asarray(image.resize(size, Image.Resampling.BOX))
    return rgb.astype(np.float64) / 255.0


def _normalised_hist(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    counts, _ = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    total = counts.sum()
    return counts / total if total else np.full(bins, 1.0 / bins)


def scene_features(lab_frames: Sequence[np.ndarray]) -> SceneFeatures:
    """Colour and texture statistics pooled over all sampled frames of one scene.

    Pooling over frames (rather than averaging per-frame distances) makes the statistics describe
    the scene's palette as a whole, so content moving around inside a scene does not count as drift.
    """
    pixels = np.concatenate([f.reshape(-1, 3) for f in lab_frames])
    hist_ab, _, _ = np.histogram2d(
        np.clip(pixels[:, 1], *AB_RANGE),
        np.clip(pixels[:, 2], *AB_RANGE),
        bins=AB_BINS,
        range=(AB_RANGE, AB_RANGE),
    )
    grads = np.concatenate([sobel(f[..., 0] / 100.0).ravel() for f in lab_frames])
    return SceneFeatures(
        lab_mean=pixels.mean(axis=0),
        lab_std=pixels.std(axis=0),
        hist_l=_normalised_hist(pixels[:, 0], L_BINS, 0.0, 100.0),
        hist_ab=(hist_ab / hist_ab.sum()).ravel(),
        hist_grad=_normalised_hist(grads, GRAD_BINS, 0.0, GRAD_MAX),
        edge_energy=float(grads.mean()),
    )


# =================================================================================================
# Style similarity between two scenes: a weighted set of components
# =================================================================================================


def bhattacharyya_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Bounded Bhattacharyya (Hellinger) distance sqrt(1 - BC) in [0, 1] of two histograms.

    The bounded form is used instead of -ln(BC) so that disjoint histograms give 1, not infinity.
    """
    bc = float(np.sum(np.sqrt(p * q)))
    return math.sqrt(max(0.0, 1.0 - min(bc, 1.0)))


def moments_similarity(a: SceneFeatures, b: SceneFeatures) -> float:
    # Std counts half: the same palette lit a little flatter or harsher is a smaller change than a
    # shifted palette.
    d = float(np.linalg.norm(a.lab_mean - b.lab_mean) + 0.5 * np.linalg.norm(a.lab_std - b.lab_std))
    return math.exp(-d / TAU_MOMENTS)


def histogram_similarity(a: SceneFeatures, b: SceneFeatures) -> float:
    # Chroma (joint a*/b*) carries the palette, so it weighs twice lightness.
    d = (
        2.0 * bhattacharyya_distance(a.hist_ab, b.hist_ab)
        + bhattacharyya_distance(a.hist_l, b.hist_l)
    ) / 3.0
    return 1.0 - d


def texture_similarity(a: SceneFeatures, b: SceneFeatures) -> float:
    hist = 1.0 - bhattacharyya_distance(a.hist_grad, b.hist_grad)
    denom = a.edge_energy + b.edge_energy
    energy = 1.0 - (abs(a.edge_energy - b.edge_energy) / denom if denom > 0 else 0.0)
    return 0.5 * hist + 0.5 * energy


@dataclass(frozen=True)
class StyleComponent:
    """One term of the pairwise style similarity. Must be symmetric and return [0, 1].

    To add a learned embedding later: put the embedding into ``SceneFeatures.extra`` and append a
    component whose similarity reads it (e.g. cosine similarity mapped to [0, 1]); the weights
    renormalise, so no other constant has to change.
    """

    name: str
    weight: float
    similarity: Callable[[SceneFeatures, SceneFeatures], float]


STYLE_COMPONENTS: tuple[StyleComponent, ...] = (
    # Colour moments: the most direct read of "palette drift" and what color_match corrects, but
    # the mean moves with content (a big red object shifts it), so it weighs less than histograms.
    StyleComponent("color_moments", 0.30, moments_similarity),
    # Histograms: the whole palette, robust to where and how large objects are; on the local model
    # they separate same-seed from other-seed scene pairs best (docs/coherence-score.md).
    StyleComponent("color_histogram", 0.50, histogram_similarity),
    # Texture: same colours but a different "grain" (e.g. smooth vs. noisy) is still a style break.
    StyleComponent("texture", 0.20, texture_similarity),
)


def style_similarity(
    a: SceneFeatures, b: SceneFeatures, components: Sequence[StyleComponent] = STYLE_COMPONENTS
) -> float:
    total = sum(c.weight for c in components)
    value = sum(c.weight * c.similarity(a, b) for c in components) / total
    return float(min(1.0, max(0.0, value)))


# =================================================================================================
# Boundaries and stability
# =================================================================================================


def _ssim_l(a_lab: np.ndarray, b_lab: np.ndarray) -> float:
    """SSIM on L* only: structure lives in lightness, colour is judged by the deltaE part."""
    if a_lab.shape != b_lab.shape:
        b_lab = resize(b_lab, a_lab.shape, anti_aliasing=True, preserve_range=True)
    side = min(a_lab.shape[:2])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        # Too small for a structural window: fall back to a plain lightness difference.
        return float(1.0 - np.mean(np.abs(a_lab[..., 0] - b_lab[..., 0])) / 100.0)
    if side >= 11:
        # Wang et al.'s reference settings (11x11 Gaussian, sigma 1.5): less sensitive to codec
        # noise than the 7x7 uniform window, so re-encoding a clip barely moves it.
        value = structural_similarity(
            a_lab[..., 0],
            b_lab[..., 0],
            data_range=100.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    else:
        value = structural_similarity(a_lab[..., 0], b_lab[..., 0], data_range=100.0, win_size=win)
    return float(min(1.0, max(0.0, value)))


def boundary_measures(last_lab: np.ndarray, first_lab: np.ndarray) -> tuple[float, float, float]:
    """(ssim, mean CIEDE2000, continuity) between the frames either side of a boundary."""
    if last_lab.shape != first_lab.shape:
        first_lab = resize(first_lab, last_lab.shape, anti_aliasing=True, preserve_range=True)
    ssim = _ssim_l(last_lab, first_lab)
    delta_e = float(np.mean(deltaE_ciede2000(last_lab, first_lab)))
    color = 1.0 / (1.0 + (delta_e / DE_HALF) ** 2)
    continuity = W_BOUNDARY_SSIM * ssim + W_BOUNDARY_COLOR * color
    return ssim, delta_e, float(continuity)


def temporal_stability(rgb_frames: Sequence[np.ndarray]) -> tuple[float, float]:
    """(stability in [0, 1], mean absolute change on the 0-255 scale) of consecutive frames."""
    if len(rgb_frames) < 2:
        return 1.0, 0.0
    diffs = [
        float(np.mean(np.abs(a - b))) * 255.0
        for a, b in itertools.pairwise(rgb_frames)
        if a.shape == b.shape
    ]
    mae = float(np.mean(diffs)) if diffs else 0.0
    return max(0.0, 1.0 - mae / MAE_ZERO), mae


# =================================================================================================
# Scoring
# =================================================================================================


def _fsum_mean(values: Iterable[float]) -> float:
    # Sorted exact summation: the mean does not depend on the order pairs were visited in, which is
    # what makes ``style`` exactly invariant to permuting the scenes.
    vals = sorted(values)
    return math.fsum(vals) / len(vals) if vals else 1.0


def combine(style: float, continuity: float | None, stability: float) -> float:
    """The coherence score: weighted geometric mean of the terms, each floored at TERM_FLOOR.

    ``score = exp(sum(w_k * ln(max(t_k, floor))) / sum(w_k))``; continuity drops out (and the
    weights renormalise) when the video has no continuous boundary.
    """
    parts = [(W_STYLE, style), (W_STABILITY, stability)]
    if continuity is not None:
        parts.append((W_CONTINUITY, continuity))
    total = sum(w for w, _ in parts)
    log_mean = sum(w * math.log(max(v, TERM_FLOOR)) for w, v in parts) / total
    return float(min(1.0, max(0.0, math.exp(log_mean))))


def score_frames(scenes: Sequence[SceneFrames]) -> CoherenceReport:
    """Score already-sampled frames. The array core; ``score_clips`` decodes and calls this."""
    if not scenes:
        raise CoherenceError("no scenes to score: a coherence report needs at least one clip")
    ordered = sorted(scenes, key=lambda s: s.index)
    indices = [s.index for s in ordered]
    if len(set(indices)) != len(indices):
        raise CoherenceError(f"duplicate scene indices: {indices}")

    rgb: list[list[np.ndarray]] = []
    lab: list[list[np.ndarray]] = []
    for scene in ordered:
        if not scene.frames:
            raise CoherenceError(f"scene {scene.index + 1}: no frames to score")
        try:
            scene_rgb = [_to_analysis_rgb(f) for f in scene.frames]
        except CoherenceError as exc:
            raise CoherenceError(f"scene {scene.index + 1}: {exc}") from exc
        rgb.append(scene_rgb)
        lab.append([rgb2lab(f) for f in scene_rgb])

    features = [scene_features(frames) for frames in lab]
    n = len(ordered)
    sim = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            sim[i, j] = sim[j, i] = style_similarity(features[i], features[j])

    notes: list[str] = []
    scene_scores: list[SceneScore] = []
    for i, scene in enumerate(ordered):
        stability, mae = temporal_stability(
            rgb[i]
            if scene.consecutive is None
            else [_to_analysis_rgb(f) for f in scene.consecutive]
        )
        others = [sim[i, j] for j in range(n) if j != i]
        scene_scores.append(
            SceneScore(
                index=scene.index,
                style_to_first=float(sim[0, i]),
                style_to_prev=float(sim[i - 1, i]) if i else None,
                style_mean=_fsum_mean(others) if others else 1.0,
                stability=stability,
                flicker_mae=mae,
                lab_mean=[float(v) for v in features[i].lab_mean],
                lab_std=[float(v) for v in features[i].lab_std],
                frames=len(scene.frames),
            )
        )
        if len(scene.frames) < 2:
            notes.append(f"scene {scene.index + 1}: one frame only, stability assumed 1.0")

    boundaries: list[BoundaryScore] = []
    for i in range(n - 1):
        ssim, delta_e, cont = boundary_measures(lab[i][-1], lab[i + 1][0])
        boundaries.append(
            BoundaryScore(
                from_index=ordered[i].index,
                to_index=ordered[i + 1].index,
                continuous=bool(ordered[i + 1].continuous),
                ssim=ssim,
                color_distance=delta_e,
                continuity=cont,
                style_similarity=float(sim[i, i + 1]),
            )
        )

    # Style: mean similarity over *all* scene pairs. That includes every "vs. first scene" and
    # every neighbour pair (both reported per scene) and, unlike either alone, does not depend on
    # scene order, so a drifting scene costs the same wherever it sits in the video.
    style = _fsum_mean(sim[i, j] for i in range(n) for j in range(i + 1, n)) if n > 1 else 1.0
    stability = _fsum_mean(s.stability for s in scene_scores)
    continuous = [b.continuity for b in boundaries if b.continuous]
    continuity = _fsum_mean(continuous) if continuous else None

    if n == 1:
        notes.append(
            "a one-scene video has no boundaries: continuity is not scored and style is 1.0 "
            "(nothing to compare); the score comes from style and stability"
        )
    elif continuity is None:
        notes.append("no continuous boundaries in the plan: continuity is not scored")
    if ordered[0].continuous:
        notes.append(f"scene {ordered[0].index + 1} is marked continuous but has no predecessor")
    for b in boundaries:
        if b.continuous and b.continuity < 0.5:
            notes.append(
                f"boundary {b.from_index + 1}->{b.to_index + 1} is planned continuous but looks "
                f"like a cut (SSIM {b.ssim:.2f}, dE {b.color_distance:.1f})"
            )
    for s in scene_scores[1:] if n > 1 else []:
        if s.style_mean < 0.5:
            notes.append(
                f"scene {s.index + 1} drifts in style (mean similarity {s.style_mean:.2f})"
            )

    return CoherenceReport(
        score=combine(style, continuity, stability),
        style=float(style),
        continuity=None if continuity is None else float(continuity),
        stability=float(stability),
        scenes=scene_scores,
        boundaries=boundaries,
        notes=notes,
        version=VERSION,
    )


# =================================================================================================
# Clips
# =================================================================================================


def _media() -> ModuleType:
    # Imported lazily so the array core (and the report renderers) work without PyAV installed.
    from pipeline import media

    return media


# Upper bound on decoded RGB kept in memory per scene. Within it every frame is decoded, so the
# flicker measure sees truly adjacent frames (a 5 s 720p clip at 24 fps is ~330 MB, so hosted clips
# get a stride of 2); beyond it frames are evenly strided and the report says so.
DENSE_DECODE_BYTES = 256 * 1024 * 1024


def _evenly(items: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """``n`` evenly spaced items, first and last included (the same rule as media.sample_frames)."""
    if n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _read_scene(clip: SceneClip, samples: int) -> tuple[SceneFrames, str | None]:
    """Decode one clip; returns the scene and a note if the flicker measure had to stride."""
    media = _media()
    path = Path(clip.path)
    if not path.is_file():
        raise CoherenceError(f"scene {clip.index + 1}: clip not found: {path}")
    try:
        info = media.probe(path)
        budget = max(samples, DENSE_DECODE_BYTES // max(1, info.width * info.height * 3))
        dense_n = min(info.frame_count, budget)
        frames = list(media.sample_frames(path, max(dense_n, samples)))
    except (media.MediaError, ValueError, OSError) as exc:
        raise CoherenceError(f"scene {clip.index + 1}: cannot read clip {path}: {exc}") from exc
    if not frames:
        raise CoherenceError(f"scene {clip.index + 1}: clip {path} has no frames")
    note = None
    if dense_n < info.frame_count:
        stride = (info.frame_count - 1) / max(1, dense_n - 1)
        note = f"scene {clip.index + 1}: flicker measured every {stride:.1f} frames (large clip)"
    scene = SceneFrames(
        index=clip.index,
        frames=_evenly(frames, samples),
        continuous=clip.continuous,
        consecutive=frames,
    )
    return scene, note


def score_clips(clips: Sequence[SceneClip], *, samples_per_scene: int = 8) -> CoherenceReport:
    """Score rendered scene clips read with ``pipeline.media``.

    ``samples_per_scene`` evenly spaced frames (first and last included) feed style and
    continuity; stability uses every frame. Raises ``CoherenceError`` for zero clips and for a
    missing/unreadable clip, naming the scene.
    """
    if not clips:
        raise CoherenceError("no clips to score: a coherence report needs at least one clip")
    if samples_per_scene < 2:
        raise CoherenceError("samples_per_scene must be at least 2 (first and last frame)")
    read = [_read_scene(clip, samples_per_scene) for clip in sorted(clips, key=lambda c: c.index)]
    report = score_frames([scene for scene, _ in read])
    report.notes.extend(note for _, note in read if note)
    return report


# =================================================================================================
# Colour matching (Reinhard et al. 2001, in CIELAB)
# =================================================================================================


@dataclass(frozen=True)
class ColorStats:
    """Per-channel LAB mean and std of a set of frames."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# Cap on how much a channel's contrast may be stretched: a nearly flat channel (std ~ 0) would
# otherwise be amplified into noise.
MAX_STD_RATIO = 4.0


def lab_stats(frames: Sequence[np.ndarray]) -> ColorStats:
    if not frames:
        raise CoherenceError("cannot take colour statistics of zero frames")
    pixels = np.concatenate(
        [rgb2lab(img_as_float(np.asarray(f)[..., :3])).reshape(-1, 3) for f in frames]
    )
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    return ColorStats(mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std))


def color_match(
    frames: Sequence[np.ndarray],
    reference: ColorStats,
    *,
    source: ColorStats | None = None,
) -> list[np.ndarray]:
    """Move ``frames`` to ``reference``'s LAB mean/std; returns uint8 RGB frames.

    One transfer is computed for the whole clip (``source`` = stats of all its frames unless
    given), never per frame: per-frame statistics would change with the content and flicker.
    """
    if not frames:
        return []
    src = source or lab_stats(frames)
    src_mean, src_std = np.asarray(src.mean), np.asarray(src.std)
    ratio = np.clip(
        np.asarray(reference.std) / np.maximum(src_std, 1e-6), 1.0 / MAX_STD_RATIO, MAX_STD_RATIO
    )
    ref_mean = np.asarray(reference.mean)
    out = []
    for frame in frames:
        lab = rgb2lab(img_as_float(np.asarray(frame)[..., :3]))
        lab = (lab - src_mean) * ratio + ref_mean
        lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
        with warnings.catch_warnings():
            # Out-of-gamut LAB values are clipped to sRGB below; skimage warns about each one.
            warnings.simplefilter("ignore")
            rgb = lab2rgb(lab)
        out.append(np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8))
    return out


def color_match_clip(src: Path, reference: Path, dst: Path, *, reference_samples: int = 16) -> None:
    """Colour-match clip ``src`` to the statistics of clip ``reference``; write ``dst`` (same fps).

    Raises ``CoherenceError`` if either clip cannot be read or the result cannot be written.
    """
    media = _media()
    try:
        ref_frames = media.sample_frames(Path(reference), reference_samples)
        info = media.probe(Path(src))
        src_frames = _all_frames(Path(src), info.frame_count)
    except (media.MediaError, ValueError, OSError) as exc:
        raise CoherenceError(f"colour match {src} -> {reference}: cannot read clip: {exc}") from exc
    matched = color_match(src_frames, lab_stats(ref_frames))
    try:
        media.encode(matched, Path(dst), fps=round(info.fps))
    except (media.MediaError, ValueError, OSError) as exc:
        raise CoherenceError(f"colour match: cannot write {dst}: {exc}") from exc


def _all_frames(path: Path, frame_count: int) -> list[np.ndarray]:
    # sample_frames with n == frame_count returns every frame in order, decoded once.
    return list(_media().sample_frames(path, frame_count))


# =================================================================================================
# Presentation: PNG / SVG chart and a plain-text table
# =================================================================================================


def _as_report(report: dict[str, Any] | CoherenceReport) -> CoherenceReport:
    return report if isinstance(report, CoherenceReport) else CoherenceReport.from_dict(report)


def _figure(report: CoherenceReport) -> Figure:
    import matplotlib

    matplotlib.use("Agg")  # headless: called from workers and tests, never with a display
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    ax_style, ax_cont = fig.subplots(1, 2, width_ratios=[1.1, 1])
    cont = "n/a" if report.continuity is None else f"{report.continuity:.2f}"
    fig.suptitle(
        f"Coherence {report.score:.2f}  (style {report.style:.2f} · continuity {cont} · "
        f"stability {report.stability:.2f})",
        fontsize=11,
    )

    labels = [f"scene {s.index + 1}" for s in report.scenes]
    x = np.arange(len(report.scenes))
    to_first = [1.0 - s.style_to_first for s in report.scenes]
    to_prev = [0.0 if s.style_to_prev is None else 1.0 - s.style_to_prev for s in report.scenes]
    ax_style.bar(x - 0.2, to_first, 0.4, label="vs. first scene", color="#4c72b0")
    ax_style.bar(x + 0.2, to_prev, 0.4, label="vs. previous scene", color="#dd8452")
    ax_style.set_xticks(x, labels)
    ax_style.set_ylim(0, 1.25)  # headroom for the legend; ticks stop at the real maximum
    ax_style.set_yticks(np.linspace(0, 1, 6))
    ax_style.set_ylabel("style distance (0 = identical)")
    ax_style.set_title("Style drift per scene", fontsize=10)
    ax_style.legend(fontsize=8, loc="upper center", ncols=2)

    if report.boundaries:
        bx = np.arange(len(report.boundaries))
        colors = ["#55a868" if b.continuous else "#bbbbbb" for b in report.boundaries]
        hatches = ["" if b.continuous else "//" for b in report.boundaries]
        bars = ax_cont.bar(bx, [b.continuity for b in report.boundaries], 0.6, color=colors)
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
        ax_cont.bar_label(bars, fmt="%.2f", fontsize=8)
        ax_cont.set_xticks(
            bx,
            [f"{b.from_index + 1}→{b.to_index + 1}\n{b.kind}" for b in report.boundaries],
            fontsize=8,
        )
        ax_cont.legend(
            handles=[
                Patch(color="#55a868", label="continuous (scored)"),
                Patch(facecolor="#bbbbbb", hatch="//", label="cut (not scored)"),
            ],
            fontsize=8,
            loc="upper center",
            ncols=2,
        )
    else:
        ax_cont.text(0.5, 0.5, "one scene: no boundaries", ha="center", va="center")
        ax_cont.set_xticks([])
    ax_cont.set_ylim(0, 1.25)
    ax_cont.set_yticks(np.linspace(0, 1, 6))
    ax_cont.set_ylabel("continuity (1 = seamless)")
    ax_cont.set_title("Continuity per boundary", fontsize=10)
    return fig


def render_report_png(report: dict[str, Any] | CoherenceReport, path: Path) -> None:
    """Write the two-panel chart (style distance per scene, continuity per boundary) as PNG."""
    fig = _figure(_as_report(report))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(path), format="png")


def render_report_svg(report: dict[str, Any] | CoherenceReport) -> str:
    """The same chart as an inline ``<svg>`` string (no XML prolog) for HTML pages."""
    import matplotlib

    # Real <text> elements instead of glyph outlines: several times smaller and searchable.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": VERSION}):
        fig = _figure(_as_report(report))
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report_table(report: dict[str, Any] | CoherenceReport) -> str:
    """Plain-text table for a CLI: one row per scene, one per boundary, then the score."""
    r = _as_report(report)
    lines = [
        f"{'scene':>5}  {'style~first':>11}  {'style~prev':>10}  {'style~all':>9}  "
        f"{'stability':>9}  {'flicker':>7}",
    ]
    for s in r.scenes:
        lines.append(
            f"{s.index + 1:>5}  {_fmt(s.style_to_first):>11}  {_fmt(s.style_to_prev):>10}  "
            f"{_fmt(s.style_mean):>9}  {_fmt(s.stability):>9}  {s.flicker_mae:>7.2f}"
        )
    lines.append("")
    if r.boundaries:
        lines.append(
            f"{'boundary':>8}  {'kind':<10}  {'ssim':>6}  {'dE2000':>6}  {'continuity':>10}  "
            f"{'style':>6}"
        )
        for b in r.boundaries:
            scored = "" if b.continuous else "  (cut: not scored)"
            lines.append(
                f"{f'{b.from_index + 1}->{b.to_index + 1}':>8}  {b.kind:<10}  {b.ssim:>6.3f}  "
                f"{b.color_distance:>6.2f}  {b.continuity:>10.3f}  "
                f"{b.style_similarity:>6.3f}{scored}"
            )
    else:
        lines.append("no boundaries")
    lines.append("")
    lines.append(
        f"score {r.score:.3f} = style {r.style:.3f} · continuity {_fmt(r.continuity)} · "
        f"stability {r.stability:.3f}   [{r.version}]"
    )
    lines.extend(f"note: {n}" for n in r.notes)
    return "\n".join(lines)
