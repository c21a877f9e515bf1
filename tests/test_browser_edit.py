"""A real browser drives the app's Edit area: generate, repaint a region, undo, download MIDI.

Same set-up as ``test_browser.py`` (Debian chromium, headless, loopback only, ``python app.py``
with the shipped pipeline on a free port)."""

import pytest
from browser_app import app_page, require_browser, set_duration

pytestmark = pytest.mark.browser
require_browser()


def _history(page) -> str:
    return page.locator("#edit-history input").first.input_value()


def test_generate_repaint_undo_and_download_midi(serve_app, tmp_path):
    from musiclm_studio import midi

    url, _ = serve_app(GRADIO_SERVER_NAME="127.0.0.1")
    with app_page(url, height=1000, timeout_ms=180_000) as page:
        page.locator("#prompt textarea").fill("a rock song with drums and electric guitar")
        set_duration(page, 3)
        page.locator("#generate").click()
        page.locator("#audio audio[src]").first.wait_for(state="attached", timeout=300_000)
        # the Edit area adopts the new clip as v1
        page.wait_for_function("document.querySelector('#edit-summary')?.innerText.includes('v1')", timeout=120_000)
        page.locator("#edit-action").get_by_text("Repaint a region").click()
        for elem, value in (("#edit-start", "1"), ("#edit-end", "2"), ("#edit-seed", "3")):
            box = page.locator(f"{elem} input[type=number]")
            box.fill(value)
            box.press("Tab")
        page.locator("#edit-apply").click()
        page.wait_for_function("document.querySelector('#edit-summary')?.innerText.includes('v2: repaint 1-2 s')",
                               timeout=300_000)
        assert _history(page).startswith("v2: repaint 1-2 s of v1")
        page.locator("#edit-audio audio[src]").first.wait_for(state="attached", timeout=60_000)
        assert page.locator("#edit-files a[download]").count() >= 4  # two versions, WAV + tokens each
        page.locator("#edit-undo").click()
        page.wait_for_function("document.querySelector('#edit-summary')?.innerText.includes('v1: generated')",
                               timeout=60_000)
        assert _history(page).startswith("v1")
        if midi.available():
            page.locator("#edit-midi").click()
            page.locator("#edit-midi-file a[download]").first.wait_for(state="attached", timeout=300_000)
            assert page.locator("#edit-midi-file a[download]").first.get_attribute("href").endswith(".mid")
            page.locator("#edit-piano-roll img[src]").first.wait_for(state="visible", timeout=30_000)
        page.screenshot(path=str(tmp_path / "edit.png"), full_page=True)
