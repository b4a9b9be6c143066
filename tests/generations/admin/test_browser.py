"""A staff member, in a real Chromium: find a generation by its seed in the admin, regenerate it
with the same seed, and watch the new video play on the staff page.

Needs Debian's chromium (.ci/run installs it) and the `playwright` Python package (dev extra);
`playwright install` is never run: the system browser is used. A missing browser fails the test
under CI and is skipped, naming the package, on a developer machine (tests/support/system.py).
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_task_failures"),
    pytest.mark.timeout(180),
]


def test_staff_regenerate_a_generation_found_by_seed_and_watch_it_play(
    browser, live_server, media_root, staff_user, plan, tmp_path
):
    source = create_generation(GenerationRequest(scenes=plan, title="Fox and lake"))
    source.refresh_from_db()
    assert source.status == Generation.Status.SUCCEEDED, source.error
    seed = str(source.seed)

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(30_000)

    # Log in to the admin.
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", "pw-grace-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    # Find the generation by its seed with the changelist's search box.
    page.goto(live_server.url + reverse("admin:generations_generation_changelist"))
    page.fill("#searchbar", seed)
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(rf"\?q={seed}"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert seed in rows.first.inner_text()

    # Regenerate it with the same seed (runs inline in the live server: sync mode).
    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "regenerate_same_seed")
    page.click("button[name=index]")
    message = page.locator("ul.messagelist li.success")
    message.wait_for()
    assert f"with the same seed {seed}" in message.inner_text()

    # Follow the message's link to the new generation's staff page.
    message.get_by_role("link", name="staff page").click()
    page.wait_for_selector("#final-video")
    regenerated = Generation.objects.exclude(pk=source.pk).get()
    assert page.url.endswith(reverse("generations:detail", args=[regenerated.pk]))
    assert regenerated.source_generation_id == source.pk
    assert page.locator("#seed").inner_text() == seed

    # The final video really loads and plays in the browser.
    page.wait_for_function(
        "() => { const v = document.getElementById('final-video');"
        " return v.readyState >= 2 && v.duration > 0; }"
    )
    duration = page.evaluate("() => document.getElementById('final-video').duration")
    assert duration == pytest.approx(4.0, abs=0.2)
    page.evaluate("() => document.getElementById('final-video').play()")
    page.wait_for_function("() => document.getElementById('final-video').currentTime > 0.2")
    assert page.locator("#timeline .segment").count() == 4

    screenshot = tmp_path / "staff-page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
