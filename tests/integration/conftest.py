from collections.abc import Iterator

import pytest

from bench.deployment import Deployment
from tests.support.system import require_program


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path / "var")
    deployed.migrate()
    yield deployed
    deployed.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    """A private redis-server on loopback (Debian's redis-server; .ci/run installs it)."""
    import subprocess
    import time

    import redis

    binary = require_program("redis-server", package="redis-server")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)
