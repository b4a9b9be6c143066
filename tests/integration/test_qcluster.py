"""Real qcluster processes on the ORM broker (or Redis when REDIS_URL is set)."""

import json
import re

import pytest

from pipeline import media

pytestmark = pytest.mark.integration

PLAN = {
    "title": "integration",
    "scenes": [
        {"prompt": "a lighthouse at dusk", "duration": 1.0},
        {"prompt": "the beam sweeps the sea", "duration": 1.0, "continuous": True},
        {"prompt": "a boat in the swell", "duration": 1.5},
        {"prompt": "the boat reaches harbour", "duration": 1.0, "continuous": True},
    ],
}

SCENES_OF = (
    "g = Generation.objects.get(pk='{gid}')\n"
    "result = {{'status': g.status, 'error': g.error, 'video': g.video.name, "
    "'frames': g.frame_count, 'seed': g.seed, 'scenes': [dict(index=s.index, "
    "status=s.status, prediction=s.prediction_id, attempts=s.attempts, frames=s.frame_count, "
    "seed=s.seed) for s in g.scenes.order_by('index')]}}"
)


def create(deployment, tmp_path, plan=PLAN) -> str:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    out = deployment.manage("generate", str(plan_file))
    return re.search(r"created generation ([0-9a-f-]{36})", out).group(1)


def finished(deployment, gid: str, timeout: float = 180) -> dict:
    deployment.wait_for(
        f"result = Generation.objects.get(pk='{gid}').status in ('succeeded', 'failed')",
        timeout=timeout,
    )
    return deployment.query(SCENES_OF.format(gid=gid))


def test_a_real_cluster_runs_a_generation_to_a_stitched_video(deployment, tmp_path):
    deployment.start_cluster()
    gid = create(deployment, tmp_path)
    result = finished(deployment, gid)
    assert result["status"] == "succeeded", result["error"]
    video = deployment.fetch_media(result["video"], tmp_path / "video.mp4")
    info = media.probe(video)
    assert info.frame_count == sum(s["frames"] for s in result["scenes"]) == result["frames"]
    assert {s["seed"] for s in result["scenes"]} == {result["seed"]}


# Three chains of three: with ~1 s of simulated model time per scene and two workers, the work
# takes several seconds, so a kill lands mid-generation (test_kill.py, test_stopping.py...).
LONG_PLAN = {
    "title": "integration, long",
    "scenes": [
        {"prompt": f"chain {chain} scene {i}", "duration": 0.5, "continuous": i > 0}
        for chain in range(3)
        for i in range(3)
    ],
}
