"""Frames for analysis: what the score reads from a clip, at which resolution, and its errors.

Every frame of a clip is decoded once, shrunk in swscale to a long side of ``ANALYSIS_SIZE`` and
kept twice: a few evenly spaced samples in full analysis size (style), and every frame as a small
``MOTION_SIZE`` float image (motion, cuts, flicker). Working at fixed small sizes makes every
measure independent of the render resolution and averages codec noise away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from pipeline import media

# Style statistics are taken at a long side of 160 px: colour and texture statistics no longer
# depend on the render size, and scoring a whole video stays well under a second per scene.
ANALYSIS_SIZE = 160
# Motion, cuts and flicker are measured at a long side of 64 px: large enough that phase
# correlation locks onto real structure (a 16-px pan step is 25 % of the frame), small enough
# that every frame pair costs ~0.2 ms and H.264 noise (even at CRF 40) averages out.
MOTION_SIZE = 64
# Scale of the luma values below (Rec. 601 weights, 0-255).
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


T = TypeVar("T")


class CoherenceError(Exception):
    """Scoring could not run (no clips, unreadable clip, bad frames). Names the scene if known."""


@dataclass(frozen=True)
class ClipFrames:
    """What the score needs of one clip.

    ``samples`` are evenly spaced RGB frames (uint8, long side <= ANALYSIS_SIZE), first and last
    included; ``small`` is every frame in order as float32 RGB (T x h x w x 3, 0-255, long side
    MOTION_SIZE); ``fps`` turns frame numbers into seconds.
    """

    samples: list[np.ndarray]
    small: np.ndarray
    fps: float

    @property
    def luma(self) -> np.ndarray:
        return self.small @ LUMA


def as_rgb8(frame: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB from uint8 or float [0, 1] RGB(A); raises CoherenceError otherwise."""
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or min(arr.shape[:2]) < 2:
        raise CoherenceError(f"expected an HxWx3 RGB frame, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        return np.round(np.clip(arr[..., :3], 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)


def shrink(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Box-filtered (area average) copy with the long side at most ``long_side``; uint8 RGB."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    return np.asarray(Image.fromarray(rgb, mode="RGB").resize(size, Image.Resampling.BOX))


def small_stack(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Every frame at MOTION_SIZE as one float32 array; frames of another size are resized to
    the first frame's (a clip has one size; this only guards hand-made frame lists)."""
    first = shrink(frames[0], MOTION_SIZE)
    size = (first.shape[1], first.shape[0])
    out = np.empty((len(frames), *first.shape), dtype=np.float32)
    for i, frame in enumerate(frames):
        small = shrink(frame, MOTION_SIZE)
        if small.shape != first.shape:
            small = np.asarray(Image.fromarray(small, mode="RGB").resize(size))
        out[i] = small
    return out


def evenly(items: Sequence[T], n: int) -> list[T]:
    """``n`` evenly spaced items, first and last included (the rule of media.sample_frames)."""
    if n >= len(items):
        return list(items)
    if n == 1:
        return [items[(len(items) - 1) // 2]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def clip_from_frames(frames: Sequence[np.ndarray], fps: float, samples: int = 8) -> ClipFrames:
    """A ClipFrames from in-memory frames (uint8 or float RGB)."""
    if not frames:
        raise CoherenceError("no frames to score")
    rgb = [shrink(as_rgb8(f), ANALYSIS_SIZE) for f in frames]
    return ClipFrames(samples=evenly(rgb, samples), small=small_stack(rgb), fps=float(fps))


def read_clip(path: Path, samples: int = 8) -> ClipFrames:
    """Decode every frame of a clip once (at analysis size) into a ClipFrames.

    Frames stream through: only the style samples are kept at analysis size, every frame at
    MOTION_SIZE (27 kB a frame, so a minute at 60 fps is under 100 MB). Raises CoherenceError for
    a missing, empty or undecodable file.
    """
    path = Path(path)
    if not path.is_file():
        raise CoherenceError(f"clip not found: {path}")
    try:
        info = media.probe(path)
        wanted = set(evenly(range(info.frame_count), samples))
        kept: list[np.ndarray] = []
        small: list[np.ndarray] = []
        for index, frame in enumerate(media.iter_frames_rgb(path, max_side=ANALYSIS_SIZE)):
            if index in wanted:
                kept.append(frame)
            small.append(shrink(frame, MOTION_SIZE))
    except (media.MediaError, ValueError, OSError) as exc:
        raise CoherenceError(f"cannot read clip {path}: {exc}") from exc
    if not small:
        raise CoherenceError(f"clip {path} has no frames")
    return ClipFrames(samples=kept or [small[0]], small=small_stack(small), fps=info.fps)
