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
def four_scenes() -> list[dict]:
    """Scene 4 continues scene 3; scene 2 continues scene 1."""
    return [
        {"prompt": "a red fox runs through snow", "duration": 1.0, "continuous": False},
        {"prompt": "the fox leaps over a log", "duration": 1.0, "continuous": True},
        {"prompt": "a quiet lake at dawn", "duration": 1.0, "continuous": False},
        {"prompt": "mist rises over the lake", "duration": 1.0, "continuous": True},
    ]


@pytest.fixture
def original(four_scenes, media_root, no_task_failures, user) -> Generation:
    generation = create_generation(scenes=four_scenes, title="Fox and lake", owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation
