"""Did a replay reproduce its source? Two videos compared by bytes, exact frames and SSIM.

Plain paths in, a ``ClipComparison`` out: the lifecycle decides which files to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import media

IDENTICAL = "identical"
SIMILAR = "similar"
DIFFERENT = "different"
NOT_COMPARED = "not compared"
# Two clips are "similar" when every sampled frame pair has an SSIM of at least this. Codec noise
# alone (re-encoding the same frames) stays above it (~0.97 even at 128x72); another seed's palette
# and texture fall far below it (~0.45). docs/staff.md explains the verdicts.
SIMILAR_MIN_SSIM = 0.95
COMPARE_SAMPLES = 8


@dataclass(frozen=True)
class ClipComparison:
    label: str
    verdict: str
    bytes_equal: bool = False
    frames_equal: bool = False
    min_ssim: float | None = None
    mean_ssim: float | None = None
    note: str = ""


def compare_videos(
    original: Path, regenerated: Path, *, label: str, samples: int = COMPARE_SAMPLES
) -> ClipComparison:
    """Compare two videos: byte equality, exact equality of sampled frames, and their SSIM."""
    try:
        if media.sha256_file(original) == media.sha256_file(regenerated):
            return ClipComparison(label, IDENTICAL, True, True, 1.0, 1.0)
        info_a, info_b = media.probe(original), media.probe(regenerated)
        if (info_a.width, info_a.height) != (info_b.width, info_b.height):
            return ClipComparison(
                label,
                DIFFERENT,
                note=f"sizes differ: {info_a.width}x{info_a.height} vs "
                f"{info_b.width}x{info_b.height}",
            )
        frames_a = media.sample_frames(original, samples)
        frames_b = media.sample_frames(regenerated, samples)
    except media.MediaError as exc:
        return ClipComparison(label, NOT_COMPARED, note=str(exc))
    same_length = info_a.frame_count == info_b.frame_count
    frames_equal = same_length and all(
        np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True)
    )
    scores = [media.ssim(a, b) for a, b in zip(frames_a, frames_b, strict=True)]
    low, mean = min(scores), sum(scores) / len(scores)
    if frames_equal:
        verdict = IDENTICAL
    elif low >= SIMILAR_MIN_SSIM:
        verdict = SIMILAR
    else:
        verdict = DIFFERENT
    note = (
        "" if same_length else f"frame counts differ: {info_a.frame_count} vs {info_b.frame_count}"
    )
    return ClipComparison(label, verdict, False, frames_equal, low, mean, note)
