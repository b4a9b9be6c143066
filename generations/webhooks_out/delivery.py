"""Delivering consumer webhook events, at least once, from the ticker.

Each pass (``deliver_due``) claims the due rows with a conditional UPDATE (two tickers never send
the same attempt; a ticker that dies mid-attempt leaves a claim that lapses, and the row is tried
again), sends them a few at a time, and stores each answer: 2xx → delivered; anything else
(an error status, a redirect, which is never followed, a timeout, a refused address) → tried again
after a doubling wait (``WEBHOOK_RETRY_SECONDS``, at most an hour, ±20 % jitter), and given up
once the next try would fall past ``WEBHOOK_GIVE_UP_SECONDS`` after the event. Nothing here ever
touches the generation: a consumer that keeps failing costs only its own rows.

Every attempt resolves the host once, checks every address (``addresses.checked_address``) and
connects to the checked one, with TLS verified against the host name; no proxy is used.
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from coherence_project.conf import config
from generations.models import ConsumerWebhookEvent
from generations.webhooks_out.addresses import AddressRefused, check_webhook_url, checked_address
from generations.webhooks_out.signing import secret_of, signed_headers

Status = ConsumerWebhookEvent.Status

BATCH = 16  # rows one pass claims
CONCURRENCY = 4  # deliveries in flight at once (a slow consumer holds one thread, not the pass)
MAX_BACKOFF_SECONDS = 3600.0
EXCERPT_CHARS = 500
USER_AGENT = "Coherence-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """What one try got: the answer's status code and the start of its body, or an error."""

    status_code: int | None = None
    answer: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    next_due: datetime | None = None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address checked beforehand: no second resolution of the host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is verified against the host name (SNI)."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def send(url: str, *, body: str, headers: dict[str, str]) -> Attempt:
    """POST ``body`` to ``url`` once, after the SSRF checks; never follows a redirect."""
    allow_private = config.WEBHOOK_ALLOW_PRIVATE
    try:  # again at every attempt: the setting may have been turned off since the create
        check_webhook_url(url, allow_private=allow_private)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = checked_address(host, port, allow_private=allow_private)
    except AddressRefused as exc:
        return Attempt(error=f"refused: {exc}")
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address=address, timeout=config.WEBHOOK_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body.encode("utf-8"), headers=headers)
        response = connection.getresponse()
        answer = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
        error = ""
        if 300 <= response.status < 400:
            error = f"redirect to {response.getheader('Location', '?')!r} not followed"
        return Attempt(status_code=response.status, answer=answer, error=error)
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(error=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])
    finally:
        connection.close()


def _headers(event: ConsumerWebhookEvent) -> dict[str, str] | None:
    secret = secret_of(user_id=event.owner_id)
    if secret is None:
        return None
    signed = signed_headers(
        secret=secret, webhook_id=event.webhook_id, timestamp=int(time.time()), body=event.body
    )
    return {**signed, "Content-Type": "application/json", "User-Agent": USER_AGENT}


def backoff_seconds(attempts: int) -> float:
    """The wait after the ``attempts``-th failed try: doubling from WEBHOOK_RETRY_SECONDS, at
    most an hour, with ±20 % jitter so that many failing events do not come back in step."""
    base = min(config.WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
    return base * random.uniform(0.8, 1.2)  # spreads retries; not a secret


def _outcome(event: ConsumerWebhookEvent, attempt: Attempt, now: datetime) -> dict:
    attempts = event.attempts + 1
    fields: dict = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": attempt.status_code,
        "last_answer": attempt.answer,
        "last_error": attempt.error,
    }
    if attempt.delivered:
        return {**fields, "status": Status.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    retry_at = now + timedelta(seconds=backoff_seconds(attempts))
    deadline = event.created_at + timedelta(seconds=config.WEBHOOK_GIVE_UP_SECONDS)
    if retry_at > deadline:
        return {**fields, "status": Status.GAVE_UP, "next_attempt_at": None}
    return {**fields, "next_attempt_at": retry_at}


def _claimed(now: datetime) -> list[ConsumerWebhookEvent]:
    """The due rows this pass won. A claim moves the row's next attempt past the longest an
    attempt can take, so a pass that dies leaves it due again, never lost."""
    due = ConsumerWebhookEvent.objects.filter(
        status=Status.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at")[:BATCH]
    hold = now + timedelta(seconds=config.WEBHOOK_TIMEOUT * 4 + 30)
    won = []
    for event in due:
        claimed = ConsumerWebhookEvent.objects.filter(
            pk=event.pk, status=Status.PENDING, next_attempt_at=event.next_attempt_at
        ).update(next_attempt_at=hold)
        if claimed:
            won.append(event)
    return won


def _attempt(job: tuple[ConsumerWebhookEvent, dict[str, str] | None]) -> Attempt:
    event, headers = job
    if headers is None:
        return Attempt(error="the owner has no signing secret (POST /api/webhook-secret/)")
    return send(event.url, body=event.body, headers=headers)


def deliver_due(*, now: datetime | None = None) -> DeliveryReport:
    """One pass: send every due event (up to BATCH) and store what each got. Database work stays
    in the calling thread; only the HTTP requests run in the pool."""
    now = now or timezone.now()
    events = _claimed(now)
    jobs = [(event, _headers(event)) for event in events]
    report = DeliveryReport(attempted=len(jobs))
    if jobs:
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(jobs))) as pool:
            attempts = list(pool.map(_attempt, jobs))
        finished = timezone.now()
        for event, attempt in zip(events, attempts, strict=True):
            ConsumerWebhookEvent.objects.filter(pk=event.pk).update(
                **_outcome(event, attempt, max(finished, now))
            )
            report.delivered += attempt.delivered
    report.next_due = (
        ConsumerWebhookEvent.objects.filter(status=Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return report
