"""Ending a generation early: a scene that failed for good fails its generation; a generation
stopped on request is canceled. Either way its open scenes stop and in-flight predictions are
canceled at the provider (best effort); finished scenes and their files are kept."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from generations.lifecycle.engine import get_provider
from generations.lifecycle.outcome import Outcome
from generations.models import Generation, Scene
from generations.webhooks_out.events import Event, record_event
from pipeline.providers.base import ProviderError

logger = logging.getLogger("coherence.pipeline")


def fail_scene(*, scene_id: int, message: str) -> Outcome:
    """A scene failed for good: record why, and fail its generation (finished scenes are kept)."""
    scene = Scene.objects.get(pk=scene_id)
    if scene.status == Scene.Status.SUCCEEDED:
        # A concurrent completer stored it first (and removed the scratch this one was reading).
        return Outcome()
    Scene.objects.filter(pk=scene_id).exclude(status__in=Scene.TERMINAL).update(
        status=Scene.Status.FAILED, error=message, finished_at=timezone.now()
    )
    logger.warning("scene %s of %s failed: %s", scene.number, scene.generation_id, message)
    fail_generation(
        generation_id=scene.generation_id, message=f"Scene {scene.number} failed: {message}"
    )
    return Outcome()


def _stop_open_scenes(generation_id: uuid.UUID, *, reason: str) -> None:
    provider_name = Generation.objects.values_list("provider", flat=True).get(pk=generation_id)
    open_scenes = Scene.objects.filter(generation_id=generation_id).exclude(
        status__in=Scene.TERMINAL
    )
    in_flight = list(
        open_scenes.filter(status=Scene.Status.RUNNING).values_list("prediction_id", flat=True)
    )
    open_scenes.update(status=Scene.Status.CANCELED, error=reason, finished_at=timezone.now())
    provider = get_provider(provider_name)
    for prediction_id in in_flight:
        try:
            provider.cancel(prediction_id)
        except ProviderError as exc:  # best effort: the generation is over either way
            logger.warning("could not cancel prediction %s: %s", prediction_id, exc)


def _end_generation(generation_id: uuid.UUID, status: str, *, error: str = "") -> bool:
    """Move a generation that has not ended yet into ``status`` and stop its open scenes."""
    now = timezone.now()
    with transaction.atomic():  # the consumer's "completed" commits with the change
        updated = (
            Generation.objects.filter(pk=generation_id)
            .exclude(status__in=Generation.TERMINAL)
            .update(status=status, stage=status, error=error, finished_at=now, updated_at=now)
        )
        if updated:
            record_event(generation_id=generation_id, event=Event.COMPLETED)
    if updated:
        _stop_open_scenes(generation_id, reason=f"generation {status}")
    return bool(updated)


def fail_generation(*, generation_id: uuid.UUID, message: str) -> bool:
    """Fail with a readable reason; finished scenes and their files are kept."""
    return _end_generation(generation_id, Generation.Status.FAILED, error=message)


def stop_generation(*, generation_id: uuid.UUID) -> bool:
    """Stop new submissions, cancel in-flight predictions, mark the generation canceled."""
    return _end_generation(generation_id, Generation.Status.CANCELED)
