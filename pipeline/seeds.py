"""Seed control: one seed per generation, drawn once, stored before any scene runs."""

from __future__ import annotations

import secrets
import uuid

from django.db import transaction

from generations.models import SEED_MAX, Generation

SEED_SPACE = SEED_MAX + 1  # seeds live in 0..2^31-1, the range every model we know accepts


def generate_seed() -> int:
    """A fresh seed from the OS's cryptographic RNG (no process-wide random state to collide on)."""
    return secrets.randbelow(SEED_SPACE)


def ensure_generation_seed(*, generation_id: uuid.UUID) -> int | None:
    """Return the generation's seed, drawing and storing it exactly once.

    Seed control off → None, nothing stored. A seed already stored (drawn earlier, or supplied by
    the caller for a regeneration) is returned as is. The row lock serialises callers on
    PostgreSQL; the conditional update makes the draw safe on SQLite too, where
    select_for_update is a no-op.
    """
    with transaction.atomic():
        generation = Generation.objects.select_for_update().get(pk=generation_id)
        if not generation.seed_control:
            return None
        if generation.seed_value is not None:
            return generation.seed_value
        Generation.objects.filter(pk=generation_id, seed_value__isnull=True).update(
            seed_value=generate_seed()
        )
        return Generation.objects.values_list("seed_value", flat=True).get(pk=generation_id)


def scene_seed(*, base_seed: int | None, index: int, mode: str) -> int | None:
    """The seed sent for scene ``index`` (0-based) under ``mode``; None when seed control is off."""
    if base_seed is None:
        return None
    if mode == "shared":
        return base_seed
    if mode == "offset":
        return (base_seed + index) % SEED_SPACE
    raise ValueError(f"Unknown seed_mode {mode!r}")
