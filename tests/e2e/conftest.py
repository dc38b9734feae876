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
        refused = _csp_refusals_collected(browser)
        yield browser
        browser.close()
        # Every page the test opened ran under the Content-Security-Policy: it refused nothing.
        assert not refused, refused
        # Inside Playwright's loop the ORM keeps connections of its own: close them here, or
        # the test database could not be dropped at the end of the run.
        connections.close_all()


def _csp_refusals_collected(browser) -> list[str]:
    """What Chromium refused under the Content-Security-Policy, in any context opened."""
    refused: list[str] = []
    new_context = browser.new_context

    def context_watched(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        return context

    browser.new_context = context_watched
    return refused
