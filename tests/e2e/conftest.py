"""The browser the e2e tests drive: headless Debian Chromium through Playwright."""

from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

from tests.e2e.browsing import CHROMIUM


@pytest.fixture
def browser(monkeypatch):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it"
    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads here
    # are plain synchronous ones (the live server answers from its own thread).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()
        # Inside Playwright's loop the ORM keeps connections of its own: close them here, or
        # the test database could not be dropped at the end of the run.
        connections.close_all()
