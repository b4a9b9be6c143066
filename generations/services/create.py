"""Creating a generation: review its request (``services.plans``), store the Generation and its
Scenes in one transaction, and queue its start once that commits. Views, serializers, admin,
commands and ``generations.iterate`` all create through ``create_generation``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from coherence_project.conf import config
from generations.lifecycle.engine import get_model
from generations.lifecycle.queue import enqueue_start_generation
from generations.models import Generation, Scene
from generations.services import hosted_models as hosted
from generations.services import limits as caps
from generations.services.plans import PlanReview, preview_plan, review_plan, validate_quality
from generations.services.request import GenerationRequest
from generations.webhooks_out import events as webhook_events
from pipeline import planning


def create_generation(
    request: GenerationRequest,
    *,
    owner: Any = None,
    actor: Any = None,
    enqueue: bool = True,
) -> Generation:
    """Validate and store a Generation with its Scenes, then enqueue its start after commit.

    ``request.webhook`` (an https URL) hears the generation's events
    (``webhook_events_filter``, default all: started, scene_completed, completed), signed with
    the owner's secret (generations.webhooks_out).

    ``quality="preview"`` stores the plan at the model's cheapest settings (``preview_plan``).

    All validation (``review_plan``) happens before the first write, and the writes are atomic:
    a bad plan leaves the database unchanged and no prediction is ever created for it.
    ``model_version`` is a record only (what a source generation's predictions reported); it is
    never sent to a provider. ``actor`` is who asks (default: the owner); it needs the
    hosted-models permission for any provider but the local model. The owner's active cap is
    checked last, inside the insert's transaction (see ``caps.check_active_limit``). Seed
    variations (``request.variations``) are ``create_with_variations``'s.
    """
    if request.variations is not None:
        raise ValidationError({"variations": "Seed variations are made by create_with_variations."})
    quality = validate_quality(request.quality)
    subscription = webhook_events.subscription(
        owner=owner, webhook=request.webhook, events_filter=request.webhook_events_filter
    )
    review = review_plan(request)
    shape = _at_quality(review, quality)
    caps.check_provider_allowed(
        actor=actor if actor is not None else owner, provider=review.provider
    )
    with transaction.atomic():
        caps.check_active_limit(owner=owner)
        generation = _store_generation(
            review,
            shape,
            owner=owner,
            title=request.title,
            model_version=request.model_version,
            source_generation=request.source_generation,
            quality=quality,
            subscription=subscription,
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_start_generation(generation.pk))
    return generation


def _store_generation(
    review: PlanReview,
    shape: PlanAtQuality,
    *,
    owner: Any,
    title: str,
    model_version: str,
    source_generation: Generation | None,
    quality: str,
    subscription: tuple[str, list[str]] = ("", []),
) -> Generation:
    """Write the reviewed plan: the Generation, its Scenes and their start images (call it in
    the caller's transaction, after every check)."""
    generation = Generation(
        owner=owner,
        title=title,
        render_settings=review.settings,
        seed=review.seed,
        provider=review.provider,
        model=review.model,
        model_version=model_version or "",
        width=shape.width,
        height=shape.height,
        fps=config.VIDEO_FPS,
        source_generation=source_generation,
        quality=quality,
        estimated_cost=shape.estimated_cost,
        warnings=list(review.hosted.warnings),
        webhook=subscription[0],
        webhook_events_filter=subscription[1],
    )
    rows = [
        Scene(generation=generation, index=index, **scene) for index, scene in enumerate(shape.plan)
    ]
    hosted.store_images(generation, rows, review.scene_images, review.reference_image)
    generation.save(force_insert=True)
    Scene.objects.bulk_create(rows)
    return generation


@dataclass(frozen=True)
class PlanAtQuality:
    """The plan as it will be stored: at full quality, or shortened and smaller as a preview."""

    plan: list[dict[str, Any]]
    width: int
    height: int
    estimated_cost: Any


def _at_quality(review: PlanReview, quality: str) -> PlanAtQuality:
    width, height = config.VIDEO_WIDTH, config.VIDEO_HEIGHT
    if quality != Generation.Quality.PREVIEW:
        return PlanAtQuality(review.plan, width, height, review.hosted.estimate.total)
    spec = get_model(review.model)
    plan, (width, height) = preview_plan(spec, review.plan, width=width, height=height)
    estimate = planning.estimate_cost(
        spec, [s["duration"] for s in plan], width=width, height=height, fps=config.VIDEO_FPS
    )
    return PlanAtQuality(plan, width, height, estimate.total)
