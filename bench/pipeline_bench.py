"""Pipeline benchmark: a real qcluster on the ORM broker, a provider with fixed latency L.

8 scenes in 3 chains (4, 2, 2). Prints wall time ÷ critical-path bound (goal ≤ 1.10), wall time ÷
a sequential loop over all scenes (the naive baseline), and, with L = 0, the orchestration overhead
per scene (goal ≤ 30 ms median). Figures come from the database's own timestamps and the model's
recorded predict times, measured in this one run.

    python -m bench.pipeline_bench [--latency 0.5] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import datetime
from pathlib import Path

from tests.integration.deployment import Deployment

PLAN = {
    "title": "bench: 8 scenes in 3 chains",
    "scenes": [
        {"prompt": "chain A scene 1", "duration": 0.5},
        {"prompt": "chain A scene 2", "duration": 0.5, "continuous": True},
        {"prompt": "chain A scene 3", "duration": 0.5, "continuous": True},
        {"prompt": "chain A scene 4", "duration": 0.5, "continuous": True},
        {"prompt": "chain B scene 1", "duration": 0.5},
        {"prompt": "chain B scene 2", "duration": 0.5, "continuous": True},
        {"prompt": "chain C scene 1", "duration": 0.5},
        {"prompt": "chain C scene 2", "duration": 0.5, "continuous": True},
    ],
}

TIMINGS = (
    "g = Generation.objects.get(pk='{gid}')\n"
    "result = {{'status': g.status, 'error': g.error, 'created': g.created_at, "
    "'started': g.started_at, 'finished': g.finished_at, 'scenes': [dict(index=s.index, "
    "continuous=s.continuous, prediction=s.prediction_id, submitted=s.submitted_at, "
    "finished=s.finished_at) for s in g.scenes.order_by('index')]}}"
)


def _t(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def run_once(latency: float, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        deployment = Deployment(
            Path(tmp) / "var",
            COHERENCE_LOCAL_LATENCY=str(latency),
            Q_WORKERS=str(workers),
            Q_POLL="0.01",
            COHERENCE_VIDEO_WIDTH="64",
            COHERENCE_VIDEO_HEIGHT="64",
            COHERENCE_VIDEO_FPS="8",
        )
        try:
            deployment.migrate()
            deployment.start_cluster()
            plan_file = Path(tmp) / "plan.json"
            plan_file.write_text(json.dumps(PLAN))
            out = deployment.manage("generate", str(plan_file))
            gid = out.split("created generation ", 1)[1].split()[0]
            deployment.wait_for(
                f"result = Generation.objects.get(pk='{gid}').status in ('succeeded', 'failed')",
                timeout=300,
                interval=0.2,
            )
            timings = deployment.query(TIMINGS.format(gid=gid))
            root = Path(deployment.env["MEDIA_ROOT"]) / "local-predictions"
            for scene in timings["scenes"]:
                record = json.loads((root / scene["prediction"] / "prediction.json").read_text())
                scene["predict_time"] = record["predict_time"]
            return timings
        finally:
            deployment.stop()


def analyse(timings: dict) -> dict[str, float]:
    if timings["status"] != "succeeded":
        raise SystemExit(f"generation {timings['status']}: {timings['error']}")
    scenes = timings["scenes"]
    predict = [s["predict_time"] for s in scenes]
    chains: list[list[int]] = []
    for s in scenes:
        if s["continuous"]:
            chains[-1].append(s["index"])
        else:
            chains.append([s["index"]])
    critical = max(sum(predict[i] for i in chain) for chain in chains)
    wall = max(_t(s["finished"]) for s in scenes) - _t(timings["started"])
    finish = _t(timings["finished"]) - max(_t(s["finished"]) for s in scenes)
    overheads = []
    for s in scenes:
        ready = (
            _t(scenes[s["index"] - 1]["finished"]) if s["continuous"] else _t(timings["started"])
        )
        overheads.append(_t(s["finished"]) - ready - s["predict_time"])
    return {
        "wall": wall,
        "finish": finish,
        "critical": critical,
        "sequential": sum(predict),
        "overhead_median": statistics.median(overheads),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    slow = analyse(run_once(args.latency, args.workers))
    fast = analyse(run_once(0.0, args.workers))
    print(f"pipeline bench: 8 scenes in 3 chains (4, 2, 2), {args.workers} workers, ORM broker")
    print(f"  L = {args.latency:.2f} s per scene")
    print(f"    wall, start → every scene done                 {slow['wall']:.2f} s")
    print(f"    then stitch (stream copy) + coherence score    {slow['finish']:.2f} s")
    print(f"    critical-path bound                            {slow['critical']:.2f} s")
    print(f"    sequential loop over all scenes                {slow['sequential']:.2f} s")
    print(f"    wall ÷ critical path   = {slow['wall'] / slow['critical']:.2f}x  (goal ≤ 1.10)")
    print(f"    wall ÷ sequential loop = {slow['wall'] / slow['sequential']:.2f}x")
    print("  L = 0")
    print(
        f"    orchestration overhead per scene, median = {fast['overhead_median'] * 1000:.0f} ms"
        "  (goal ≤ 30 ms; queue hop + claim + normalise + last frame)"
    )


if __name__ == "__main__":
    main()
