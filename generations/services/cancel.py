"""Canceling a generation on request (API, admin, staff): the lifecycle stops it
(``generations.lifecycle.failure.stop_generation``), and a parent awaiting the choice of a seed
variation takes its unfinished variations with it."""

from __future__ import annotations

from generations.lifecycle import failure
from generations.models import Generation


def cancel_generation(*, generation: Generation) -> bool:
    """Cancel an unfinished generation (in-flight predictions too); False if it had ended.

    A generation awaiting the choice of a seed variation takes its unfinished variations with it:
    nobody will choose them any more, so they must not go on rendering (and billing)."""
    canceled = failure.stop_generation(generation_id=generation.pk)
    if canceled:
        for variation_id in generation.variations.exclude(
            status__in=Generation.TERMINAL
        ).values_list("pk", flat=True):
            failure.stop_generation(generation_id=variation_id)
    return canceled
