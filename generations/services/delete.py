"""Deleting a generation on request; its files go once the deletion has committed."""

from __future__ import annotations

from django.db import transaction

from generations.models import Generation


def delete_generation(*, generation: Generation) -> None:
    """Delete a generation and its scenes; generations.media.cleanup removes their files once the
    deletion has committed (never before: a rolled-back delete must find its files in place)."""
    with transaction.atomic():
        generation.delete()
