"""``manage.py workers`` stops within 10 s and loses nothing, however it is stopped.

A bare ``qcluster`` sent SIGTERM to its whole process group (``kill -- -PGID``, a container runtime
without an init, many supervisors) hung for good: its sentinel and workers died at once and the
main process waited on the dead sentinel forever (django-q2 issue #346). Each way of stopping
lands while a scene is being rendered; the scene in hand must finish, no process of the cluster
may be left, and after a restart the generation must complete with one prediction per scene
(nothing cut short, nothing rendered twice, no lease recovery needed).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.integration.test_qcluster import create, finished
from tests.support.deployment import assert_rendered_once

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WAYS: dict[str, Callable[[int], None]] = {
    "SIGTERM to the pid": lambda pid: os.kill(pid, signal.SIGTERM),
    "SIGTERM to the process group": lambda pid: os.killpg(pid, signal.SIGTERM),
    "SIGINT to the process group (Ctrl-C)": lambda pid: os.killpg(pid, signal.SIGINT),
}

# One chain: each scene starts when the one before it is done, so there is always exactly one
# render in flight to be caught by a stop (1 s of simulated model time each).
CHAIN = {
    "title": "stops",
    "scenes": [
        {"prompt": f"a lantern in the fog, shot {i}", "duration": 0.5, "continuous": i > 0}
        for i in range(4)
    ],
}


def render_in_flight(scratch: Path, timeout: float = 60) -> Path:
    """The local model's scratch folder of a render under way (no finished record yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scratch.exists():
            for folder in scratch.iterdir():
                if not (folder / "prediction.json").exists():
                    return folder
        time.sleep(0.05)
    raise AssertionError(f"no render started within {timeout} s")


def alive(processes: list[psutil.Process]) -> list[str]:
    left = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {process.cmdline()}")
        except psutil.NoSuchProcess:
            pass
    return left


def test_workers_stop_within_10_s_however_stopped_and_lose_nothing(deployment, tmp_path):
    deployment.env["COHERENCE_LOCAL_LATENCY"] = "1.0"
    gid = create(deployment, tmp_path, CHAIN)
    for way, send in WAYS.items():
        workers = deployment.start_workers()
        rendering = render_in_flight(deployment.scratch_dir)
        cluster = psutil.Process(workers.pid).children(recursive=True)
        assert len(cluster) >= 4, f"{way}: the cluster is not up: {cluster}"  # main, sentinel, ...
        send(workers.pid)
        try:
            workers.wait(timeout=10)
        except Exception:
            raise AssertionError(f"{way}: the workers were still running 10 s later") from None
        assert workers.returncode == 0, f"{way}: exit status {workers.returncode}"
        assert alive(cluster) == [], f"{way}: processes left behind"
        # The render in hand was finished and handed over, not cut short.
        assert (rendering / "prediction.json").exists() or not rendering.exists(), way

    deployment.start_workers()
    result = finished(deployment, gid, timeout=120)
    assert result["status"] == "succeeded", result["error"]
    assert [s["attempts"] for s in result["scenes"]] == [1] * len(CHAIN["scenes"])
    assert_rendered_once(deployment, [s["prediction"] for s in result["scenes"]])
    assert list(deployment.scratch_dir.iterdir()) == []  # no render was ever abandoned
