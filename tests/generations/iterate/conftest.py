"""Iteration tests run the real local model end to end (django-q2 sync mode: inline on commit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from coherence_project.conf import config
from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.providers import reset_providers


def predictions() -> set[str]:
    """Every prediction the local provider was sent in this test: one scratch folder per
    submission, kept (``keep_scratch``) instead of removed when its scene completes."""
    folder = Path(config.LOCAL_SCRATCH_DIR)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture(autouse=True)
def keep_scratch(settings, tmp_path):
    settings.COHERENCE = {
        **settings.COHERENCE,
        "LOCAL_SCRATCH_DIR": str(tmp_path / "scratch"),
        "KEEP_LOCAL_SCRATCH": True,
    }
    reset_providers()  # the local provider reads its scratch folder when it is built
    yield
    reset_providers()


def clip_bytes(scene) -> bytes:
    with scene.clip.open("rb") as handle:
        return handle.read()


@pytest.fixture
def original(plan, media_root, no_task_failures, user) -> Generation:
    generation = create_generation(GenerationRequest(scenes=plan, title="Fox and lake"), owner=user)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation
