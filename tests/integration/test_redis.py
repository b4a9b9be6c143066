"""django-q2 on Redis with two qcluster processes sharing the queue (the scale-out shape)."""

import pytest

from bench.deployment import Deployment
from tests.integration.test_qcluster import (
    PLAN,
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
