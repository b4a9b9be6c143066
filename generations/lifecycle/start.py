"""The start step: claim a queued generation and draw its seed in one transaction, then say which
scenes may run (the chain heads).

Every lifecycle step claims its row with a conditional UPDATE, so a step delivered twice
(django-q2's ORM broker is at-least-once), run by two workers, or replayed by the reconciler does
its work once. The database is the source of truth; tasks only say "look at this row now".
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from generations.lifecycle.outcome import GenerationStateError, Outcome
from generations.lifecycle.seeds import ensure_generation_seed
from generations.models import Generation, Scene
from generations.webhooks_out.events import Event, record_event
from pipeline import scene_graph


def start_generation(*, generation_id: uuid.UUID) -> Outcome:
    """Claim a queued generation, draw and store its seed, and return the chain heads to run.

    The claim and the seed draw commit together: a running generation always has its seed, so no
    scene can ever be sent without one because a worker died in between.
    """
    with transaction.atomic():
        claimed = Generation.objects.filter(
            pk=generation_id, status=Generation.Status.QUEUED
        ).update(
            status=Generation.Status.RUNNING,
            stage="rendering scenes",  # seen only with the seed: they commit together
            progress=5,
            started_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if claimed:
            ensure_generation_seed(generation_id=generation_id)
            record_event(generation_id=generation_id, event=Event.STARTED)
    if not claimed:
        status = (
            Generation.objects.values_list("status", flat=True).filter(pk=generation_id).first()
        )
        if status is None:
            raise GenerationStateError(f"Generation {generation_id} does not exist.")
        raise GenerationStateError(
            f"Generation {generation_id} is {status}; only a queued generation can be started."
        )
    scenes = _scene_states(generation_id)
    return Outcome(
        ready_scenes=tuple(_ready(scenes)),
        # Every scene copied from another generation (generations.iterate): straight to the stitch.
        finish=all(scene.status == Scene.Status.SUCCEEDED for scene in scenes),
    )


def _scene_states(generation_id: uuid.UUID) -> list[Scene]:
    return list(
        Scene.objects.filter(generation_id=generation_id)
        .order_by("index")
        .only("id", "index", "continuous", "status")
    )


def _ready(scenes: list[Scene]) -> list[int]:
    """Pending scenes that may start now: chain heads, and continuous scenes whose predecessor
    is done (``scenes``: all of a generation's, in order)."""
    ready = []
    for scene in scenes:
        if scene.status != Scene.Status.PENDING:
            continue
        before = scene_graph.predecessor(scene.index, scene.continuous)
        if before is None or scenes[before].status == Scene.Status.SUCCEEDED:
            ready.append(scene.pk)
    return ready


def ready_scene_ids(*, generation_id: uuid.UUID) -> list[int]:
    """Pending scenes that may start now: chain heads, and continuous scenes whose predecessor
    is done."""
    return _ready(_scene_states(generation_id))
