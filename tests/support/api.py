"""The API as its consumers reach it: a token-authenticated client per user (and fixtures for
the owner, another user and staff), detail URLs, and throttle counts that start clean."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generations.models import Generation


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def detail_url(generation: Generation, action: str = "") -> str:
    return f"/api/generations/{generation.pk}/" + (f"{action}/" if action else "")


@pytest.fixture
def fresh_cache(request):
    """Throttle counts live in the database cache table, which a transactional test's flush
    leaves alone: every database test starts and ends with none."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("db")
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="pw-mallory-123")


@pytest.fixture
def api(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def other_api(other_user) -> APIClient:
    return client_for(other_user)


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    return client_for(staff_user)
