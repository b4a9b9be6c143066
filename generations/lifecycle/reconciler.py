"""The reconciler: the database, not the queue, is the source of truth, so every
RECONCILE_INTERVAL (the ticker), once a minute (a django-q2 schedule, see migration 0002) and on
demand (`manage.py reconcile`) it finds everything that should be moving and is not, and puts it
back on the queue.

Lost work is recognised by its lease (generations.lifecycle.leases): a claim its worker stopped
renewing
lapses within LEASE_SECONDS, so a scene whose worker died is taken up again on the next reconcile
after that, and its generation's stage says "recovering" meanwhile."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from coherence_project.conf import config
from generations.lifecycle import poller, start
from generations.lifecycle.queue import (
    enqueue_finish,
    enqueue_poll_pass,
    enqueue_scenes,
    enqueue_start_generation,
)
from generations.models import Generation, Scene

logger = logging.getLogger("coherence.pipeline")

STAGE_LENGTH = Generation._meta.get_field("stage").max_length


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
    _poll_running_predictions(report)
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


def _lost_claims(stale: datetime) -> Q:
    """A lapsed lease, or (rows claimed before leases existed) no lease and an old claim."""
    return Q(lease_expires_at__lt=timezone.now()) | Q(
        lease_expires_at__isnull=True, submitted_at__lt=stale
    )


def _say_recovering(generation_ids: Iterable[uuid.UUID], what: str) -> None:
    Generation.objects.filter(
        pk__in=set(generation_ids),
        status__in=(Generation.Status.RUNNING, Generation.Status.STITCHING),
    ).update(stage=f"recovering: {what}"[:STAGE_LENGTH], updated_at=timezone.now())


def _release_lost_submissions(stale: datetime, report: ReconcileReport) -> None:
    """Scenes claimed by a worker that died before it got a prediction id go back to pending; a
    scene with a prediction id is never submitted again (it may already be billed)."""
    stuck = Scene.objects.filter(
        _lost_claims(stale),
        status=Scene.Status.SUBMITTING,
        prediction_id="",
        generation__status=Generation.Status.RUNNING,
    )
    rows = list(stuck.values_list("pk", "generation_id"))
    report.resubmitted = [pk for pk, _ in rows]
    released = Scene.objects.filter(pk__in=report.resubmitted, status=Scene.Status.SUBMITTING)
    released.update(
        status=Scene.Status.PENDING,
        error="worker lost during submission; resubmitting",
        claimed_by="",
        lease_expires_at=None,
    )
    _say_recovering((gid for _, gid in rows), "worker lost mid-submission; resubmitting")


def _advance_running_generations(report: ReconcileReport) -> None:
    """Ready scenes of running generations run; generations whose scenes are all done finish."""
    running = Generation.objects.filter(status=Generation.Status.RUNNING)
    for generation_id in running.values_list("pk", flat=True):
        ready = start.ready_scene_ids(generation_id=generation_id)
        report.scenes_enqueued.extend(ready)
        enqueue_scenes(ready)
        statuses = set(
            Scene.objects.filter(generation_id=generation_id).values_list("status", flat=True)
        )
        if statuses == {Scene.Status.SUCCEEDED}:
            report.finished.append(str(generation_id))
            enqueue_finish(generation_id)


def _poll_running_predictions(report: ReconcileReport) -> None:
    """Every running prediction gets looked at (covers lost webhooks, dead completers, and a
    deployment with no ticker): unscheduled ones are made due, then ONE poller pass is queued."""
    in_flight = poller.in_flight()
    lost = list(
        in_flight.filter(next_poll_at__isnull=True)
        .exclude(claimed_by="")
        .values_list("generation_id", flat=True)
    )
    in_flight.filter(next_poll_at__isnull=True).update(next_poll_at=timezone.now())
    _say_recovering(lost, "worker lost storing a scene; completing it")
    report.polled = list(
        in_flight.filter(next_poll_at__lte=timezone.now()).values_list("pk", flat=True)
    )
    if report.polled:
        enqueue_poll_pass()


def _restitch_lost_stitches(stale: datetime, report: ReconcileReport) -> None:
    """Stitches whose lease lapsed (their worker died) are done again."""
    lost = Generation.objects.filter(
        Q(lease_expires_at__lt=timezone.now())
        | Q(lease_expires_at__isnull=True, updated_at__lt=stale),
        status=Generation.Status.STITCHING,
    )
    ids = list(lost.values_list("pk", flat=True))
    _say_recovering(ids, "worker lost while stitching; stitching again")
    for generation_id in ids:
        report.finished.append(str(generation_id))
        enqueue_finish(generation_id, allow_restitch=True)
