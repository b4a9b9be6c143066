"""The loopback Replicate double (``python -m tests.doubles.replicate_server``) as a bench runs it:
a separate process, as a developer runs it with ``make replicate-server``, behind a counting
loopback proxy so the bench can read how often each prediction was looked at.

A process rather than an import: a bench depends on product code and its own modules only, and
the double is a test module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "r8_bench_token_0123456789"
_PREDICTION = re.compile(r"^/v1/predictions/([^/?]+)$")


class CountingProxy:
    """Forwards every request to ``upstream`` and counts GETs of a prediction, by its id."""

    def __init__(self, upstream: str) -> None:
        self.looks: Counter[str] = Counter()
        proxy = self
        client = httpx.Client(base_url=upstream, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "GET" and (match := _PREDICTION.match(self.path)):
                    proxy.looks[match.group(1)] += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = client.request(self.command, self.path, headers=headers, content=body)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def replicate_double(*args: str) -> Iterator[CountingProxy]:
    """The double on a free loopback port (``args``: its command-line switches), behind a
    counting proxy whose ``base_url`` the deployment's REPLICATE_BASE_URL points at."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.replicate_server", "--port", "0", *args],
        cwd=ROOT,
        env={**os.environ, "REPLICATE_API_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        match = re.search(r"http://\S+", first)
        if match is None:
            raise RuntimeError(f"the Replicate double did not start: {first!r}")
        # Keep reading what it prints, so a full pipe never blocks it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        proxy = CountingProxy(match.group(0))
        try:
            yield proxy
        finally:
            proxy.close()
    finally:
        process.terminate()
        process.wait(timeout=15)
