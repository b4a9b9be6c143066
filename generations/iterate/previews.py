"""Finalize a preview: the same plan and seed at full quality. A preview is made by
``create_generation(quality="preview")`` (the model's cheapest settings, ``pipeline.previews``);
any preview scene that is exactly what full quality would render is reused, not paid again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from coherence_project.conf import config
from generations.iterate.reuse import derive_generation, reuse_matching, settle_estimate
from generations.models import Generation
from generations.queue import enqueue_start_generation
from generations.services import plan_of
from pipeline.planning import estimate_cost
from pipeline.providers.registry import get_model


def check_finalizable(preview: Generation) -> None:
    if preview.quality != Generation.Quality.PREVIEW:
        raise ValidationError(
            {
                "quality": f"Generation {preview.pk} is full quality already; only a preview can "
                "be finalized."
            }
        )
    if preview.seed_control and preview.seed_value is None:
        raise ValidationError(
            {"seed": "The preview has no seed yet (it has not started); finalize it once it has."}
        )


def finalize_estimate(preview: Generation) -> Decimal | None:
    """What the full-quality render of the preview's plan costs."""
    durations = [scene["duration"] for scene in plan_of(preview)]
    return estimate_cost(
        get_model(preview.model),
        durations,
        width=config.VIDEO_WIDTH,
        height=config.VIDEO_HEIGHT,
        fps=config.VIDEO_FPS,
    ).total


def finalize_preview(
    *,
    preview: Generation,
    owner: Any = None,
    title: str | None = None,
    enqueue: bool = True,
    actor: Any = None,
) -> Generation:
    """A full-quality generation of the preview's plan with the preview's seed and settings."""
    check_finalizable(preview)
    with transaction.atomic():
        generation = derive_generation(
            preview,
            scenes=plan_of(preview),
            quality=Generation.Quality.FULL,
            owner=owner,
            title=title,
            actor=actor,
        )
        reuse_matching(source=preview, target=generation)
        settle_estimate(generation)
        if enqueue:
            transaction.on_commit(lambda: enqueue_start_generation(generation.pk))
    return generation
