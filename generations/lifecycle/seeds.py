"""Seed control: one seed per generation, drawn once, stored before any scene runs."""

from __future__ import annotations

import uuid

from django.db import transaction

from generations.models import Generation
from pipeline.seeds import generate_seed


def ensure_generation_seed(*, generation_id: uuid.UUID) -> int | None:
    """Return the generation's seed, drawing and storing it exactly once.

    Locking: call inside or outside a transaction; it opens its own atomic block and takes the
    generation's row lock (``select_for_update``), which serialises callers on PostgreSQL. The
    conditional update (``seed IS NULL``) makes the draw safe on SQLite too, where
    select_for_update is a no-op. Seed control off → None, nothing stored. A seed already stored
    (drawn earlier, or supplied by the caller for a regeneration) is returned as is.
    """
    with transaction.atomic():
        generation = Generation.objects.select_for_update().get(pk=generation_id)
        if not generation.seed_control:
            return None
        if generation.seed is not None:
            return generation.seed
        Generation.objects.filter(pk=generation_id, seed__isnull=True).update(seed=generate_seed())
        return Generation.objects.values_list("seed", flat=True).get(pk=generation_id)
