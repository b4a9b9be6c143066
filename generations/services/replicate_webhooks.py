"""Replicate's prediction webhooks, once verified (``generations.api.webhooks``): record each
delivery once and queue the completion of its scene."""

from __future__ import annotations

from typing import Any

from generations.lifecycle import complete
from generations.lifecycle.engine import get_provider
from generations.lifecycle.queue import enqueue_advance
from pipeline.providers.base import ProviderError
from pipeline.providers.registry import (
    REPLICATE_PROVIDER,
)


def receive_replicate_webhook(*, webhook_id: str, payload: dict[str, Any]) -> str:
    """Apply a verified Replicate webhook once and queue whatever comes next.

    Returns what happened: "queued", "duplicate", "unknown prediction" or "ignored".
    """
    kind, scene_id = complete.receive_prediction_webhook(webhook_id=webhook_id, payload=payload)
    if kind == "queued" and scene_id is not None:
        try:
            state = get_provider(REPLICATE_PROVIDER).state_from_webhook(payload)
        except ProviderError:
            return "ignored"
        enqueue_advance(scene_id, state)
    return kind
