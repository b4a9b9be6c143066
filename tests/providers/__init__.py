"""Shared helpers for the provider tests: a loopback server factory and a webhook receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

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


def write_frame_png(path: Path, *, width: int = 128, height: int = 72) -> Path:
    """A deterministic RGB gradient frame, standing in for a previous clip's last frame."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), np.full_like(x, 90)],
        axis=-1,
    ).astype(np.uint8)
    Image.fromarray(frame).save(path, format="PNG")
    return path


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    received_at: float


class WebhookReceiver:
    """A tiny HTTP endpoint that records webhook deliveries and answers ``status``."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[ReceivedWebhook] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        ReceivedWebhook(dict(self.headers.items()), body, time.time())
                    )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/hooks/replicate/"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise TimeoutError(f"received {len(self.received)} of {count} webhooks")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
