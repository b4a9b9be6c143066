"""A labelled set of real footage for the coherence score, made from photographs that packages ship.

Every clip is a virtual camera moving over a real photograph (scikit-image's sample images and
matplotlib's Grace Hopper portrait, all inside the installed wheels: no network), so motion,
texture and colour are those of real pictures, and the ground truth is known by construction:

* **pan** - one camera move (pan in any direction, optionally zooming) split into two scenes:
  the boundary is *continuous*;
* **cut_same** - scene 2 shows another place / framing of the same photograph: a *cut*;
* **cut_other** - scene 2 shows another photograph: a *cut*;
* **internal** - one scene whose camera jumps (to another photo or another place) mid-clip:
  an *internal cut* at a known time;
* **flicker** - a pan whose brightness is multiplied by 1 +/- 0.1 frame to frame;
* **fast** - pans moving 6-18 % of the frame width per frame.

Clips are small (about 96-192 px wide, 8-24 fps, 0.5-2 s) and encoded with
``pipeline.media.encode``. ``make_case`` is deterministic in its seed; different seeds give
different photos, speeds, directions, zooms, cut positions, sizes and frame rates.
For the calibration benches and the tests; product code never imports this module.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import media


def _grey_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        image = getattr(data, name)()
        if name == "stereo_motorcycle":
            image = image[0]
        return _grey_to_rgb(np.asarray(image))

    return load


def _hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


# Photographs that load offline (checked: the other skimage.data images need a download).
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "rocket": _skimage("rocket"),
    "hubble": _skimage("hubble_deep_field"),
    "ihc": _skimage("immunohistochemistry"),
    "retina": _skimage("retina"),
    "motorcycle": _skimage("stereo_motorcycle"),
    "camera": _skimage("camera"),
    "coins": _skimage("coins"),
    "clock": _skimage("clock"),
    "brick": _skimage("brick"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
    "moon": _skimage("moon"),
    "hopper": _hopper,
}


@functools.cache
def photo(name: str) -> np.ndarray:
    return np.ascontiguousarray(PHOTOS[name](), dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# A virtual camera
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """A camera move over one photo: view centre (fraction of the photo), view width (fraction of
    the photo width) and their change per frame."""

    photo: str
    cx: float
    cy: float
    width: float
    vx: float = 0.0  # view-widths per frame
    vy: float = 0.0
    zoom: float = 1.0  # view width multiplier per frame (< 1 zooms in)

    def at(self, k: int) -> Move:
        w = self.width * self.zoom**k
        # Velocity is in view widths, so a zooming pan keeps its apparent speed.
        cx = self.cx + sum(self.vx * self.width * self.zoom**j for j in range(k))
        cy = self.cy + sum(self.vy * self.width * self.zoom**j for j in range(k))
        return Move(self.photo, cx, cy, w, self.vx, self.vy, self.zoom)


def render_view(view: Move, size: tuple[int, int]) -> np.ndarray:
    """The view as a size=(w, h) uint8 RGB frame; the view is clamped inside the photo."""
    image = photo(view.photo)
    ph, pw = image.shape[:2]
    out_w, out_h = size
    vw = min(view.width * pw, pw, ph * out_w / out_h)
    vh = vw * out_h / out_w
    left = min(max(view.cx * pw - vw / 2, 0.0), pw - vw)
    top = min(max(view.cy * ph - vh / 2, 0.0), ph - vh)
    box = (left, top, left + vw, top + vh)
    pil = Image.fromarray(image)
    return np.asarray(pil.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0))


def render_move(move: Move, frames: int, size: tuple[int, int], start: int = 0) -> list[np.ndarray]:
    return [render_view(move.at(k), size) for k in range(start, start + frames)]


def travel_fits(move: Move, frames: int, size: tuple[int, int]) -> bool:
    """Whether the camera stays inside the photo (a clamped view would stop moving)."""
    image = photo(move.photo)
    ph, pw = image.shape[:2]
    aspect = size[0] / size[1]
    for k in (0, frames - 1):
        v = move.at(k)
        vw = v.width * pw
        vh = vw / aspect
        if vw > pw or vh > ph:
            return False
        if not (vw / 2 <= v.cx * pw <= pw - vw / 2 and vh / 2 <= v.cy * ph <= ph - vh / 2):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Labelled cases
# --------------------------------------------------------------------------------------------

SIZES = ((160, 90), (128, 72), (192, 108), (128, 96), (144, 96), (96, 64))
FPS_CHOICES = (12, 12, 24, 8, 15, 10)


@dataclass
class Case:
    kind: str  # pan | fast | zoom | cut_same | cut_other | internal | flicker
    scenes: list[list[np.ndarray]]
    fps: int
    continuous: bool | None = None  # ground truth of the boundary between scene 1 and 2
    internal_cuts: list[float] = field(default_factory=list)  # seconds, per scene 1
    description: str = ""

    def encode(self, out: Path, stem: str) -> list[Path]:
        return [
            media.encode(frames, out / f"{stem}-{i}.mp4", fps=self.fps, threads=1).path
            for i, frames in enumerate(self.scenes)
        ]


def _random_move(
    rng: random.Random,
    name: str,
    size: tuple[int, int],
    frames: int,
    speed: float,
    zoom: float = 1.0,
) -> Move:
    """A move with the given speed (view widths per frame) in a random direction that fits."""
    # Fast moves and zoom-outs need a narrow view to stay inside the photo for the whole clip.
    widest = (0.3 if speed >= 0.05 else 0.7) / max(1.0, zoom ** (frames - 1))
    for _ in range(400):
        angle = rng.uniform(0, 2 * math.pi)
        width = rng.uniform(min(0.12, widest), widest)
        move = Move(
            name,
            rng.uniform(0.15, 0.85),
            rng.uniform(0.15, 0.85),
            width,
            speed * math.cos(angle),
            speed * math.sin(angle),
            zoom,
        )
        if travel_fits(move, frames, size):
            return move
    raise RuntimeError(f"no move of speed {speed} fits {name}")


def _setup(rng: random.Random, short: bool = False) -> tuple[tuple[int, int], int, int, int]:
    """Frame size, fps and the two scenes' frame counts (0.5-1.5 s; ``short``: 0.4-0.8 s and at
    most 12 frames, so that fast moves stay inside the photo)."""
    size = rng.choice(SIZES)
    fps = rng.choice(FPS_CHOICES)
    span, cap = ((0.4, 0.8), 12) if short else ((0.5, 1.5), 10**6)
    n_a = max(4, min(cap, round(fps * rng.uniform(*span))))
    n_b = max(4, min(cap, round(fps * rng.uniform(*span))))
    return size, fps, n_a, n_b


def _speed(rng: random.Random, kind: str) -> float:
    if kind == "fast":
        return rng.uniform(0.06, 0.18)
    return rng.choice((0.0, rng.uniform(0.002, 0.02), rng.uniform(0.01, 0.05)))


def _zoom(rng: random.Random, kind: str, frames: int) -> float:
    """Per-frame zoom: over the clip the view narrows to 0.4-0.8x or widens 1.25-2.5x."""
    if kind != "zoom":
        return 1.0
    total = rng.choice((rng.uniform(0.4, 0.8), rng.uniform(1.25, 2.5)))
    # At most 8 %/frame: faster zooms in a short clip look like cuts to people too.
    return min(1.08, max(1 / 1.08, total ** (1.0 / max(1, frames - 1))))


def continuous_case(rng: random.Random, kind: str = "pan") -> Case:
    """One camera move split into two scenes at a random frame."""
    size, fps, n_a, n_b = _setup(rng, short=kind == "fast")
    name = rng.choice(list(PHOTOS))
    move = _random_move(rng, name, size, n_a + n_b, _speed(rng, kind), _zoom(rng, kind, n_a + n_b))
    frames = render_move(move, n_a + n_b, size)
    if kind == "flicker":
        frames = flicker(frames, rng)
    desc = f"{kind} {name} v=({move.vx:+.3f},{move.vy:+.3f}) zoom={move.zoom:.3f} {size} {fps}fps"
    return Case(kind, [frames[:n_a], frames[n_a:]], fps, continuous=True, description=desc)


def cut_case(rng: random.Random, same_photo: bool) -> Case:
    """Two independent camera moves: over the same photo (elsewhere) or over another photo."""
    size, fps, n_a, n_b = _setup(rng, short=True)
    names = list(PHOTOS)
    first = rng.choice(names)
    second = first if same_photo else rng.choice([n for n in names if n != first])
    kind_a, kind_b = rng.choice(("pan", "fast", "zoom")), rng.choice(("pan", "zoom"))
    a = _random_move(rng, first, size, n_a, _speed(rng, kind_a), _zoom(rng, kind_a, n_a))
    b = _random_move(rng, second, size, n_b, _speed(rng, kind_b), _zoom(rng, kind_b, n_b))
    if same_photo and _too_close(a.at(n_a - 1), b):
        return cut_case(rng, same_photo)
    scenes = [render_move(a, n_a, size), render_move(b, n_b, size)]
    if _plain(scenes[0][-1]) or _plain(scenes[1][0]):
        return cut_case(rng, same_photo)
    kind = "cut_same" if same_photo else "cut_other"
    return Case(
        kind, scenes, fps, continuous=False, description=f"{kind} {first}->{second} {size} {fps}fps"
    )


def _plain(frame: np.ndarray) -> bool:
    """A view of plain sky or background: a cut from or to it cannot be seen, only guessed, so
    the labelled set does not ask for it (luma std < 12 of 255)."""
    return float((frame.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])).std()) < 12.0


def _too_close(end: Move, start: Move) -> bool:
    """A "cut" to nearly the same view is no cut: demand a jump of a third of the view or a
    framing change of 1.4x (what an editor would call a cut, not a nudge)."""
    jump = math.hypot(end.cx - start.cx, end.cy - start.cy) / max(end.width, start.width)
    ratio = max(end.width, start.width) / min(end.width, start.width)
    return jump < 0.33 and ratio < 1.4


def internal_cut_case(rng: random.Random) -> Case:
    """One scene with a cut at a random frame (at least two frames from either end)."""
    size, fps, _, _ = _setup(rng)
    n = max(8, round(fps * rng.uniform(1.0, 2.0)))
    at = rng.randint(2, n - 2)
    names = list(PHOTOS)
    first = rng.choice(names)
    second = first if rng.random() < 0.5 else rng.choice([x for x in names if x != first])
    a = _random_move(rng, first, size, at, _speed(rng, "pan"))
    b = _random_move(rng, second, size, n - at, _speed(rng, rng.choice(("pan", "fast"))))
    if first == second and _too_close(a.at(at - 1), b):
        return internal_cut_case(rng)
    frames = render_move(a, at, size) + render_move(b, n - at, size)
    if _plain(frames[at - 1]) or _plain(frames[at]):
        return internal_cut_case(rng)
    return Case(
        "internal",
        [frames],
        fps,
        internal_cuts=[at / fps],
        description=f"internal {first}->{second} at frame {at}/{n} {size} {fps}fps",
    )


def flicker(frames: list[np.ndarray], rng: random.Random, amount: float = 0.1) -> list[np.ndarray]:
    """Brightness x (1 +/- amount), the sign drawn per frame (a ±10 % flicker)."""
    out = []
    for frame in frames:
        gain = 1.0 + amount * rng.choice((-1.0, 1.0))
        out.append(np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return out


def labelled_boundaries(seed: int, per_kind: int) -> list[Case]:
    """``per_kind`` boundaries of each kind: continuous (slow pan, fast pan, zoom) and cuts
    (same photo, other photo), all drawn from ``seed``."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for _ in range(per_kind):
        cases.append(continuous_case(rng, "pan"))
        cases.append(continuous_case(rng, "fast"))
        cases.append(continuous_case(rng, "zoom"))
        cases.append(cut_case(rng, same_photo=True))
        cases.append(cut_case(rng, same_photo=False))
    return cases
