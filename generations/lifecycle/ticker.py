"""The ticker: the deployment's clock, a small process beside the qclusters that is never a worker.

django-q2 has no delayed tasks, and its scheduler wakes only every 30 s, so something has to wake
up when a hosted prediction is due for a look. The ticker does, and nothing else:

- a poller pass (generations.lifecycle.poller) whenever the earliest ``next_poll_at`` comes round,
run
  in this process (a pass is a few batched GETs; completions go to the workers as tasks);
- a reconcile every RECONCILE_INTERVAL, so a claim whose worker died is taken up within
  LEASE_SECONDS + RECONCILE_INTERVAL instead of the schedule's minute and a half;
- the API consumers' webhooks (generations.webhooks_out.delivery) whenever one is due: each is
  claimed by a conditional update, so two tickers never send the same attempt.

Run one or two per deployment (``manage.py ticker``): the ``poller`` and ``reconcile`` leases let
only one act at a time, the other is a hot standby. Without any ticker everything still completes,
one reconcile a minute at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from coherence_project.conf import config
from generations.lifecycle import leases, poller
from generations.lifecycle.reconciler import reconcile
from generations.webhooks_out.delivery import deliver_due

logger = logging.getLogger("coherence.pipeline")

RECONCILE_LEASE = "reconcile"
SHORTEST_WAIT = 0.05  # never a busy loop, even when a look is overdue


@dataclass
class TickerStats:
    passes: int = 0
    looks: int = 0
    ended: int = 0
    busy_seconds: float = 0.0
    reconciles: int = 0
    webhooks_sent: int = 0
    webhooks_delivered: int = 0

    def summary(self, elapsed: float) -> str:
        return (
            f"ticker: {self.passes} poll passes, {self.looks} looks, {self.ended} ended, "
            f"{self.reconciles} reconciles, {self.webhooks_delivered}/{self.webhooks_sent} "
            f"webhooks delivered; busy {self.busy_seconds:.2f} s of {elapsed:.1f} s"
        )


def run(stop: threading.Event, stats: TickerStats | None = None) -> TickerStats:
    """Tick until ``stop`` is set."""
    stats = stats or TickerStats()
    holder = leases.new_token()
    next_reconcile = 0.0
    while not stop.is_set():
        try:
            wait = min(_tick(holder, stats), _deliver_webhooks(stats))
            if time.monotonic() >= next_reconcile:
                _reconcile(holder, stats)
                next_reconcile = time.monotonic() + config.RECONCILE_INTERVAL
        except DatabaseError as exc:  # the database restarting: wait and carry on
            logger.warning("ticker: database unavailable (%s); retrying", exc)
            connection.close()
            wait = config.POLL_INTERVAL
        except Exception:
            # The clock must outlive any one failed tick (Redis restarting, a provider bug): what
            # a tick did is in the database, so the next one simply tries again.
            logger.exception("ticker: a tick failed; trying again")
            wait = config.POLL_INTERVAL
        stop.wait(wait)
    return stats


def _tick(holder: str, stats: TickerStats) -> float:
    """One poller pass; returns how long to wait before the next."""
    started = time.monotonic()
    report = poller.poll_pass(holder=holder)
    if report is None:  # another ticker polls
        return config.POLL_INTERVAL
    stats.passes += 1
    stats.looks += report.looked
    stats.ended += report.ended
    stats.busy_seconds += time.monotonic() - started
    return _wait_until(report.next_due)


def _wait_until(next_due: Any) -> float:
    """Seconds to sleep before something is due (never longer than a poll interval)."""
    if next_due is None:
        return config.POLL_INTERVAL
    until_due = (next_due - timezone.now()).total_seconds()
    return min(max(until_due, SHORTEST_WAIT), config.POLL_INTERVAL)


def _reconcile(holder: str, stats: TickerStats) -> None:
    # Held (not released) for most of an interval: two tickers reconcile once between them.
    if leases.acquire(RECONCILE_LEASE, holder, seconds=config.RECONCILE_INTERVAL * 0.9):
        started = time.monotonic()
        reconcile()
        stats.reconciles += 1
        stats.busy_seconds += time.monotonic() - started


def _deliver_webhooks(stats: TickerStats) -> float:
    """One delivery pass; returns how long until the next webhook is due."""
    started = time.monotonic()
    report = deliver_due()
    stats.webhooks_sent += report.attempted
    stats.webhooks_delivered += report.delivered
    stats.busy_seconds += time.monotonic() - started
    return _wait_until(report.next_due)
