"""Create once per ``Idempotency-Key``: a retried request returns the first generation; the same
key with another request is refused."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction

from generations.models import Generation, IdempotencyKey
from generations.selectors import idempotency_record
from generations.services.create import create_generation
from generations.services.request import GenerationRequest


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different request: refused, nothing is created."""


def _fingerprint_value(value: Any) -> str:
    # Uploaded images arrive as bytes: the same key with another image is another request.
    if isinstance(value, bytes | bytearray):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return str(value)


def _request_fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), default=_fingerprint_value
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _replayed_generation(*, owner: Any, key: str, fingerprint: str) -> Generation | None:
    record = idempotency_record(owner=owner, key=key)
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new generation."
        )
    return record.generation


def create_generation_idempotent(
    request: GenerationRequest, *, owner: Any, idempotency_key: str, creator: Any = None
) -> tuple[Generation, bool]:
    """``create_generation`` once per (owner, key): a retry with the same fields returns the first
    generation and ``False`` instead of creating a second one.

    Race-safe: the key row is inserted in the same transaction as the generation, so when two
    requests race, the unique constraint lets one commit and rolls the other back whole (its
    generation, scenes and on-commit enqueue included); the loser answers with the winner's
    generation. Raises IdempotencyKeyReused when the key was used with different fields.
    """
    fingerprint = _request_fingerprint(request.body_fields())
    replayed = _replayed_generation(owner=owner, key=idempotency_key, fingerprint=fingerprint)
    if replayed is not None:
        return replayed, False
    create = creator or create_generation  # e.g. generations.iterate's create_with_variations
    try:
        with transaction.atomic():
            generation = create(request, owner=owner)
            IdempotencyKey.objects.create(
                owner=owner, key=idempotency_key, request_hash=fingerprint, generation=generation
            )
    except IntegrityError:
        replayed = _replayed_generation(owner=owner, key=idempotency_key, fingerprint=fingerprint)
        if replayed is None:
            raise
        return replayed, False
    return generation, True
