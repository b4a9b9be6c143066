"""Estimated cost of a create request before anything runs: at full quality, as a preview, and
with seed variations. (A stored generation's estimate is ``Generation.estimated_cost``; after
reuse it counts only the scenes to render, ``reuse.settle_estimate``.)"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from coherence_project.conf import config
from generations.iterate.variations import FIRST_SCENE, PLAN, variation_errors
from generations.lifecycle.engine import get_model
from generations.services.plans import preview_plan, resolve_model, validate_plan
from pipeline.planning import estimate_cost

CURRENCY = "USD"


def request_estimate(
    *,
    scenes: Any,
    provider: str | None = None,
    model: str | None = None,
    variations: int | None = None,
    variations_scope: str = FIRST_SCENE,
    **_create_fields: Any,
) -> dict[str, Any]:
    """The cost of a create request's plan at full quality and as a preview, and of its
    variations if it asks for some. Takes the create body as is (title, seed... are free)."""
    plan = validate_plan(scenes)
    provider, model = resolve_model(provider=provider, model=model)
    if variations is not None and (errors := variation_errors(variations, variations_scope)):
        raise ValidationError(errors)
    spec = get_model(model)
    full = {"width": config.VIDEO_WIDTH, "height": config.VIDEO_HEIGHT, "fps": config.VIDEO_FPS}
    durations = [scene["duration"] for scene in plan]
    preview, (width, height) = preview_plan(spec, plan, width=full["width"], height=full["height"])
    small = {"width": width, "height": height, "fps": config.VIDEO_FPS}
    full_cost = estimate_cost(spec, durations, **full).total
    preview_cost = estimate_cost(spec, [s["duration"] for s in preview], **small).total
    result: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "currency": CURRENCY,
        "full": full_cost,
        "preview": preview_cost,
        "variations": None,
        "price_note": spec.price_note,
    }
    if variations is not None:
        each = (
            preview_cost
            if variations_scope == PLAN
            else estimate_cost(spec, durations[:1], **full).total
        )
        result["variations"] = None if each is None else each * variations
    return result
