"""django-q2 tasks: thin wrappers that call the orchestration services and enqueue what is next.

Tasks carry ids only; each one re-reads its row and claims it with a conditional update, so a task
delivered twice, or replayed by the reconciler, is harmless.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django_q.conf import Conf
from django_q.tasks import async_task

from generations.models import Generation, Scene
from pipeline import orchestration
from pipeline.orchestration import GenerationStateError, Outcome

logger = logging.getLogger("coherence.pipeline")

_sync_state = threading.local()


def _enqueue(func: str, *args: Any) -> None:
    """Queue a task. In django-q2's sync mode, run queued tasks one after another instead of
    nesting them, so a long plan does not recurse once per scene."""
    if not Conf.SYNC:
        async_task(func, *args, group=func.rsplit(".", 1)[-1])
        return
    pending: deque | None = getattr(_sync_state, "pending", None)
    if pending is not None:
        pending.append((func, args))
        return
    _sync_state.pending = deque([(func, args)])
    try:
        while _sync_state.pending:
            next_func, next_args = _sync_state.pending.popleft()
            async_task(next_func, *next_args)
    finally:
        _sync_state.pending = None


def enqueue_start_generation(generation_id: uuid.UUID | str) -> None:
    _enqueue("pipeline.tasks.start_generation_task", str(generation_id))


def enqueue_scenes(scene_ids: Iterable[int]) -> None:
    for scene_id in scene_ids:
        _enqueue("pipeline.tasks.run_scene_task", scene_id)


def enqueue_poll(scene_id: int) -> None:
    _enqueue("pipeline.tasks.poll_scene_task", scene_id)


def enqueue_advance(scene_id: int, prediction: dict[str, Any] | None = None) -> None:
    """Queue one look at a scene's prediction; ``prediction`` is a verified webhook body, which
    saves asking the provider again."""
    if prediction is None:
        _enqueue("pipeline.tasks.advance_scene_task", scene_id)
    else:
        _enqueue("pipeline.tasks.advance_scene_task", scene_id, prediction)


def enqueue_finish(generation_id: uuid.UUID | str, *, allow_restitch: bool = False) -> None:
    _enqueue("pipeline.tasks.finish_generation_task", str(generation_id), allow_restitch)


def follow_outcome(outcome: Outcome, scene_id: int | None = None) -> None:
    """Enqueue what a step said comes next."""
    enqueue_scenes(outcome.ready_scenes)
    if outcome.poll and scene_id is not None and not settings.COHERENCE_PUBLIC_URL:
        enqueue_poll(scene_id)
    if outcome.finish and scene_id is not None:
        enqueue_finish(Scene.objects.values_list("generation_id", flat=True).get(pk=scene_id))


# --- tasks ----------------------------------------------------------------------------------------


def start_generation_task(generation_id: str) -> None:
    try:
        outcome = orchestration.start_generation(generation_id=uuid.UUID(generation_id))
    except GenerationStateError as exc:
        # A redelivered start: the first delivery did the work (the reconciler covers the rest).
        logger.info("start skipped: %s", exc)
        return
    follow_outcome(outcome)


def _run_scene(scene_id: int) -> Outcome:
    try:
        return orchestration.run_scene(scene_id=scene_id)
    except DatabaseError:
        # The database itself is away (restart, failover): nothing about the scene is known to be
        # wrong, so leave it claimed; the reconciler resubmits it once it is stale.
        raise
    except Exception as exc:
        # Never leave a scene half-claimed by a bug: fail it readably, then let django-q record it.
        orchestration.fail_scene(scene_id=scene_id, message=f"internal error: {exc!r}")
        raise


def run_scene_task(scene_id: int) -> None:
    """Run a scene; when it completes at once (the local model), carry on with its continuous
    successor in this same worker, saving a queue round trip per link of the chain. Work that
    would overrun the task timeout goes back to the queue instead."""
    budget = time.monotonic() + Conf.TIMEOUT / 3 if Conf.TIMEOUT else None
    while True:
        outcome = _run_scene(scene_id)
        successors = [s for s in outcome.ready_scenes if s != scene_id]
        can_continue = (
            not Conf.SYNC
            and len(successors) == 1
            and not outcome.finish
            and budget is not None
            and time.monotonic() < budget
        )
        if not can_continue:
            follow_outcome(outcome, scene_id)
            return
        follow_outcome(Outcome(poll=outcome.poll), scene_id)
        scene_id = successors[0]


def check_scene_task(scene_id: int) -> None:
    """The reconciler's look at a running prediction: it completes a scene whose webhook or poller
    was lost, but starts no polling of its own, so a minute's tick never piles up pollers."""
    outcome = orchestration.advance_scene(scene_id=scene_id)
    follow_outcome(dataclasses.replace(outcome, poll=False), scene_id)


