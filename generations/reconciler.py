"""The reconciler: the database, not the queue, is the source of truth, so once a minute (a
django-q2 schedule, see migration 0002) and on demand (`manage.py reconcile`) it finds everything
that should be moving and is not, and puts it back on the queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from coherence_project.conf import config
from generations import orchestration
from generations.models import Generation, Scene
from generations.queue import (
    enqueue_check,
    enqueue_finish,
    enqueue_scenes,
    enqueue_start_generation,
)

logger = logging.getLogger("coherence.pipeline")


@dataclass
class ReconcileReport:
    started: list[str] = field(default_factory=list)
    resubmitted: list[int] = field(default_factory=list)
    scenes_enqueued: list[int] = field(default_factory=list)
    polled: list[int] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        parts = (self.started, self.resubmitted, self.scenes_enqueued, self.polled, self.finished)
        return sum(len(part) for part in parts)


def reconcile(*, stale_after: float | None = None) -> ReconcileReport:
    """Find everything that should be moving and is not, and move it. Safe to run at any time.

    Each step only enqueues; the tasks claim their rows, so a reconcile that races a live worker
    changes nothing. Work claimed before ``stale_after`` seconds ago counts as lost.
    """
    seconds = config.STALE_AFTER_SECONDS if stale_after is None else stale_after
    stale = timezone.now() - timedelta(seconds=seconds)
    report = ReconcileReport()
    _start_lost_generations(stale, report)
    _release_lost_submissions(stale, report)
    _advance_running_generations(report)
    _look_at_running_predictions(report)
    _restitch_lost_stitches(stale, report)
    if report.total:
        logger.info("reconciler moved %s item(s): %s", report.total, report)
    return report


def _start_lost_generations(stale: datetime, report: ReconcileReport) -> None:
    """Queued generations whose start task was lost."""
    for generation_id in Generation.objects.filter(
        status=Generation.Status.QUEUED, created_at__lt=stale
    ).values_list("pk", flat=True):
        report.started.append(str(generation_id))
        enqueue_start_generation(generation_id)


def _release_lost_submissions(stale: datetime, report: ReconcileReport) -> None:
    """Scenes claimed by a worker that died before it got a prediction id go back to pending; a
    scene with a prediction id is never submitted again (it may already be billed)."""
    stuck = Scene.objects.filter(
        status=Scene.Status.SUBMITTING,
        prediction_id="",
        submitted_at__lt=stale,
        generation__status=Generation.Status.RUNNING,
    )
    report.resubmitted = list(stuck.values_list("pk", flat=True))
    stuck.update(status=Scene.Status.PENDING, error="worker lost during submission; resubmitting")


def _advance_running_generations(report: ReconcileReport) -> None:
    """Ready scenes of running generations run; generations whose scenes are all done finish."""
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


def _look_at_running_predictions(report: ReconcileReport) -> None:
    """One look at every running prediction (covers lost webhooks and dead pollers)."""
    for scene_id in (
        Scene.objects.filter(
            status=Scene.Status.RUNNING, generation__status=Generation.Status.RUNNING
        )
        .exclude(prediction_id="")
        .values_list("pk", flat=True)
    ):
        report.polled.append(scene_id)
        enqueue_check(scene_id)


def _restitch_lost_stitches(stale: datetime, report: ReconcileReport) -> None:
    for generation_id in Generation.objects.filter(
        status=Generation.Status.STITCHING, updated_at__lt=stale
    ).values_list("pk", flat=True):
        report.finished.append(str(generation_id))
        enqueue_finish(generation_id, allow_restitch=True)
