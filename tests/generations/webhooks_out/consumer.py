"""A consumer's webhook endpoint on loopback: records what it is sent and answers as scripted."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Consumer:
    """``answers``: (status, extra headers, body) for each request in turn; the last repeats."""

    answers: list[tuple[int, dict[str, str], str]] = field(
        default_factory=lambda: [(200, {}, "ok")]
    )
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str = "/hooks/coherence", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def start(consumer: Consumer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            headers = {k.lower(): v for k, v in self.headers.items()}
            consumer.received.append(Received(self.path, headers, body))
            index = min(len(consumer.received) - 1, len(consumer.answers) - 1)
            status, extra, text = consumer.answers[index]
            payload = text.encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            consumer.arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    consumer.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
