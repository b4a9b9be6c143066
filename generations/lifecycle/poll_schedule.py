"""When to look at a running hosted prediction next: the back-off behind ``Scene.next_poll_at``.

Without webhooks a prediction is looked at every POLL_INTERVAL at first, then less often as it
ages (a tenth of its age, at most POLL_MAX_INTERVAL): a 5-minute video is not worth a GET every
2 s. With webhooks (COHERENCE_PUBLIC_URL set) the webhook completes the scene, so polling only
catches one that was lost: the first look waits POLL_MAX_INTERVAL, then half the age, at most ten
times that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from coherence_project.conf import config

WEBHOOK_CEILING_FACTOR = 10


def interval(age_seconds: float) -> float:
    """Seconds to the next look at a prediction submitted ``age_seconds`` ago."""
    if config.PUBLIC_URL:
        floor = config.POLL_MAX_INTERVAL
        return min(max(age_seconds / 2, floor), floor * WEBHOOK_CEILING_FACTOR)
    return min(max(age_seconds / 10, config.POLL_INTERVAL), config.POLL_MAX_INTERVAL)


def next_look(submitted_at: datetime | None, *, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    age = (now - submitted_at).total_seconds() if submitted_at else 0.0
    return now + timedelta(seconds=interval(max(age, 0.0)))
