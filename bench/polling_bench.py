"""Polling bench: what polling costs in workers while 20 hosted scenes are in flight, no webhooks.

A real qcluster and a ticker (manage.py ticker) against the loopback Replicate server, each
prediction lasting about 2 x L seconds (L per lifecycle phase). One generation of 20 independent
scenes, so all 20 predictions are in flight together. Prints worker-seconds spent polling per
prediction-second in flight (goal ≤ 0.05; the sleeping poll task per prediction it replaces was
about 1.0: issue 18 measured 72 poll tasks holding workers 46 s during a 26 s generation), the
looks per prediction, and the most passes that ever ran at once.

    python -m bench.polling_bench [--latency 4] [--scenes 20]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import tempfile
from datetime import datetime
from pathlib import Path

from bench.deployment import Deployment
from bench.replicate_process import TOKEN, replicate_double
from pipeline.providers.registry import SEEDANCE_LITE

BEFORE = 1.0  # issue 18: one sleeping worker per prediction in flight

ROWS = (
    "from django_q.models import Task\n"
    "g = Generation.objects.get(pk='{gid}')\n"
    "result = {{'status': g.status, 'error': g.error, 'scenes': [[s.prediction_id, "
    "s.submitted_at, s.finished_at] for s in g.scenes.all()], 'poll_tasks': [[t.started, "
    "t.stopped] for t in Task.objects.filter(func__in=['generations.tasks.poll_pass_task', "
    "'generations.tasks.poll_scene_task', 'generations.tasks.check_scene_task'])]}}"
)


def _t(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def run(latency: float, scenes: int) -> dict:
    with (
        tempfile.TemporaryDirectory() as tmp,
        replicate_double(
            "--latency",
            str(latency),
            "--retry-after",
            "1",
            "--render-size",
            "128x72",
            "--max-render-seconds",
            "1",
        ) as server,
    ):
        deployment = Deployment(
            Path(tmp) / "var",
            COHERENCE_PROVIDER="replicate",
            REPLICATE_API_TOKEN=TOKEN,
            REPLICATE_BASE_URL=server.base_url,
            Q_WORKERS="4",
            Q_TIMEOUT="120",
            Q_RETRY="150",
        )
        try:
            deployment.migrate()
            deployment.start_cluster()
            ticker = deployment.start_ticker()
            plan = {
                "title": "polling bench",
                "scenes": [{"prompt": f"bench scene {i}", "duration": 1.0} for i in range(scenes)],
            }
            plan_file = Path(tmp) / "plan.json"
            plan_file.write_text(json.dumps(plan))
            out = deployment.manage("generate", str(plan_file), "--model", SEEDANCE_LITE)
            gid = re.search(r"created generation ([0-9a-f-]{36})", out).group(1)
            deployment.wait_for(
                f"result = Generation.objects.get(pk='{gid}').status in ('succeeded', 'failed')",
                timeout=600,
                interval=1.0,
            )
            rows = deployment.query(ROWS.format(gid=gid))
            deployment.kill_cluster(ticker, signal.SIGTERM, grace=15)
            log = (deployment.var_dir / "ticker-1.log").read_text()
            rows["ticker"] = log
            rows["looks"] = [server.looks[p] for p, _, _ in rows["scenes"]]
            return rows
        finally:
            deployment.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=4.0, help="seconds per lifecycle phase")
    parser.add_argument("--scenes", type=int, default=20)
    args = parser.parse_args()
    rows = run(args.latency, args.scenes)
    if rows["status"] != "succeeded":
        raise SystemExit(f"generation {rows['status']}: {rows['error']}")
    in_flight = sum(_t(done) - _t(sent) for _, sent, done in rows["scenes"])
    busy = re.search(r"busy ([0-9.]+) s of ([0-9.]+) s", rows["ticker"])
    passes = re.search(r"(\d+) poll passes", rows["ticker"])
    if busy is None or passes is None:
        raise SystemExit(f"no ticker summary in its log:\n{rows['ticker']}")
    tasks = [(_t(a), _t(b)) for a, b in rows["poll_tasks"]]
    worker_seconds = float(busy.group(1)) + sum(b - a for a, b in tasks)
    looks = rows["looks"]
    print(
        f"polling bench: {args.scenes} hosted scenes in flight at once, no webhooks, "
        f"L = {args.latency:.1f} s per phase, ticker + 1 qcluster (4 workers)"
    )
    print(f"    prediction-seconds in flight              {in_flight:.1f} s")
    print(
        f"    worker-seconds spent polling               {worker_seconds:.2f} s "
        f"(ticker passes: {passes.group(1)}, poll tasks in workers: {len(tasks)})"
    )
    print(
        f"    worker-seconds per prediction-second       {worker_seconds / in_flight:.3f} "
        f"(goal ≤ 0.05; before: ≈ {BEFORE:.1f})"
    )
    print(
        f"    poll tasks in workers at once, at most     {_max_overlap(tasks)} "
        "(ticker and tasks share the poller lease: one pass at a time)"
    )
    print(
        f"    looks per prediction                       median {sorted(looks)[len(looks) // 2]},"
        f" max {max(looks)}"
    )


if __name__ == "__main__":
    main()
