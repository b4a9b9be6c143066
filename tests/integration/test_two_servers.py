"""The caps and the throttle hold across server processes: two real servers on loopback share
one SQLite database (a deployment as an operator runs it, DEBUG off), and one user fires at both;
once with the database cache, once with Redis (REDIS_URL set).

Before: 120 creates in 4 s were accepted from one user over two processes (the throttle lived in
each process's LocMemCache). Now the active cap is counted in the database under a lock, and the
throttle in the shared cache: Redis, or the database cache table that `migrate` creates.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.deployment import ROOT, Deployment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CAP = 3
RATE = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server on {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"no server on {port} after {timeout} s")


@contextmanager
def two_servers(var_dir: Path, **env: str) -> Iterator[tuple[Deployment, list[str]]]:
    deployment = Deployment(
        var_dir, COHERENCE_MAX_ACTIVE_PER_USER=str(CAP), COHERENCE_CREATE_RATE=f"{RATE}/min", **env
    )
    deployment.migrate()
    processes, urls = [], []
    try:
        for _ in range(2):
            port = free_port()
            log = open(var_dir / f"server-{port}.log", "w")  # noqa: SIM115
            command = [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload"]
            processes.append(
                subprocess.Popen(
                    [*command, f"127.0.0.1:{port}"],
                    env=deployment.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
            wait_for_port(port, processes[-1])
        yield deployment, urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        deployment.stop()


@pytest.fixture(params=["database cache", "redis"])
def servers(request, tmp_path) -> Iterator[tuple[Deployment, list[str]]]:
    extra = {"REDIS_URL": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    with two_servers(tmp_path / "var", **extra) as running:
        yield running


@pytest.fixture
def one_deployment(tmp_path) -> Iterator[tuple[Deployment, list[str]]]:
    with two_servers(tmp_path / "var") as running:
        yield running


def token_for(deployment: Deployment, username: str) -> str:
    return deployment.query(
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"user = User.objects.create_user({username!r}, password='pw-123456')\n"
        "result = Token.objects.create(user=user).key"
    )


def create(base: str, token: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{base}/api/generations/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_cap_and_throttle_hold_across_two_server_processes(servers):
    deployment, urls = servers
    plan = {"scenes": [{"prompt": "a fox", "duration": 1.0}]}

    # The throttle: one user alternating between the servers (bodies refused as 400 still count).
    thrower = token_for(deployment, "thrower")
    codes = [create(urls[i % 2], thrower, {"scenes": []}) for i in range(RATE + 2)]
    assert codes == [400] * RATE + [429, 429]

    # The active cap: eight creates at once, four on each server; no cluster runs, so every
    # accepted generation stays queued.
    racer = token_for(deployment, "racer")
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda i: create(urls[i % 2], racer, plan), range(8)))
    assert codes.count(201) == CAP, codes
    assert set(codes) == {201, 429}
    stored = deployment.query("result = Generation.objects.filter(owner__username='racer').count()")
    assert stored == CAP


def test_traversal_over_a_real_socket_is_a_404(one_deployment):
    # A real server decodes %2e%2e and keeps backslashes as they are: check what reaches Django.
    deployment, urls = one_deployment
    token = token_for(deployment, "prober")
    for path in (
        "/media/generations/x/../../etc/passwd",
        "/media/generations/x/%2e%2e/%2e%2e/etc/passwd",
        "/media/generations/x/%252e%252e/%252e%252e/etc/passwd",
        "/media/generations/x/..%5c..%5cetc%5cpasswd",
        "/api/generations/00000000-0000-0000-0000-000000000000/video/%2e%2e/%2e%2e/health/",
    ):
        result = subprocess.run(
            [
                "curl",
                "-s",
                "--path-as-is",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                f"Authorization: Token {token}",
                urls[0] + path,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.stdout == "404", (path, result.stdout)
