"""The scale-out shape for real: two qclusters on Redis (and PostgreSQL when DATABASE_URL points at
one, as in CI's second run), media on an S3-compatible bucket, a ticker beside them; then a
stop the way systemd's KillMode=mixed does it. (The SIGKILL of a whole machine of this shape is a
case of test_kill.py.)"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.deployment import Deployment
from pipeline import media
from tests.integration.test_qcluster import LONG_PLAN, PLAN, create, finished
from tests.support.deployment import assert_rendered_once

pytestmark = pytest.mark.integration

STORED = (
    "g = Generation.objects.get(pk='{gid}')\n"
    "result = [n for n in [g.video.name] + [f.name for s in g.scenes.all() "
    "for f in (s.clip, s.last_frame, s.final_latent)] if n]"
)

# The owner and a stranger ask the API for the video (DRF's test client inside the deployment:
# the real views, database and bucket). The owner is redirected to a signed URL.
THROUGH_THE_API = """
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
g = Generation.objects.get(pk='{gid}')
stranger, _ = User.objects.get_or_create(username='stranger')
def ask(user, path):
    client = APIClient(SERVER_NAME='localhost')  # an allowed host of the deployment
    client.credentials(HTTP_AUTHORIZATION='Token ' + Token.objects.get_or_create(user=user)[0].key)
    answer = client.get(path)
    return [answer.status_code, answer.get('Location', '')]
path = f'/api/generations/{{g.pk}}/video'
result = dict(owner=ask(g.owner, path), stranger=ask(stranger, path),
              owner_detail=ask(g.owner, f'/api/generations/{{g.pk}}/')[0],
              stranger_detail=ask(stranger, f'/api/generations/{{g.pk}}/')[0])
"""


def create_owned(deployment: Deployment, plan: dict) -> str:
    code = (
        "from django.contrib.auth.models import User\n"
        "from generations.services.create import create_generation\n"
        "from generations.services.request import GenerationRequest\n"
        "owner, _ = User.objects.get_or_create(username='owner')\n"
        f"asked = GenerationRequest(scenes={plan['scenes']!r}, title={plan['title']!r})\n"
        "g = create_generation(asked, owner=owner)\n"
        "result = str(g.pk)"
    )
    return deployment.query(code)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def scaled(tmp_path, redis_url, s3_bucket):
    deployed = Deployment(tmp_path / "var", REDIS_URL=redis_url, **s3_bucket.env)
    deployed.migrate()
    yield deployed, s3_bucket
    deployed.stop()


def test_two_clusters_put_every_file_in_the_bucket_and_only_the_owner_gets_the_video(
    scaled, tmp_path
):
    deployment, bucket = scaled
    deployment.start_cluster()
    deployment.start_cluster()
    deployment.start_ticker()
    gid = create_owned(deployment, PLAN)
    result = finished(deployment, gid)
    assert result["status"] == "succeeded", result["error"]

    stored = deployment.query(STORED.format(gid=gid))
    assert len(stored) == 1 + 3 * len(PLAN["scenes"])
    assert set(stored) <= set(bucket.object_keys())
    assert files_under(deployment.media_root) == []
    assert all(bucket.public_grants(name) == [] for name in stored)

    answers = deployment.query(THROUGH_THE_API.format(gid=gid))
    status, signed = answers["owner"]
    assert status == 302 and "X-Amz-Signature=" in signed
    video = tmp_path / "video.mp4"
    video.write_bytes(httpx.get(signed).content)
    assert media.probe(video).frame_count == result["frames"]
    assert answers["stranger"][0] == 404
    assert (answers["owner_detail"], answers["stranger_detail"]) == (200, 404)


UNIT = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "coherence-qcluster.service"


def unit_setting(name: str) -> str:
    """A ``Name=value`` line of the qcluster unit operations.md ships."""
    return re.search(rf"^{name}=(\S+)", UNIT.read_text(), re.MULTILINE).group(1)


def stop_like_systemd_killmode_mixed(process: subprocess.Popen, timeout_stop: float) -> float:
    """systemd.kill(5), KillMode=mixed: SIGTERM to the main process only; what is left of the
    unit's control group (here: its process group) gets SIGKILL once the main process is gone, or
    after TimeoutStopSec. Returns how long the main process took to exit."""
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_stop)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    return time.monotonic() - started


def test_a_cluster_stopped_like_systemd_does_is_gone_in_seconds_and_loses_nothing(
    deployment, tmp_path
):
    deployment.env["COHERENCE_LOCAL_LATENCY"] = "1.0"
    cluster = deployment.start_cluster()
    deployment.start_ticker()
    gid = create(deployment, tmp_path, LONG_PLAN)
    deployment.wait_for(
        f"result = Scene.objects.filter(generation_id='{gid}', status='succeeded').count() >= 1",
        timeout=60,
        interval=0.2,
    )
    assert unit_setting("KillMode") == "mixed" and unit_setting("KillSignal") == "SIGTERM"
    timeout_stop = float(unit_setting("TimeoutStopSec"))
    stopped_in = stop_like_systemd_killmode_mixed(cluster, timeout_stop=timeout_stop)
    print(f"\nqcluster stopped in {stopped_in:.1f} s (SIGTERM to the main process only)")
    assert stopped_in <= 10
    deployment.start_cluster()
    result = finished(deployment, gid, timeout=120)
    assert result["status"] == "succeeded", result["error"]
    assert_rendered_once(deployment, [s["prediction"] for s in result["scenes"]])


def test_the_ticker_stops_at_sigterm_and_says_what_it_did(deployment):
    ticker = deployment.start_ticker()
    log = deployment.var_dir / "ticker-0.log"
    deadline = time.monotonic() + 60
    while "ticker: running" not in log.read_text():
        assert time.monotonic() < deadline and ticker.poll() is None, log.read_text()
        time.sleep(0.2)
    time.sleep(1)
    assert stop_like_systemd_killmode_mixed(ticker, timeout_stop=10) <= 10
    text = log.read_text()
    assert re.search(r"ticker: \d+ poll passes, 0 looks, 0 ended, 1 reconciles", text), text
    assert "Traceback" not in text
