from __future__ import annotations

import pytest

from generations.webhooks_out.signing import rotate_secret
from tests.generations.webhooks_out.consumer import Consumer, start


@pytest.fixture
def consumer():
    """A loopback consumer endpoint, stopped after the test."""
    endpoint = Consumer()
    server = start(endpoint)
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.COHERENCE = {**settings.COHERENCE, "WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def secret(user) -> str:
    return rotate_secret(user=user)
