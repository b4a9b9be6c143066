"""django-q2 on Redis with two qcluster processes sharing the queue (the scale-out shape)."""

import time

import pytest

from bench.deployment import Deployment
from tests.integration.test_qcluster import (
    LONG_PLAN,
    PLAN,
    SCENES_OF,
    create,
    finished,
)
from tests.support.deployment import assert_rendered_once

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_deployment(tmp_path, redis_url):
    deployed = Deployment(tmp_path / "var", REDIS_URL=redis_url)
    deployed.migrate()
    yield deployed
    deployed.stop()


def test_two_clusters_on_redis_share_the_work(redis_deployment, tmp_path):
    redis_deployment.start_cluster()
    redis_deployment.start_cluster()
    ids = [create(redis_deployment, tmp_path) for _ in range(3)]
    results = [finished(redis_deployment, gid) for gid in ids]
    assert [r["status"] for r in results] == ["succeeded"] * 3, [r["error"] for r in results]
    predictions = sorted(s["prediction"] for r in results for s in r["scenes"])
    assert_rendered_once(redis_deployment, predictions)
    assert len(predictions) == 3 * len(PLAN["scenes"])


def test_killing_one_of_two_redis_clusters_loses_nothing(redis_deployment, tmp_path):
    # Redis has no receipts: a task held by the killed cluster is gone; the reconciler finds it.
    redis_deployment.env["COHERENCE_LOCAL_LATENCY"] = "0.8"
    redis_deployment.env["COHERENCE_STALE_AFTER_SECONDS"] = "3"
    # A claim whose heartbeat stopped lapses after 3 s (default 20).
    redis_deployment.env["COHERENCE_LEASE_SECONDS"] = "3"
    doomed = redis_deployment.start_cluster()
    redis_deployment.start_cluster()
    ids = [create(redis_deployment, tmp_path, LONG_PLAN) for _ in range(2)]
    redis_deployment.wait_for(
        "result = Scene.objects.filter(status='succeeded').count() >= 2", timeout=60, interval=0.2
    )
    redis_deployment.kill_cluster(doomed)
    time.sleep(3.5)
    redis_deployment.manage("reconcile")
    results = [finished(redis_deployment, gid, timeout=120) for gid in ids]
    if any(r["status"] != "succeeded" for r in results):
        redis_deployment.manage("reconcile")
        results = [redis_deployment.query(SCENES_OF.format(gid=gid)) for gid in ids]
    assert [r["status"] for r in results] == ["succeeded"] * 2, [r["error"] for r in results]
    predictions = sorted(s["prediction"] for r in results for s in r["scenes"])
    assert_rendered_once(redis_deployment, predictions)
