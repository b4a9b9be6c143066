"""The API as its consumers reach it: a token-authenticated client per user, detail URLs, and
throttle counts that start clean."""

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
