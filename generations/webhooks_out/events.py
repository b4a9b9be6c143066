"""Consumer webhook events: what a create may ask for, and the outbox rows written when they
happen.

``record_event`` is called by the lifecycle steps (``generations.lifecycle``: start, complete,
finish, failure) inside the transaction of the state change it reports, so an event exists
exactly when its change committed: nothing is lost if a process dies right after, and nothing is
sent for a change that rolled back. The ticker delivers the rows (``delivery.py``). Generations
without a webhook cost nothing here: the check is made on the row the caller already holds, or
folded into one lookup by primary key.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from coherence_project.conf import config
from generations.media.links import video_url
from generations.models import ConsumerWebhookEvent, Generation, Scene
from generations.webhooks_out.addresses import AddressRefused, check_webhook_url
from generations.webhooks_out.signing import has_secret

Event = ConsumerWebhookEvent.Event
EVENTS: tuple[str, ...] = tuple(Event.values)  # started, scene_completed, completed
SECRET_ENDPOINT = "POST /api/webhook-secret/"


def _events_filter(events_filter: Any) -> list[str]:
    """The filter as stored: None means every event (as Replicate sends every event without
    one); otherwise a non-empty list of known events, kept in their lifecycle order."""
    if events_filter is None:
        return []
    if not isinstance(events_filter, list) or not events_filter:
        raise ValueError(f"A non-empty list of events among: {', '.join(EVENTS)}.")
    unknown = [e for e in events_filter if not isinstance(e, str) or e not in EVENTS]
    if unknown:
        raise ValueError(f"Unknown event(s) {unknown!r}; allowed: {', '.join(EVENTS)}.")
    return [event for event in EVENTS if event in events_filter]


def subscription(*, owner: Any, webhook: Any, events_filter: Any) -> tuple[str, list[str]]:
    """Check a create's ``webhook`` and ``webhook_events_filter``; return what to store
    (``("", [])`` without a webhook). ValidationError names the field."""
    if webhook is None or webhook == "":
        if events_filter is not None:
            raise ValidationError({"webhook_events_filter": "Give a webhook to filter its events."})
        return "", []
    errors: dict[str, str] = {}
    try:
        events = _events_filter(events_filter)
    except ValueError as exc:
        errors["webhook_events_filter"] = str(exc)
    if not isinstance(webhook, str):
        errors["webhook"] = "The webhook must be an https:// URL (a string)."
    else:
        try:
            check_webhook_url(webhook, allow_private=config.WEBHOOK_ALLOW_PRIVATE)
        except AddressRefused as exc:
            errors["webhook"] = str(exc)
    if "webhook" not in errors and (owner is None or not has_secret(user=owner)):
        errors["webhook"] = (
            f"Make your webhook signing secret first ({SECRET_ENDPOINT}), so you can verify "
            "what is sent to you."
        )
    if errors:
        raise ValidationError(errors)
    return webhook, events


def listens(generation: Generation, event: str) -> bool:
    filtered = generation.webhook_events_filter
    return bool(generation.webhook) and (not filtered or event in filtered)


def outbox(generation: Generation) -> contextlib.AbstractContextManager[Any]:
    """A transaction around a state change and its event when ``generation`` has a webhook;
    nothing otherwise (the change stays the single statement it was)."""
    return transaction.atomic() if generation.webhook else contextlib.nullcontext()


def _absolute(path: str | None) -> str | None:
    if path is None or not config.PUBLIC_URL:
        return path
    return config.PUBLIC_URL.rstrip("/") + path


def _scene_data(scene: Scene) -> dict[str, Any]:
    clip = reverse("api:scene-file", args=[scene.generation_id, scene.number, "clip"])
    return {
        "number": scene.number,
        "status": scene.status,
        "seed": scene.seed,
        "clip_url": _absolute(clip) if scene.clip else None,
        "finished_at": scene.finished_at,
    }


def payload(generation: Generation, event: str, scene: Scene | None = None) -> dict[str, Any]:
    """The body sent for ``event`` (Standard Webhooks' ``{type, timestamp, data}`` shape)."""
    data: dict[str, Any] = {
        "id": str(generation.pk),
        "url": _absolute(reverse("api:generation-detail", args=[generation.pk])),
        "title": generation.title,
        "status": generation.status,
        "stage": generation.stage,
        "progress": generation.progress,
        "seed_value": generation.seed,
        "quality": generation.quality,
        "coherence_score": generation.coherence_score,
        "cost": generation.cost,
        "video_url": _absolute(video_url(generation)),
        "error": generation.error,
        "created_at": generation.created_at,
        "started_at": generation.started_at,
        "finished_at": generation.finished_at,
    }
    if scene is not None:
        data["scene"] = _scene_data(scene)
    return {"type": f"generation.{event}", "timestamp": timezone.now(), "data": data}


def record_event(
    *,
    generation_id: uuid.UUID,
    event: str,
    scene_id: int | None = None,
    known: Generation | None = None,
) -> ConsumerWebhookEvent | None:
    """Write the outbox row for ``event`` if the generation's webhook listens for it; call it in
    the transaction of the change. ``known``: a copy of the row the caller holds, which answers
    "is anyone listening?" without a query (the body is built from a fresh read either way)."""
    if known is not None and not listens(known, event):
        return None
    generation = Generation.objects.filter(pk=generation_id).exclude(webhook="").first()
    if generation is None or not listens(generation, event):
        return None
    scene = Scene.objects.get(pk=scene_id) if scene_id is not None else None
    now = timezone.now()
    return ConsumerWebhookEvent.objects.create(
        webhook_id=f"msg_{uuid.uuid4().hex}",
        owner_id=generation.owner_id,
        generation=generation,
        event=event,
        url=generation.webhook,
        body=json.dumps(payload(generation, event, scene), cls=DjangoJSONEncoder),
        next_attempt_at=now,
        created_at=now,
    )