def advance_scene_task(scene_id: int, prediction: dict[str, Any] | None = None) -> None:
    from pipeline.providers.replicate import prediction_state

    state = prediction_state(prediction) if prediction is not None else None
    follow_outcome(orchestration.advance_scene(scene_id=scene_id, state=state), scene_id)


def poll_scene_task(scene_id: int) -> None:
    """One look at a hosted prediction; if it is still running, queue the next look.

    The worker waits one short interval per look (never the prediction's life), so many scenes in
    flight share few workers; with webhooks configured no polling happens at all.
    """
    time.sleep(getattr(settings, "COHERENCE_POLL_INTERVAL", 2.0))
    advance_scene_task(scene_id)


def finish_generation_task(generation_id: str, allow_restitch: bool = False) -> None:
    orchestration.finish_generation(
        generation_id=uuid.UUID(generation_id), allow_restitch=allow_restitch
    )


# --- reconciler -----------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    started: list[str] = field(default_factory=list)
    resubmitted: list[int] = field(default_factory=list)
    scenes_enqueued: list[int] = field(default_factory=list)
    polled: list[int] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(
            len(x)
            for x in (
                self.started,
                self.resubmitted,
                self.scenes_enqueued,
                self.polled,
                self.finished,
            )
        )


def reconcile(*, stale_after: float | None = None) -> ReconcileReport:
    """Find everything that should be moving and is not, and move it. Safe to run at any time.

    - queued generations whose start task was lost → start;
    - scenes claimed for submission by a worker that died before it got a prediction id → back to
      pending (a scene with a prediction id is never submitted again);
    - ready pending scenes of running generations → run;
    - running scenes → one look at their prediction (covers lost webhooks and dead pollers);
    - running generations whose scenes are all done, and stitches whose worker died → finish.
    """
    stale_seconds = settings.COHERENCE_STALE_AFTER_SECONDS if stale_after is None else stale_after
    stale = timezone.now() - timedelta(seconds=stale_seconds)
    report = ReconcileReport()

    for generation_id in Generation.objects.filter(
        status=Generation.Status.QUEUED, created_at__lt=stale
    ).values_list("pk", flat=True):
        report.started.append(str(generation_id))
        enqueue_start_generation(generation_id)

    stuck = Scene.objects.filter(
        status=Scene.Status.SUBMITTING,
        prediction_id="",
        submitted_at__lt=stale,
        generation__status=Generation.Status.RUNNING,
    )
    report.resubmitted = list(stuck.values_list("pk", flat=True))
    stuck.update(status=Scene.Status.PENDING, error="worker lost during submission; resubmitting")

    running = Generation.objects.filter(status=Generation.Status.RUNNING)
    for generation_id in running.values_list("pk", flat=True):
        ready = orchestration.ready_scene_ids(generation_id=generation_id)
        report.scenes_enqueued.extend(ready)
        enqueue_scenes(ready)
        statuses = set(
            Scene.objects.filter(generation_id=generation_id).values_list("status", flat=True)
        )
        if statuses == {Scene.Status.SUCCEEDED}:
            report.finished.append(str(generation_id))
            enqueue_finish(generation_id)

    for scene_id in (
        Scene.objects.filter(
            status=Scene.Status.RUNNING, generation__status=Generation.Status.RUNNING
        )
        .exclude(prediction_id="")
        .values_list("pk", flat=True)
    ):
        report.polled.append(scene_id)
        _enqueue("pipeline.tasks.check_scene_task", scene_id)

    for generation_id in Generation.objects.filter(
        status=Generation.Status.STITCHING, updated_at__lt=stale
    ).values_list("pk", flat=True):
        report.finished.append(str(generation_id))
        enqueue_finish(generation_id, allow_restitch=True)

    if report.total:
        logger.info("reconciler moved %s item(s): %s", report.total, report)
    return report


def reconcile_task() -> int:
    return reconcile().total
