"""A real browser (Playwright + Debian chromium, headless, loopback only) drives the served app.

The app runs as ``python app.py`` on a free port with the shipped default pipeline; the test
types a prompt, shortens the clip, clicks Generate, waits for the audio player and the
token-stream image, and saves a screenshot (to ``$MUSICLM_SCREENSHOT`` when set: that is how
``scripts/screenshot.py`` refreshes ``assets/screenshot.png``).
"""

import os
import shutil

import pytest

from musiclm_studio import hub

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

if CHROMIUM is None:
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium); `make test` installs it",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")


@pytest.fixture(scope="module")
def app_url(serve_app):
    url, _ = serve_app(GRADIO_SERVER_NAME="127.0.0.1")
    return url


def test_generate_in_a_real_browser(app_url, tmp_path):
    screenshot = os.environ.get("MUSICLM_SCREENSHOT") or str(tmp_path / "studio.png")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(app_url, wait_until="networkidle", timeout=60_000)
            status = page.locator("#model-status").inner_text()
            untrained = hub.read_json(os.path.join(hub.DEFAULT_PIPELINE, "pipeline.json"))["untrained"]
            assert ("Untrained placeholder" in status) == bool(untrained) and "musiclm-small" in status
            page.locator("#prompt textarea").fill("A calm lo-fi hip hop beat with soft piano chords, 80 bpm.")
            duration = page.locator("#duration_s input[type=number]")
            duration.fill("3")
            duration.press("Enter")
            page.locator("#generate").click()
            # the real player is inside a shadow root with a blob: src; CSS locators pierce it
            page.locator("#audio audio[src]").first.wait_for(state="attached", timeout=120_000)
            page.locator("#token-streams img[src]").first.wait_for(state="visible", timeout=30_000)
            page.locator("#spectrogram img[src]").first.wait_for(state="visible", timeout=30_000)
            page.wait_for_function("document.querySelector('#summary')?.innerText.includes('MuLan score')",
                                   timeout=30_000)
            assert page.locator("#files a[download]").count() == 2  # WAV + overview PNG
            page.wait_for_timeout(500)  # let the images finish painting
            page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    assert os.path.getsize(screenshot) > 50_000
