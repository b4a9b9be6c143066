"""What a lifecycle step reports: its ``Outcome`` (what the tasks enqueue next), the refusal of a
step the row's state does not allow, and the progress bar the steps move."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from generations.models import Generation


class GenerationStateError(Exception):
    """A step was asked of a generation in a state that does not allow it."""


@dataclass(frozen=True)
class Outcome:
    """What a step did, so tasks know what to enqueue next."""

    ready_scenes: tuple[int, ...] = ()
    finish: bool = False
    poll: bool = False


def set_progress(generation_id: uuid.UUID, *, stage: str, progress: int | None = None) -> None:
    updates: dict[str, Any] = {"stage": stage, "updated_at": timezone.now()}
    if progress is not None:
        updates["progress"] = max(0, min(100, progress))
    Generation.objects.filter(pk=generation_id).update(**updates)
