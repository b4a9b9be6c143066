"""Finalize a preview: the same plan and seed at full quality. A preview is made by
``create_generation(quality="preview")`` (the model's cheapest settings,
``pipeline.cheapest_settings``); any preview scene that is exactly what full quality would render
is reused, not paid again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from coherence_project.conf import config
from generations.iterate.reuse import derive_generation, reuse_matching, settle_estimate
from generations.lifecycle.engine import get_model
from generations.lifecycle.queue import enqueue_start_generation
from generations.models import Generation
from generations.services.reproduce import plan_of
from pipeline.planning import estimate_cost


def check_finalizable(preview: Generation) -> None:
    if preview.quality != Generation.Quality.PREVIEW:
        raise ValidationError(
            {
                "quality": f"Generation {preview.pk} is full quality already; only a preview can "
                "be finalized."
            }
        )
    if preview.awaits_seed:
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


def finalized_generation(preview: Generation) -> Generation | None:
    """The full-quality generation a preview was finalized as, or None."""
    return Generation.objects.filter(finalized_from=preview).first()


def finalize_preview(
    *,
    preview: Generation,
    owner: Any = None,
    title: str | None = None,
    enqueue: bool = True,
    actor: Any = None,
) -> tuple[Generation, bool]:
    """A full-quality generation of the preview's plan with the preview's seed and settings,
    made once per preview: ``(generation, True)`` the first time, then ``(that generation,
    False)``, which starts nothing (a finalized generation that is deleted frees its preview).

    Race-safe: the new generation is tied to its preview (``finalized_from``, a unique column)
    before anything is copied or queued, so when two finalizes race the database lets one commit
    and rolls the other back whole; the loser answers with the winner's generation.
    """
    check_finalizable(preview)
    existing = finalized_generation(preview)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            generation = derive_generation(
                preview,
                scenes=plan_of(preview),
                quality=Generation.Quality.FULL,
                owner=owner,
                title=title,
                actor=actor,
            )
            Generation.objects.filter(pk=generation.pk).update(finalized_from=preview)
            reuse_matching(source=preview, target=generation)
            settle_estimate(generation)
            if enqueue:
                transaction.on_commit(lambda: enqueue_start_generation(generation.pk))
    except (IntegrityError, ValidationError):
        # A finalize of this preview committed meanwhile: the unique column refused ours, or the
        # winner's generation took the owner's last active place. Either way it is the answer.
        winner = finalized_generation(preview)
        if winner is None:
            raise
        return winner, False
    generation.refresh_from_db(fields=["finalized_from"])
    return generation, True
