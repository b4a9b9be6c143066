"""python manage.py ticker — the deployment's clock: poller passes and frequent reconciles."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand

from generations.lifecycle.ticker import run


class Command(BaseCommand):
    help = (
        "Wake up when hosted predictions are due for a look (one batched pass for all of them) "
        "and reconcile every COHERENCE_RECONCILE_INTERVAL. Never a worker; run it beside the "
        "qclusters. Stops at SIGTERM / SIGINT."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        started = time.monotonic()
        self.stdout.write("ticker: running (SIGTERM stops it)")
        self.stdout.flush()
        stats = run(stop)
        self.stdout.write(stats.summary(time.monotonic() - started))
