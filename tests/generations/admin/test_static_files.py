"""The admin is styled on the README path: `make migrate`, then `runserver` with DEBUG off.

A real `manage.py runserver` (production settings, DEBUG off, nothing collected) is started on
loopback and a real Chromium logs in to the admin: every /static/ file the pages ask for is
served (WhiteNoise, from the staticfiles finders), and the admin's stylesheet is applied.
pytest-django's live_server would not do: it serves static files itself, whatever the settings.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.deployment import ROOT, Deployment
from tests.integration.test_two_servers import free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PASSWORD = "pw-grace-123"


@pytest.fixture
def readme_server(tmp_path, monkeypatch) -> Iterator[str]:
    """`manage.py runserver` as the README runs it, with a staff user; yields its base URL."""
    monkeypatch.delenv("DJANGO_STATIC_ROOT", raising=False)
    deployment = Deployment(tmp_path / "var", DJANGO_DEBUG="false")
    deployment.migrate()
    deployment.query(
        "from django.contrib.auth.models import User\n"
        f"User.objects.create_superuser('grace', password={PASSWORD!r})\n"
        "result = True"
    )
    port = free_port()
    with open(tmp_path / "runserver.log", "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "runserver",
                "--noreload",
                f"127.0.0.1:{port}",
            ],
            env=deployment.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        deployment.stop()
    # No "No directory at: .../static/" (nor any other warning) at start-up.
    assert "Warning" not in (tmp_path / "runserver.log").read_text()


def test_admin_has_its_styles_and_scripts_with_debug_off(browser, readme_server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    static = []
    page.on("response", lambda r: static.append(r) if "/static/" in r.url else None)

    page.goto(readme_server + "/admin/login/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    page.goto(readme_server + "/admin/auth/user/")
    page.wait_for_selector("#result_list")
    page.wait_for_load_state("networkidle")

    assert {r.status for r in static} == {200}, [(r.url, r.status) for r in static]
    types = {r.url.rsplit("/", 1)[-1]: r.headers["content-type"] for r in static}
    assert types["base.css"].startswith("text/css"), types
    assert any(name.endswith(".js") and "javascript" in t for name, t in types.items()), types

    # base.css is applied: the header takes its colour from the stylesheet's --header-bg
    # (an unstyled page has a transparent header and no such variable).
    header_bg = page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--header-bg').trim()"
    )
    assert header_bg
    painted = page.evaluate(
        "() => getComputedStyle(document.getElementById('header')).backgroundColor"
    )
    assert painted not in ("", "transparent", "rgba(0, 0, 0, 0)")
    # The changelist's script ran: actions.js wires the select-all checkbox.
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() == 1
