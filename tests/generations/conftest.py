"""Generations for the staff surfaces (admin, staff page, commands): one rendered to the end by
the real local model, one nobody started; a logged-in staff client."""

from __future__ import annotations

import pytest

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest


@pytest.fixture
def finished(plan, media_root, no_task_failures) -> Generation:
    """A 4-scene generation that ran to the end (sync mode: it runs inline on commit)."""
    generation = create_generation(GenerationRequest(scenes=plan, title="Fox and lake"))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation


@pytest.fixture
def queued(plan) -> Generation:
    """A generation nobody has started (not enqueued), so it has no seed yet."""
    return create_generation(GenerationRequest(scenes=plan, title="Waiting"), enqueue=False)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
