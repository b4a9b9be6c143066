"""The curl sessions of docs/api.md and docs/iterate.md, run against a live server.

One deployment for both pages (embedded default: SQLite, the ORM broker, the local model at the
house format), served by ``manage.py runserver`` with ``manage.py workers`` running, exactly as the
pages say. Each page runs as its own user with a token of its own; the pages' ``127.0.0.1:8000``
and token are replaced by the live server's. How blocks are marked and answers compared:
tests/integration/doc_sessions.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.deployment import ROOT, Deployment
from tests.integration.doc_sessions import line_matches, mismatch, run, sessions
from tests.integration.test_two_servers import free_port, wait_for_port
from tests.support.system import require_program

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DOCS = ROOT / "docs"
DOCUMENTED_SERVER = "127.0.0.1:8000"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[Deployment, str]]:
    """The deployment and the address of its runserver, with its workers running."""
    var_dir = tmp_path_factory.mktemp("docs") / "var"
    deployment = Deployment(var_dir)
    for house_format in ("COHERENCE_VIDEO_WIDTH", "COHERENCE_VIDEO_HEIGHT", "COHERENCE_VIDEO_FPS"):
        del deployment.env[house_format]  # the pages show the defaults
    deployment.migrate()
    port = free_port()
    log = open(var_dir / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"],
        env={**deployment.env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deployment.start_workers()
    try:
        wait_for_port(port, server)
        yield deployment, f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        deployment.stop()


def token_for(deployment: Deployment, username: str) -> str:
    return deployment.query(
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"user = User.objects.create_user({username!r}, password='pw-{username}-123')\n"
        "result = Token.objects.create(user=user).key"
    )


@pytest.mark.parametrize("page", ["api.md", "iterate.md"])
def test_the_documented_session_prints_what_the_server_answers(live, page, tmp_path):
    require_program("curl", package="curl")
    require_program("jq", package="jq")
    deployment, server = live
    token = token_for(deployment, page.split(".")[0])
    commands = sessions(DOCS / page)
    assert commands, f"docs/{page} has no marked session"
    for command in commands:
        command.text = re.sub(
            r"\b[0-9a-f]{40}\b", token, command.text.replace(DOCUMENTED_SERVER, server)
        )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    outputs = run(commands, cwd=tmp_path, env=env, timeout=480)
    failures = [
        f"$ {command.text}\n{why}"
        for command, output in zip(commands, outputs, strict=True)
        if (why := mismatch(command.expected, output))
    ]
    assert not failures, f"docs/{page} no longer matches the server:\n\n" + "\n\n".join(failures)


def test_the_comparison_rules():
    """What a documented answer may leave open, and what it may not (no server needed)."""
    noise = "[1,2104068197,1,0.0012]"
    assert line_matches(noise, "[1,549881279,1,0.0025]")  # another seed, the same magnitude
    assert not line_matches("[1,2104068197,1,0.49]", "[1,549881279,1,0.0025]")
    assert not line_matches('"width": 512,', '"width": 256,')
    assert not line_matches('"cost": "0.0000"', '"cost": "0.1440"')
    assert line_matches(
        '{"id":"4fb7295c-b691-41a4-ad3e-2baecc16b9f0","url":"http://127.0.0.1:8000/api/",…}',
        '{"id":"0e530cca-9bf9-4ce6-8fc9-7b643503d894","url":"http://127.0.0.1:41234/api/","x":1}',
    )
    assert line_matches('["97105c48-…","full"]', '["0e530cca-9bf9-4ce6-8fc9-7b643503d894","full"]')
    # The database picks JSON key order and number spelling (PostgreSQL's jsonb: sorted, 2 for 2.0).
    assert line_matches(
        '{"prompt":"a fox","duration":2.0,"fps":24}', '{"fps":24,"duration":2,"prompt":"a fox"}'
    )
    assert not line_matches('{"prompt":"a fox","fps":24}', '{"fps":12,"prompt":"a fox"}')
    assert (
        mismatch(
            ["HTTP/1.1 200 OK", "…", "Idempotent-Replayed: true", "…"],
            ("HTTP/1.1 200 OK\nDate: x\nIdempotent-Replayed: true\nVary: y\n"),
        )
        is None
    )
    assert mismatch(["a", "c"], "a\nb\nc") is not None
