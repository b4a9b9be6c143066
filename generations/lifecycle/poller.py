"""The poller: one pass looks at every hosted prediction that is due, for all generations at once.

Polling used to be a task per prediction that slept POLL_INTERVAL in a worker, looked once and
queued the next look: one busy worker per prediction in flight. Now the database says when each
running scene is next due (``Scene.next_poll_at``, see ``poll_schedule``), and a pass

- takes the ``poller`` lease (a conditional UPDATE), so two clusters never poll side by side;
- reads up to POLL_BATCH due scenes and moves each one's ``next_poll_at`` on *before* looking, so
  a prediction gets at most one look per interval even if the pass dies;
- asks the provider about all of them at once (POLL_CONCURRENCY GETs in flight over one client);
- hands each ended prediction, with the state it read, to a worker as ``advance_scene_task`` (the
  download and normalise are a worker's job, as with a webhook), and returns.

Nothing sleeps in a worker. Who runs passes: the ticker (``manage.py ticker``, a small process
beside the qclusters, never a worker) every time a prediction is due; the reconciler (every
minute, any cluster) queues one pass as a task, so polling still happens with no ticker running;
in django-q2's sync mode (tests) the pass task waits in the calling process for the next due look.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from coherence_project.conf import config
from generations.lifecycle import leases, poll_schedule
from generations.lifecycle.engine import get_provider
from generations.lifecycle.queue import enqueue_advance
from generations.models import Generation, Scene
from pipeline.providers.base import PredictionState, ProviderError

logger = logging.getLogger("coherence.pipeline")

LEASE_NAME = "poller"


@dataclass
class PassReport:
    looked: int = 0
    ended: int = 0
    errors: int = 0
    seconds: float = 0.0  # busy time of this pass
    next_due: datetime | None = None  # the earliest look still scheduled


def in_flight() -> QuerySet[Scene]:
    """Running hosted predictions of running generations, whose completion nobody holds."""
    return (
        Scene.objects.filter(
            status=Scene.Status.RUNNING, generation__status=Generation.Status.RUNNING
        )
        .exclude(prediction_id="")
        .filter(leases.lapsed())
    )


def next_due() -> datetime | None:
    return (
        in_flight()
        .filter(next_poll_at__isnull=False)
        .order_by("next_poll_at")
        .values_list("next_poll_at", flat=True)
        .first()
    )


def poll_pass(*, holder: str | None = None) -> PassReport | None:
    """Look once at every due prediction; None when another process holds the poller lease."""
    holder = holder or leases.new_token()
    if not leases.acquire(LEASE_NAME, holder, seconds=config.LEASE_SECONDS):
        return None
    started = time.monotonic()
    report = PassReport()
    try:
        due = _claim_due()
        report.looked = len(due)
        for scene, outcome in zip(due, _look_at_all(due), strict=True):
            _act_on(scene, outcome, report)
    finally:
        leases.release(LEASE_NAME, holder)
    report.seconds = time.monotonic() - started
    report.next_due = next_due()
    return report


def _claim_due() -> list[Scene]:
    now = timezone.now()
    due = list(
        in_flight()
        .filter(next_poll_at__lte=now)
        .select_related("generation")
        .order_by("next_poll_at")[: config.POLL_BATCH]
    )
    for scene in due:
        scene.next_poll_at = poll_schedule.next_look(scene.submitted_at, now=now)
    Scene.objects.bulk_update(due, ["next_poll_at"])
    return due


def _look(scene: Scene) -> PredictionState | ProviderError:
    try:
        return get_provider(scene.generation.provider).fetch(scene.prediction_id)
    except ProviderError as exc:
        return exc


def _look_at_all(due: list[Scene]) -> list[PredictionState | ProviderError]:
    """Every GET of the pass, POLL_CONCURRENCY at a time (HTTP only: no database in threads)."""
    if len(due) <= 1:
        return [_look(scene) for scene in due]
    with ThreadPoolExecutor(max_workers=config.POLL_CONCURRENCY) as pool:
        return list(pool.map(_look, due))


def _act_on(scene: Scene, outcome: PredictionState | ProviderError, report: PassReport) -> None:
    if isinstance(outcome, ProviderError):
        report.errors += 1
        if not outcome.retryable:  # e.g. the prediction is unknown: let a worker fail the scene
            enqueue_advance(scene.pk)
        else:
            logger.info("poll of %s failed, next look later: %s", scene.prediction_id, outcome)
        return
    if outcome.status.is_terminal:
        report.ended += 1
        enqueue_advance(scene.pk, outcome)
