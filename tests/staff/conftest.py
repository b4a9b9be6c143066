"""Fixtures for the staff surfaces: finished generations rendered by the real local model, and
Debian's chromium driven by playwright (the system browser: `playwright install` is never run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

from generations.models import Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from tests.support.system import require_program


@pytest.fixture
def finished(plan, media_root, no_task_failures) -> Generation:
    """A 4-scene generation that ran to the end (sync mode: it runs inline on commit)."""
    generation = create_generation(GenerationRequest(scenes=plan, title="Fox and lake"))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    return generation


@pytest.fixture
def queued(plan) -> Generation:
    """A generation nobody has started (not enqueued), so it has no seed yet."""
    return create_generation(GenerationRequest(scenes=plan, title="Waiting"), enqueue=False)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium_path() -> Path:
    return Path(require_program(str(CHROMIUM), package="chromium"))


@pytest.fixture
def browser(chromium_path, monkeypatch):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The playwright package is missing: pip install -e '.[dev]'.")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # plain synchronous code, so Django's async-safety guard must not refuse them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
            # Inside sync_playwright() the thread runs in another context, so Django opened a
            # second database connection for the test; close it, or it outlives the test database.
            connections.close_all()
