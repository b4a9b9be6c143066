"""Estimated cost before anything runs: of a stored generation (its scenes still to render; a
reused scene costs nothing), and of a create request at full quality, as a preview, and with
seed variations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from coherence_project.conf import config
from generations.iterate.variations import FIRST_SCENE, PLAN, variation_errors
from generations.models import Generation
from generations.services import preview_plan, resolve_model, validate_plan
from pipeline import estimate
from pipeline.providers.registry import get_model

CURRENCY = "USD"


def generation_estimate(generation: Generation) -> Decimal | None:
    """What rendering this generation costs: its scenes that are (or were) rendered, not the
    ones copied from another generation. None when the model's price is unknown."""
    spec = get_model(generation.model)
    rendered = [
        scene.duration
        for scene in generation.scenes.all()
        if (scene.recipe or {}).get("rendered", True)
    ]
    return estimate.plan_cost(
        spec, rendered, width=generation.width, height=generation.height, fps=generation.fps
    )


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
    full_cost = estimate.plan_cost(spec, durations, **full)
    preview_cost = estimate.plan_cost(spec, [s["duration"] for s in preview], **small)
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
            else estimate.plan_cost(spec, durations[:1], **full)
        )
        result["variations"] = None if each is None else each * variations
    return result
