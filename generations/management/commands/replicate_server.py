"""Run the Replicate-compatible loopback server in the foreground (offline development).

python manage.py replicate_server --port 8765 --latency 2,5 --rate-429 0.05
REPLICATE_BASE_URL=http://127.0.0.1:8765 COHERENCE_PROVIDER=replicate python manage.py ...
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.replicate_server import DEFAULT_TOKEN, Latency, ReplicateServer


def _latency(value: str) -> Latency:
    parts = [float(part) for part in value.split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[0] <= parts[1]:
        return (parts[0], parts[1])
    raise ValueError(value)


def _size(value: str) -> tuple[int, int]:
    width, _, height = value.lower().partition("x")
    return int(width), int(height)


class Command(BaseCommand):
    help = "Run a Replicate-compatible HTTP server that renders with the local model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument(
            "--token",
            default=None,
            help="bearer token to accept (default: REPLICATE_API_TOKEN, else a fixed dev token)",
        )
        parser.add_argument(
            "--latency", default="1.0", help="seconds per lifecycle phase, or MIN,MAX for a range"
        )
        parser.add_argument("--error-rate-5xx", type=float, default=0.0)
        parser.add_argument("--rate-429", type=float, default=0.0)
        parser.add_argument("--retry-after", type=int, default=1)
        parser.add_argument("--fail-rate", type=float, default=0.0)
        parser.add_argument(
            "--reject-seed", nargs="*", default=[], metavar="MODEL", help="schemas without seed"
        )
        parser.add_argument(
            "--webhook-secret", default=None, help="default: REPLICATE_WEBHOOK_SECRET, else random"
        )
        parser.add_argument("--render-size", default="512x288", help="WIDTHxHEIGHT of outputs")
        parser.add_argument("--render-fps", type=int, default=24)
        parser.add_argument("--max-render-seconds", type=float, default=None)
        parser.add_argument("--seed", type=int, default=None, help="seed for the fault RNG")
        # For tests: stop after N seconds instead of waiting for Ctrl-C.
        parser.add_argument("--exit-after", type=float, default=None, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            latency = _latency(str(options["latency"]))
            width, height = _size(options["render_size"])
        except ValueError as exc:
            raise CommandError(f"bad value: {exc}") from exc
        token = options["token"] or getattr(settings, "REPLICATE_API_TOKEN", "") or DEFAULT_TOKEN
        secret = options["webhook_secret"] or getattr(settings, "REPLICATE_WEBHOOK_SECRET", "")
        server = ReplicateServer(
            host=options["host"],
            port=options["port"],
            api_token=token,
            webhook_secret=secret or None,
            latency=latency,
            error_rate_5xx=options["error_rate_5xx"],
            rate_429=options["rate_429"],
            retry_after=options["retry_after"],
            fail_rate=options["fail_rate"],
            reject_seed_models=options["reject_seed"],
            rng_seed=options["seed"],
            render_width=width,
            render_height=height,
            render_fps=options["render_fps"],
            max_render_seconds=options["max_render_seconds"],
        )
        with server:
            self.stdout.write(f"Replicate loopback server on {server.base_url}")
            self.stdout.write(f"  REPLICATE_BASE_URL={server.base_url}")
            self.stdout.write(f"  REPLICATE_API_TOKEN={token}")
            self.stdout.write(f"  REPLICATE_WEBHOOK_SECRET={server.webhook_secret}")
            self.stdout.write(f"  models: {', '.join(sorted(server.models()))}")
            if server.reject_seed_models:
                self.stdout.write(
                    f"  seed rejected by: {', '.join(sorted(server.reject_seed_models))}"
                )
            self.stdout.write("Ctrl-C to stop.")
            deadline = (
                None if options["exit_after"] is None else time.monotonic() + options["exit_after"]
            )
            try:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.1)
            except KeyboardInterrupt:
                self.stdout.write("stopping")
