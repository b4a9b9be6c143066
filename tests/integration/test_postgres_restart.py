"""A PostgreSQL restart in the middle of a generation: the workers reconnect, nothing is lost."""

import os
import subprocess
import time

import pytest
from django.db import connections

from tests.integration.test_qcluster import LONG_PLAN, create, finished
from tests.support.deployment import assert_rendered_once

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def restart_postgres() -> None:
    data_dir, pg_bin = os.environ.get("PG_DATA_DIR"), os.environ.get("PG_BIN")
    assert data_dir and pg_bin, ".ci/run exports PG_DATA_DIR and PG_BIN for this test"
    subprocess.run(
        [
            "su",
            "postgres",
            "-c",
            f"{pg_bin}/pg_ctl -D {data_dir} -l {data_dir}.log -m fast -w restart",
        ],
        check=True,
        # The new postmaster inherits these: a pipe would never close, so send them nowhere.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


def test_a_database_restart_mid_generation_loses_nothing(deployment, tmp_path):
    deployment.env["COHERENCE_LOCAL_LATENCY"] = "0.8"
    deployment.env["COHERENCE_STALE_AFTER_SECONDS"] = "3"
    # A claim whose heartbeat stopped lapses after 3 s (default 20).
    deployment.env["COHERENCE_LEASE_SECONDS"] = "3"
    deployment.start_cluster()
    gid = create(deployment, tmp_path, LONG_PLAN)
    deployment.wait_for(
        f"result = Scene.objects.filter(generation_id='{gid}', status='succeeded').count() >= 1",
        timeout=60,
        interval=0.2,
    )
    try:
        restart_postgres()
    finally:
        connections.close_all()  # this process's own connections died with the server
    time.sleep(3.5)
    deployment.manage("reconcile")
    result = finished(deployment, gid, timeout=120)
    if result["status"] != "succeeded":
        pytest.fail(f"generation {result['status']}: {result['error']}")
    assert_rendered_once(deployment, [s["prediction"] for s in result["scenes"]])
