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

from bench.deployment import Deployment

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
            # The model's own predict times are read from its prediction records below.
            COHERENCE_KEEP_LOCAL_SCRATCH="true",
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
            # One waiting process that polls every 0.25 s: waiting by starting a Django process per
            # look (Deployment.wait_for) would keep one of this machine's two cores busy and bill
            # the pipeline for it.
            out = deployment.manage("generate", str(plan_file), "--wait", "--verbosity", "0")
            gid = out.split("created generation ", 1)[1].split()[0]
            timings = deployment.query(TIMINGS.format(gid=gid))
            root = deployment.scratch_dir
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


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; medians shown")
    args = parser.parse_args()

    slow = [analyse(run_once(args.latency, args.workers)) for _ in range(args.repeats)]
    fast = [analyse(run_once(0.0, args.workers)) for _ in range(args.repeats)]
    ratios = sorted(run["wall"] / run["critical"] for run in slow)
    overheads = sorted(run["overhead_median"] * 1000 for run in fast)
    print(
        f"pipeline bench: 8 scenes in 3 chains (4, 2, 2), {args.workers} workers, ORM broker, "
        f"median of {args.repeats} runs"
    )
    print(f"  L = {args.latency:.2f} s per scene")
    for label, key in (
        ("wall, start → every scene done", "wall"),
        ("then stitch (stream copy) + coherence score", "finish"),
        ("critical-path bound", "critical"),
        ("sequential loop over all scenes", "sequential"),
    ):
        print(f"    {label:<47}{median_of(slow, key):.2f} s")
    print(
        f"    wall ÷ critical path   = {statistics.median(ratios):.2f}x  (goal ≤ 1.10; runs: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + ")"
    )
    sequential = statistics.median(run["wall"] / run["sequential"] for run in slow)
    print(f"    wall ÷ sequential loop = {sequential:.2f}x")
    print("  L = 0")
    print(
        f"    orchestration overhead per scene, median = {statistics.median(overheads):.0f} ms "
        "(goal ≤ 30 ms; runs: " + ", ".join(f"{o:.0f}" for o in overheads) + " ms)"
    )
    print("    = queue hop (chain heads) + claim + recipe + normalise + last frame + DB writes")


if __name__ == "__main__":
    main()
