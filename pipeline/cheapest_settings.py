"""The cheapest settings: the cheapest way a model can render a plan (lowest resolution, shortest
allowed duration), so a plan can be looked at before it is paid for at full quality.

Plain data in, plain data out: the create service (``generations.services.create``) stores
what this says.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.localmodel import MIN_SIZE
from pipeline.providers.registry import ModelSpec


def shortest_duration(spec: ModelSpec, *, min_seconds: float, fps: int) -> float:
    """The shortest clip the model renders (what it bills least for)."""
    if spec.allowed_durations:
        return float(min(spec.allowed_durations))
    if spec.frames_input and spec.frames_range:
        rate = spec.fps_value or fps
        return (spec.frames_range[0] - 1) / rate
    if spec.fixed_duration is not None:
        return spec.fixed_duration
    return min_seconds


def preview_durations(
    spec: ModelSpec, durations: Sequence[float], *, min_seconds: float, fps: int
) -> list[float]:
    """Each scene at the model's shortest duration, never longer than the plan asked."""
    shortest = shortest_duration(spec, min_seconds=min_seconds, fps=fps)
    return [min(seconds, shortest) for seconds in durations]


def _lowest_label_height(spec: ModelSpec) -> int | None:
    heights = [
        height
        for label in spec.allowed_resolutions or ()
        if (height := spec.resolution_height(label)) is not None
    ]
    return min(heights) if heights else None


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def preview_size(spec: ModelSpec, width: int, height: int, *, scale: float) -> tuple[int, int]:
    """The house format scaled down by ``scale`` (and to the model's lowest resolution label,
    so a hosted model is asked for its cheapest size), keeping the aspect ratio. The short side
    never drops below the local model's smallest frame (64 px): a preview must stay watchable."""
    short = min(width, height)
    target = short * scale
    lowest = _lowest_label_height(spec)
    if lowest is not None:
        target = min(target, lowest)
    target = min(short, max(target, MIN_SIZE))
    factor = target / short
    return _even(width * factor), _even(height * factor)
