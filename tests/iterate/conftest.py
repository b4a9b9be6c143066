"""Iteration tests run the real local model end to end (django-q2 sync mode: inline on commit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generations.models import Generation
from generations.services import create_generation


def predictions(media_root: Path) -> set[str]:
    """Every prediction the local provider was ever sent (one folder per submission)."""
    folder = Path(media_root) / "local-predictions"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def clip_bytes(scene) -> bytes:
    with scene.clip.open("rb") as handle:
        return handle.read()


@pytest.fixture
def original(plan, media_root, no_task_failures, user) -> Generation:
    generation = create_generation(scenes=plan, title="Fox and lake", owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation
