"""Leases: a claim that stays valid only while its worker's heartbeat renews it.

A worker that claims a row (a scene being submitted or completed, a generation being stitched)
writes ``claimed_by`` (its token) and ``lease_expires_at`` (now + LEASE_SECONDS), and a heartbeat
thread pushes the expiry forward every quarter lease while the work runs. A worker that dies stops
renewing, so the reconciler sees the claim lapse within LEASE_SECONDS and takes the row up again,
instead of waiting for a timeout sized for the slowest possible task (the old 6-12 minutes).

The same table-free idea guards singletons (the poller pass, the ticker's reconcile): one ``Lease``
row per name, taken by a conditional UPDATE, so two clusters never both run it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, models
from django.db.models import Q
from django.utils import timezone

from coherence_project.conf import config
from generations.models import Lease

logger = logging.getLogger("coherence.pipeline")


def new_token() -> str:
    """Who holds a claim: host, process and a nonce (readable in the admin when debugging)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_until(seconds: float | None = None) -> datetime:
    return timezone.now() + timedelta(seconds=seconds or config.LEASE_SECONDS)


def lapsed() -> Q:
    """Rows whose claim, if any, is no longer renewed."""
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=timezone.now())


@contextmanager
def heartbeat(model: type[models.Model], pk: object, token: str) -> Iterator[None]:
    """Renew ``token``'s lease on one row while the block runs; no renewal follows the block.

    Inside a transaction (tests run in one) the renewals could not be seen and SQLite would make
    the renewing thread wait on the caller's lock, so the lease then simply lasts its full length.
    """
    if connection.in_atomic_block:
        yield
        return
    claim = (model, pk, token)
    _keeper.hold(claim)
    try:
        yield
    finally:
        _keeper.release(claim)


Claim = tuple[type[models.Model], object, str]
RELEASE_WAIT_SECONDS = 5.0


class _LeaseKeeper:
    """One daemon thread per process renews every claim the process holds, a quarter lease after
    it was taken or last renewed.

    Holding and releasing a claim is a dictionary operation: no thread is started and joined per
    claim, which cost a scene 1-10 ms on a busy two-core machine (bench/pipeline_bench.py).
    Locking: ``_changed`` guards ``_due`` and ``_renewing``; renewals run outside it, and
    ``release`` waits for a renewal of its claim already under way.
    """

    def __init__(self) -> None:
        self._due: dict[Claim, float] = {}  # claim -> monotonic time of its next renewal
        self._renewing: set[Claim] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def hold(self, claim: Claim) -> None:
        with self._changed:
            self._due[claim] = time.monotonic() + config.LEASE_SECONDS / 4
            # A forked worker inherits the object but not the thread: start one of its own.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()
            self._changed.notify()

    def release(self, claim: Claim) -> None:
        with self._changed:
            self._due.pop(claim, None)
            # A renewal stuck on a hung database is not waited for past a few seconds: one that
            # lands late only lengthens a lease its holder has already given up.
            self._changed.wait_for(lambda: claim not in self._renewing, RELEASE_WAIT_SECONDS)

    def _run(self) -> None:
        while True:
            due = self._next_due()
            try:
                for model, pk, token in due:
                    _renew(model, pk, token)
            finally:  # even if a renewal raised: a release must never wait for a dead thread
                with self._changed:
                    self._renewing.clear()
                    self._changed.notify_all()
                    idle = not self._due
            if idle:
                connection.close()  # this thread's own; reopened by the next renewal

    def _next_due(self) -> list[Claim]:
        """Wait until some claims are due; mark them renewing and schedule their next renewal."""
        with self._changed:
            while True:
                now = time.monotonic()
                due = [claim for claim, at in self._due.items() if at <= now]
                if due:
                    for claim in due:
                        self._due[claim] = now + config.LEASE_SECONDS / 4
                    self._renewing.update(due)
                    return due
                soonest = min(self._due.values(), default=None)
                self._changed.wait(None if soonest is None else soonest - now)


_keeper = _LeaseKeeper()


def _renew(model: type[models.Model], pk: object, token: str) -> None:
    try:
        model.objects.filter(pk=pk, claimed_by=token).update(lease_expires_at=lease_until())
    except DatabaseError as exc:  # the database restarting: try again next beat
        logger.warning("lease renewal of %s %s failed: %s", model.__name__, pk, exc)
        connection.close()


def acquire(name: str, holder: str, seconds: float) -> bool:
    """Take (or keep) the singleton lease ``name`` for ``seconds``; False if another holds it."""
    now = timezone.now()
    # get_or_create survives a concurrent create (it reads the row back); the UPDATE decides.
    Lease.objects.get_or_create(name=name, defaults={"expires_at": now})
    taken = (
        Lease.objects.filter(name=name)
        .filter(Q(expires_at__lte=now) | Q(holder=holder))
        .update(holder=holder, expires_at=now + timedelta(seconds=seconds))
    )
    return bool(taken)


def release(name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now())
