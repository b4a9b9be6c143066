"""A continuous plan on tiny diffusers pipelines through real qclusters: the default cluster
(start, stitch, score) and a GPU cluster of its own (COHERENCE_GPU_CLUSTER) for the scenes, as
docs/operations.md runs them, with the operator's `generate --provider diffusers --model DIR`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import pairwise

import pytest

from bench.deployment import ROOT
from pipeline import media

pytestmark = pytest.mark.integration

PLAN = {
    "title": "open weights",
    "scenes": [
        {"prompt": "a lighthouse at night", "duration": 0.5},
        {"prompt": "the beam sweeps the sea", "duration": 0.5, "continuous": True},
        {"prompt": "a storm rolls in", "duration": 0.5, "continuous": True},
    ],
}

SCENES_OF = (
    "g = Generation.objects.get(pk='{gid}')\n"
    "result = {{'status': g.status, 'error': g.error, 'seed': g.seed, 'scenes': [dict("
    "recipe=s.recipe, latent=s.final_latent.name, clip=s.clip.name, method=s.handover_method,"
    " conditioning=s.handover_sha256) for s in g.scenes.order_by('index')]}}"
)


def generate(deployment, plan_file, *options: str) -> str:
    out = deployment.manage("generate", str(plan_file), "--provider", "diffusers", *options)
    return re.search(r"created generation ([0-9a-f-]{36})", out).group(1)


def finished(deployment, gid: str) -> dict:
    deployment.wait_for(
        f"result = Generation.objects.get(pk='{gid}').status in ('succeeded', 'failed')",
        timeout=240,
    )
    return deployment.query(SCENES_OF.format(gid=gid))


def sha(deployment, name: str, tmp_path) -> str:
    return media.sha256_file(deployment.fetch_media(name, tmp_path / name.replace("/", "_")))


@pytest.mark.parametrize("family", ["ltx", "wan"])
def test_a_gpu_cluster_renders_latent_hand_overs_and_replays_them(
    deployment, tiny_models, tmp_path, family
):
    deployment.env.update(
        {"COHERENCE_GPU_CLUSTER": "gpu", "COHERENCE_DIFFUSERS_STEPS": "2", "Q_GPU_WORKERS": "1"}
    )
    deployment.start_cluster()
    deployment.env["Q_CLUSTER_NAME"] = "gpu"
    deployment.start_cluster()
    del deployment.env["Q_CLUSTER_NAME"]
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(PLAN))
    model = str(tiny_models[family])

    first = finished(deployment, generate(deployment, plan_file, "--model", model))
    assert first["status"] == "succeeded", first["error"]
    scenes = first["scenes"]
    assert all(s["recipe"]["seed"] == first["seed"] for s in scenes)
    assert all(s["latent"] for s in scenes)
    for before, after in pairwise(scenes):
        assert after["method"] == "latent"
        assert after["conditioning"] == sha(deployment, before["latent"], tmp_path)

    seed = str(first["seed"])
    again = finished(deployment, generate(deployment, plan_file, "--model", model, "--seed", seed))
    cold = finished(
        deployment,
        generate(deployment, plan_file, "--model", model, "--seed", seed, "--no-latent-reuse"),
    )
    clips = {
        name: [sha(deployment, s["clip"], tmp_path) for s in run["scenes"]]
        for name, run in (("first", first), ("again", again), ("cold", cold))
    }
    assert clips["again"] == clips["first"]
    assert clips["cold"][0] == clips["first"][0]
    assert clips["cold"][1] != clips["first"][1]

    where = deployment.query(
        "from django_q.models import Task\n"
        "result = sorted({(t.func.rsplit('.', 1)[-1], t.cluster) for t in Task.objects.all()})"
    )
    assert ["run_scene_task", "gpu"] in where
    assert ["finish_generation_task", "coherence"] in where
    assert not any(func == "run_scene_task" and cluster != "gpu" for func, cluster in where)


def test_generate_refuses_an_unusable_model_with_one_line_and_exit_2(deployment, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(PLAN))
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "generate", str(plan_file),
         "--provider", "diffusers", "--model", str(tmp_path)],
        env=deployment.env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "holds no model_index.json" in done.stderr
    assert "Traceback" not in done.stderr
