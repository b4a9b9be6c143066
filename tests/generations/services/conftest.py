"""API clients for the limit tests: the owner and another user, with throttle counts that start
clean."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.support.api import client_for, fresh_cache  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def clean_cache(fresh_cache):  # noqa: F811
    """Every test starts and ends with no throttle counts."""


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="pw-mallory-123")


@pytest.fixture
def api(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def other_api(other_user) -> APIClient:
    return client_for(other_user)
