"""Debian's chromium driven by playwright for the admin's browser tests (the system browser:
`playwright install` is never run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

from tests.support.system import require_program

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
