"""The one receiver of provider webhooks: a Replicate prediction delivery, once
``generations.api.webhooks`` has verified its signature, is recorded once and queues the
completion of its scene.

The completion itself (download, normalise) is a worker's job (``lifecycle.complete``), so the
webhook answers at once; the verified body goes with it as the prediction's state, saving a GET.
"""

from __future__ import annotations

from typing import Any

from generations.lifecycle.engine import get_provider
from generations.lifecycle.queue import enqueue_advance
from generations.models import Scene, WebhookDelivery
from pipeline.providers.base import PredictionStatus, ProviderError
from pipeline.providers.registry import REPLICATE_PROVIDER


def receive_replicate_webhook(*, webhook_id: str, payload: dict[str, Any]) -> str:
    """Apply a verified Replicate webhook once and queue its scene's completion.

    Returns what happened: "queued", "duplicate", "unknown prediction" or "ignored". A
    redelivered, late or out-of-order webhook changes nothing: the delivery id is stored once,
    and a completion only concludes a running scene.
    """
    prediction_id = str(payload.get("id") or "")
    _, created = WebhookDelivery.objects.get_or_create(
        webhook_id=webhook_id, defaults={"prediction_id": prediction_id}
    )
    if not created:
        return "duplicate"
    scene_id = (
        Scene.objects.filter(prediction_id=prediction_id).values_list("pk", flat=True).first()
        if prediction_id
        else None
    )
    if scene_id is None:
        return "unknown prediction"
    if not _ended(payload):
        return "ignored"
    try:
        state = get_provider(REPLICATE_PROVIDER).state_from_webhook(payload)
    except ProviderError:
        return "ignored"
    enqueue_advance(scene_id, state)
    return "queued"


def _ended(payload: dict[str, Any]) -> bool:
    """Whether the delivery says the prediction has ended (only then is there work to do)."""
    try:
        return PredictionStatus(payload.get("status")).is_terminal
    except ValueError:
        return False
