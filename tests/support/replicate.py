"""The loopback Replicate double (tests/doubles/replicate_server.py) as the tests start it: a
server over the models it knows, and the providers pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.providers import reset_providers
from tests.doubles.replicate_server import ReplicateServer

TOKEN = "r8_test_token_0123456789"
# Small and short so a whole test module renders in seconds.
# Each model renders at its own frame rate (minimax 25 fps, wan 16, the rest 24), for 1 s.
RENDER = {"render_width": 128, "render_height": 72, "max_render_seconds": 1.0}


def make_server(**switches: Any) -> ReplicateServer:
    """A loopback server over the models it knows from their published schemas."""
    options: dict[str, Any] = {
        "api_token": TOKEN,
        "latency": 0.03,
        "retry_after": 1,
        **RENDER,
    }
    options.update(switches)
    return ReplicateServer(**options)


@contextmanager
def polled_replicate(settings: Any, **switches: Any) -> Iterator[ReplicateServer]:
    """A loopback server the providers point at, with no public webhook URL (scenes complete by
    polling); ``settings`` is pytest-django's fixture, restored after the test."""
    with make_server(**switches) as server:
        settings.REPLICATE_API_TOKEN = TOKEN
        settings.REPLICATE_BASE_URL = server.base_url
        settings.COHERENCE = {**settings.COHERENCE, "PUBLIC_URL": ""}
        reset_providers()
        yield server
    reset_providers()
