"""Kill a cluster mid-run, restart, reconcile: every generation finishes, one prediction per scene.

One test, four deployments (its parameters):

* ``qcluster`` - the embedded default (SQLite, ORM broker, local model), one cluster SIGKILLed
  and restarted; the operator's ``reconcile`` finds the scene the dead worker had claimed;
* ``redis`` - two clusters sharing a Redis queue, one SIGKILLed (Redis has no receipts: a task
  the killed cluster held is gone; the reconciler finds it);
* ``scale-out machine`` - Redis, media on an S3-compatible bucket, a whole machine (qcluster +
  ticker) SIGKILLed and restarted: its leases lapse and the generation finishes within a minute
  of the restart, with no operator command;
* ``hosted load`` - two clusters and a ticker polling the loopback Replicate server (10% 5xx,
  5% 429 + Retry-After, random latency), six generations, one cluster SIGKILLed and restarted.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.deployment import Deployment
from pipeline import media
from pipeline.providers.registry import SEEDANCE_LITE
from tests.doubles.replicate_server import ReplicateServer
from tests.integration.test_qcluster import LONG_PLAN, SCENES_OF, create, finished
from tests.support.deployment import assert_rendered_once
from tests.support.replicate import TOKEN, make_server

pytestmark = pytest.mark.integration

# The figure recovery is measured against (issue 18): a SIGKILLed cluster's generations finished
# 6 to 12 minutes later, when claims were only declared lost after Q_TIMEOUT + 60 s.
OLD_RECOVERY = "6-12 min"
HOSTED_SHAPE = (False, True, True, False, False, True)  # chains [1, 2c, 3c] [4] [5, 6c]
# A claim whose heartbeat stopped lapses after 3 s (default 20), and counts as lost after 3 s.
SHORT_LEASES = {"COHERENCE_STALE_AFTER_SECONDS": "3", "COHERENCE_LEASE_SECONDS": "3"}


def create_hosted(deployment: Deployment, tmp_path: Path, number: int) -> str:
    plan = {
        "title": f"hosted {number}",
        "scenes": [
            {"prompt": f"hosted {number} scene {i + 1}", "duration": 1.0, "continuous": c}
            for i, c in enumerate(HOSTED_SHAPE)
        ],
    }
    path = tmp_path / f"plan-{number}.json"
    path.write_text(json.dumps(plan))
    out = deployment.manage("generate", str(path), "--model", SEEDANCE_LITE)
    return re.search(r"created generation ([0-9a-f-]{36})", out).group(1)


def create_local(deployment: Deployment, tmp_path: Path, number: int) -> str:
    return create(deployment, tmp_path, LONG_PLAN)


@dataclass(frozen=True)
class Scenario:
    env: dict[str, str]
    clusters: int  # qclusters running; the first is the one killed
    generations: int
    killed_after: int  # scenes succeeded (all generations) when the kill lands
    create: Callable[[Deployment, Path, int], str] = create_local
    machine: bool = False  # the killed cluster's ticker dies with it (a whole machine)
    ticker: bool = False  # a ticker runs beside the clusters
    restart: bool = True  # the killed machine comes back
    reconcile: bool = True  # the operator runs `reconcile` once the claim is stale
    redis: bool = False
    bucket: bool = False
    hosted: bool = False
    recovers_within: float | None = None  # seconds from the restart to every generation done
    # Redis has no receipts: a task lost with the killed cluster may need a second reconcile.
    reconcile_again: bool = False


SCENARIOS = {
    "qcluster": Scenario(
        env={"COHERENCE_LOCAL_LATENCY": "1.0", **SHORT_LEASES},
        clusters=1,
        generations=1,
        killed_after=1,
    ),
    "redis": Scenario(
        env={"COHERENCE_LOCAL_LATENCY": "0.8", **SHORT_LEASES},
        clusters=2,
        generations=2,
        killed_after=2,
        restart=False,
        redis=True,
        reconcile_again=True,
    ),
    "scale-out machine": Scenario(
        env={"COHERENCE_LOCAL_LATENCY": "1.0"},  # default leases: what production runs
        clusters=1,
        generations=1,
        killed_after=2,
        machine=True,
        ticker=True,
        reconcile=False,
        redis=True,
        bucket=True,
        recovers_within=60,
    ),
    "hosted load": Scenario(
        env={
            "COHERENCE_PROVIDER": "replicate",
            "REPLICATE_API_TOKEN": TOKEN,
            "COHERENCE_POLL_INTERVAL": "0.2",
            "COHERENCE_PROVIDER_BACKOFF_SECONDS": "0.05",
            **SHORT_LEASES,
        },
        clusters=2,
        generations=6,
        killed_after=6,
        create=create_hosted,
        ticker=True,  # polls (no webhooks here): one pass for every prediction due
        hosted=True,
    ),
}


@pytest.fixture
def killable(request, tmp_path) -> Iterator[tuple[Scenario, Deployment, ReplicateServer | None]]:
    scenario: Scenario = SCENARIOS[request.param]
    env = dict(scenario.env)
    server = None
    if scenario.redis:
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    if scenario.bucket:
        env.update(request.getfixturevalue("s3_bucket").env)
    if scenario.hosted:
        server = make_server(
            latency=(0.2, 0.8), error_rate_5xx=0.10, rate_429=0.05, retry_after=1, rng_seed=11
        )
        server.start()
        env["REPLICATE_BASE_URL"] = server.base_url
    deployed = Deployment(tmp_path / "var", **env)
    try:
        deployed.migrate()
        yield scenario, deployed, server
    finally:
        deployed.stop()
        if server is not None:
            server.stop()


def start_machine(deployment: Deployment, scenario: Scenario) -> list[subprocess.Popen]:
    """What the killed machine runs: a qcluster, and its ticker when the whole machine dies."""
    return [deployment.start_cluster()] + ([deployment.start_ticker()] if scenario.machine else [])


def assert_hosted_created_once(server: ReplicateServer, results: list[dict]) -> None:
    """A scene whose id reached the database is never submitted again. The one window no client
    can close (killed between Replicate's answer and our write) shows as a second create whose
    first id we never stored; docs/operations.md names it."""
    created_ids: dict[str, list[str]] = {}
    for prediction_id in server.prediction_ids():  # in creation order
        prompt = server.prediction(prediction_id)["input"]["prompt"]
        created_ids.setdefault(prompt, []).append(prediction_id)
    for result in results:
        for scene in result["scenes"]:
            prompt = server.prediction(scene["prediction"])["input"]["prompt"]
            count = server.created_by_model_prompt[(SEEDANCE_LITE, prompt)]
            assert count == 1 or (count == 2 and scene["prediction"] == created_ids[prompt][-1])
    assert sum(v for k, v in server.responses_by_status.items() if k >= 429) > 0


@pytest.mark.parametrize("killable", list(SCENARIOS), indirect=True)
def test_a_killed_cluster_is_recovered_and_renders_every_scene_once(killable, tmp_path):
    scenario, deployment, server = killable
    doomed = start_machine(deployment, scenario)
    for _ in range(scenario.clusters - 1):
        deployment.start_cluster()
    if scenario.ticker and not scenario.machine:
        deployment.start_ticker()
    ids = [scenario.create(deployment, tmp_path, n) for n in range(scenario.generations)]
    deployment.wait_for(
        f"result = Scene.objects.filter(status='succeeded').count() >= {scenario.killed_after}",
        timeout=120,
        interval=0.2,
    )
    for process in doomed:
        deployment.kill_cluster(process)  # SIGKILL, whole process group
    if scenario.generations == 1:
        before = deployment.query(SCENES_OF.format(gid=ids[0]))
        assert before["status"] == "running"
        assert any(s["status"] != "succeeded" for s in before["scenes"])

    restarted = time.monotonic()
    if scenario.restart:
        start_machine(deployment, scenario)
    if scenario.reconcile:
        # The scene the dead worker had claimed counts as lost once it is stale (3 s here); the
        # schedule would reconcile within a minute, the operator's command does it now.
        time.sleep(3.5)
        deployment.manage("reconcile")
    results = [finished(deployment, gid, timeout=240) for gid in ids]
    if scenario.reconcile_again and any(r["status"] != "succeeded" for r in results):
        deployment.manage("reconcile")
        results = [deployment.query(SCENES_OF.format(gid=gid)) for gid in ids]
    recovery = time.monotonic() - restarted
    print(f"\ntime to finish after the kill: {recovery:.1f} s (before leases: {OLD_RECOVERY})")
    assert [r["status"] for r in results] == ["succeeded"] * len(ids), [r["error"] for r in results]
    if scenario.recovers_within is not None:
        assert recovery <= scenario.recovers_within
    predictions = [s["prediction"] for r in results for s in r["scenes"]]
    # One completed prediction per scene: none was submitted a second time once it had an id.
    assert_rendered_once(deployment, predictions)
    if server is not None:
        assert_hosted_created_once(server, results)
    if scenario.bucket:
        media_root = deployment.media_root
        assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))
    elif not scenario.hosted:
        result = results[0]
        video = deployment.fetch_media(result["video"], tmp_path / "video.mp4")
        assert media.probe(video).frame_count == sum(s["frames"] for s in result["scenes"])
