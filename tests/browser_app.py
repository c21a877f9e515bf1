"""The real-browser tests' one set-up: Debian chromium, headless, loopback only, a page on the
served app (``conftest.serve_app``), loaded once the page's load event has fired and the Generate
button shows (the session heartbeat keeps a request open, so the network never idles)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_browser():
    """Skip the calling test module where Debian chromium or playwright is missing."""
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium); `make test` installs it",
                    allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")


@contextmanager
def app_page(url: str, height: int = 900, extra_args: tuple = (), timeout_ms: int = 120_000):
    """A loaded page of the app at ``url`` in a 1280 x ``height`` viewport; the browser closes after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS + list(extra_args))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": height})
            page.goto(url, wait_until="load", timeout=timeout_ms)
            page.locator("#generate").wait_for(state="visible", timeout=timeout_ms)
            yield page
        finally:
            browser.close()


def set_duration(page, seconds: float) -> None:
    """Type a clip length into the app's Duration box and commit it."""
    duration = page.locator("#duration_s input[type=number]")
    duration.fill(f"{seconds:g}")
    duration.press("Enter")
