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
    """Renew ``token``'s lease on one row while the block runs.

    Inside a transaction (tests run in one) the renewals could not be seen and SQLite would make
    the thread wait on the caller's lock, so the lease then simply lasts its full length.
    """
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_renew, args=(model, pk, token, stop), name=f"lease-{pk}", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _renew(model: type[models.Model], pk: object, token: str, stop: threading.Event) -> None:
    try:
        while not stop.wait(config.LEASE_SECONDS / 4):
            try:
                model.objects.filter(pk=pk, claimed_by=token).update(lease_expires_at=lease_until())
            except DatabaseError as exc:  # the database restarting: try again next beat
                logger.warning("lease renewal of %s %s failed: %s", model.__name__, pk, exc)
                connection.close()
    finally:
        connection.close()  # this thread's own connection


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
