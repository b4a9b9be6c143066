"""What a plan will cost before it runs, from the model registry's prices.

Self-contained on purpose: with a flat price it reads only ``ModelSpec.price_per_second`` and
``ModelSpec.rendered_seconds`` (the rule ``_store_outputs`` bills a finished scene by). A registry
that prices by resolution (``ModelSpec.estimate_scene_cost(seconds, width=, height=, fps=)``) is
used when present, so a preview's lower resolution is priced as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from pipeline.providers.registry import ModelSpec

CENT = Decimal("0.0001")


def scene_cost(
    spec: ModelSpec, seconds: float, *, width: int, height: int, fps: int
) -> Decimal | None:
    """One scene's cost: the model's price at the size asked for, times what it will actually
    render (snapped to the durations it allows)."""
    by_resolution = getattr(spec, "estimate_scene_cost", None)
    if by_resolution is not None:
        return by_resolution(seconds, width=width, height=height, fps=fps)
    if spec.price_per_second is None:
        return None
    rendered = Decimal(str(spec.rendered_seconds(seconds, fps)))
    return (Decimal(str(spec.price_per_second)) * rendered).quantize(CENT, ROUND_HALF_UP)


def plan_cost(
    spec: ModelSpec, durations: Iterable[float], *, width: int, height: int, fps: int
) -> Decimal | None:
    """The sum over the scenes that will render; None when the model's price is unknown."""
    total = Decimal(0)
    for seconds in durations:
        cost = scene_cost(spec, seconds, width=width, height=height, fps=fps)
        if cost is None:
            return None
        total += cost
    return total.quantize(CENT)
