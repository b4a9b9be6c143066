"""Fixtures for the staff surfaces: finished generations rendered by the real local model."""

from __future__ import annotations

import pytest

from generations.models import Generation
from generations.services import create_generation


@pytest.fixture
def finished(plan, media_root, no_task_failures) -> Generation:
    """A 4-scene generation that ran to the end (sync mode: it runs inline on commit)."""
    generation = create_generation(scenes=plan, title="Fox and lake")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation


@pytest.fixture
def queued(plan) -> Generation:
    """A generation nobody has started (not enqueued), so it has no seed yet."""
    return create_generation(scenes=plan, title="Waiting", enqueue=False)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
