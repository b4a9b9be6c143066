"""API test helpers: token-authenticated clients for two users and staff, and quick fixtures."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.support.api import (  # noqa: F401  (fixtures, and the client helper)
    api,
    client_for,
    other_api,
    other_user,
    staff_api,
)


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """The create throttle counts in the cache; every test starts with a clean slate."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def queued(plan, user) -> Generation:
    """A stored generation of ``user`` that nothing renders (no enqueue)."""
    return create_generation(
        GenerationRequest(scenes=plan, title="Fox and lake"), owner=user, enqueue=False
    )
