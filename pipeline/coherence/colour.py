"""Colour transfer between clips (Reinhard et al. 2001, in CIELAB).

Used by the finish step when a generation asks for ``color_match``: every scene is moved to the
colour statistics of scene 1 before stitching. Pure numpy / scikit-image; clips through
``pipeline.media``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.color import lab2rgb, rgb2lab
from skimage.util import img_as_float

from pipeline import media
from pipeline.coherence.frames import CoherenceError


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
    return list(media.sample_frames(path, frame_count))
