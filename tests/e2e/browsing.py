"""What the browser tests share: where Chromium is, where screenshots go, and signing in."""

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EWALLET_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("EWALLET_ARTIFACTS_DIR", ROOT / "var" / "artifacts" / "e2e"))
DOCS = ROOT / "docs" / "screenshots"
PASSWORD = "console-e2e-password"
DESKTOP = {"width": 1440, "height": 900}


def shot(page: Page, name: str, *, docs: bool = True, fit: bool = False) -> None:
    """A full-page screenshot in the artifacts; with EWALLET_UPDATE_SCREENSHOTS=1 the ones
    the README shows (`docs`) are copied to docs/screenshots too. `fit` first makes the
    window as tall as the page, so a bar stuck to the window's bottom stays at the end
    instead of covering the middle of a long page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if fit:
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": page.viewport_size["width"], "height": height})
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("EWALLET_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)


def log_in(browser, base: str, username: str, signed_in: str) -> Page:
    """A new browser context signed in to the console; `signed_in` is a selector of the
    dashboard that shows once it is."""
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(f"{base}/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    expect(page.locator(signed_in)).to_be_visible()
    return page
