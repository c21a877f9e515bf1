"""The Jam tab in a real browser (Playwright + Debian chromium, headless, loopback only): start a
jam on the shipped model, hear it play (the page's Web Audio player's clock runs), change the
prompt, see it play on past the change, stop it and get the recording."""

import os
import time

import pytest
from browser_app import app_page, require_browser

pytestmark = pytest.mark.browser
require_browser()
PLAYED = "(window.musiclmJam ? window.musiclmJam.played() : 0)"


def _played(page) -> float:
    return page.evaluate(PLAYED)


def test_jam_plays_follows_a_prompt_change_and_stops(serve_app, tmp_path):
    url, _ = serve_app(GRADIO_SERVER_NAME="127.0.0.1")
    with app_page(url, height=1000, extra_args=("--autoplay-policy=no-user-gesture-required",)) as page:
        page.get_by_role("tab", name="Jam").click()
        page.locator("#jam-prompt-1 textarea").fill("a calm solo piano piece, no drums")
        clicked = time.monotonic()
        page.locator("#jam-start").click()
        page.wait_for_function(f"{PLAYED} > 0", timeout=180_000)
        first_audio_s = time.monotonic() - clicked
        page.wait_for_function("document.querySelector('#jam-status')?.innerText.includes('chunk 2')",
                               timeout=180_000)
        before = _played(page)
        page.locator("#jam-prompt-1 textarea").fill("an energetic funk groove with loud drums")
        page.locator("#jam-prompt-1 textarea").press("Enter")  # applied from the next chunk
        page.wait_for_function(f"{PLAYED} > {before + 4}", timeout=240_000)  # plays on past the change
        assert page.locator("#jam-tokens img[src]").count() >= 1
        page.screenshot(path=os.environ.get("MUSICLM_JAM_SCREENSHOT") or str(tmp_path / "jam.png"), full_page=True)
        page.locator("#jam-stop").click()
        page.wait_for_function("document.querySelector('#jam-status')?.innerText.startsWith('Stopped.')",
                               timeout=120_000)
        assert page.evaluate("window.musiclmJam.sources.size") == 0  # Stop silenced the page: nothing scheduled
        page.wait_for_selector("#jam-recording audio", state="attached", timeout=60_000)  # what was played
        print(f"first audio {first_audio_s:.1f} s after Start; status: {page.locator('#jam-status').inner_text()}")
