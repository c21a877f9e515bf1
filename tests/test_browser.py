"""A real browser (Playwright + Debian chromium, headless, loopback only) drives the served app.

The app runs as ``python app.py`` on a free port with the shipped default pipeline; the tests
type a prompt, shorten the clip, click Generate, wait for the audio player and the token-stream
image, and save a screenshot (to ``$MUSICLM_SCREENSHOT`` when set: that is how
``scripts/screenshot.py`` refreshes ``assets/screenshot.png``). Others check what a new user
meets: the empty prompt box's hint, Stop on an idle page and mid-run, an error, and the melody
row of the token image (screenshots of Stop and the error go to ``$MUSICLM_DOCS_IMG`` when set).
"""

import os
import urllib.request

import numpy as np
import pytest
from browser_app import app_page, require_browser, set_duration

from musiclm_studio import hub
from musiclm_studio.ui.controls import EXAMPLE_PROMPTS, PROMPT_PLACEHOLDER

pytestmark = pytest.mark.browser
require_browser()


@pytest.fixture(scope="module")
def app_url(serve_app):
    url, _ = serve_app(GRADIO_SERVER_NAME="127.0.0.1")
    return url


def test_generate_in_a_real_browser(app_url, tmp_path):
    screenshot = os.environ.get("MUSICLM_SCREENSHOT") or str(tmp_path / "studio.png")
    with app_page(app_url) as page:
        status = page.locator("#model-status").inner_text()
        untrained = hub.read_json(os.path.join(hub.DEFAULT_PIPELINE, "pipeline.json"))["untrained"]
        assert ("Untrained placeholder" in status) == bool(untrained) and "musiclm-small" in status
        page.locator("#prompt textarea").fill("A calm lo-fi hip hop beat with soft piano chords, 80 bpm.")
        set_duration(page, 3)
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
    assert os.path.getsize(screenshot) > 50_000


@pytest.fixture()
def page(app_url):
    with app_page(app_url) as page:
        yield page


def _docs_screenshot(page, name: str, tmp_path, top: str = "#prompt", bottom: str = "#notices") -> str:
    """A screenshot of the page from element ``top`` down to ``bottom`` (small: CSS pixels), to
    $MUSICLM_DOCS_IMG or tmp_path."""
    folder = os.environ.get("MUSICLM_DOCS_IMG") or str(tmp_path)
    path = os.path.join(folder, name)
    page.evaluate("window.scrollTo(0, 0)")
    first, last = page.locator(top).bounding_box(), page.locator(bottom).bounding_box()
    y0, y1 = max(0, first["y"] - 90), last["y"] + last["height"] + 10
    page.screenshot(path=path, scale="css", full_page=True, clip={"x": 0, "y": y0, "width": 1280, "height": y1 - y0})
    if os.environ.get("MUSICLM_DOCS_IMG"):  # docs images: 256 colours keep them small
        from PIL import Image

        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def _text(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def test_empty_prompt_shows_a_neutral_hint_not_an_example(page):
    box = page.locator("#prompt textarea")
    assert box.input_value() == ""
    hint = box.get_attribute("placeholder")
    assert hint == PROMPT_PLACEHOLDER and not any(hint in p or p in hint for p in EXAMPLE_PROMPTS)


def test_stop_on_an_idle_page_then_mid_run(page, tmp_path):
    page.locator("#stop").click()
    page.wait_for_function("document.querySelector('#notices')?.innerText.includes('Nothing to stop')",
                           timeout=15_000)
    # a short clip first, so there is a previous clip that Stop must not leave on screen
    page.locator("#prompt textarea").fill("A calm piano piece.")
    set_duration(page, 2)
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#summary')?.innerText.includes('MuLan score')", timeout=120_000)
    assert "Stopping" not in _text(page, "notices") and "Nothing to stop" not in _text(page, "notices")
    page.locator("#audio audio[src]").first.wait_for(state="attached", timeout=30_000)
    set_duration(page, 30)
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#notices')?.innerText.includes('Generating')", timeout=60_000)
    page.wait_for_timeout(1500)
    page.locator("#stop").click()
    page.wait_for_function("document.querySelector('#notices')?.innerText.trim() === 'Stopped.'", timeout=60_000)
    page.wait_for_function("document.querySelector('#summary')?.innerText.includes('partial')", timeout=15_000)
    assert "MuLan score" not in _text(page, "summary")  # the previous clip's summary is gone
    assert page.locator("#audio audio[src]").count() == 0  # and its audio
    assert page.locator("#spectrogram img[src]").count() == 0  # and its spectrogram
    page.locator("#token-streams img[src]").first.wait_for(state="visible", timeout=15_000)
    page.wait_for_timeout(500)
    assert os.path.getsize(_docs_screenshot(page, "after-stop.png", tmp_path)) > 10_000


def test_an_error_is_shown_without_server_paths(page, tmp_path):
    page.locator("#prompt textarea").fill("")
    page.locator("#generate").click()
    toast = page.get_by_text("The prompt is empty")
    toast.first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(300)
    assert "/tmp" not in page.locator("body").inner_text()
    assert os.path.getsize(_docs_screenshot(page, "after-error.png", tmp_path)) > 10_000


def _sine(freq: float, seconds: float, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return 0.4 * np.sin(2 * np.pi * freq * t)


def _bands(image: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of the figure where a stream is drawn (rows with many saturated pixels)."""
    rgb = image[..., :3].astype(float)
    saturated = (rgb.max(-1) - rgb.min(-1)) > 40
    rows = saturated.sum(1) > image.shape[1] * 0.3
    bands, start = [], None
    for y, on in enumerate(list(rows) + [False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            bands.append((start, y))
            start = None
    return bands


def test_melody_row_is_drawn_on_the_clip_time_axis(page, tmp_path):
    import soundfile as sf

    # 2 s of A, then 18 s of C: a clip of 2 s must show A across the melody row's whole width
    path = tmp_path / "long-melody.wav"
    sf.write(str(path), np.concatenate([_sine(220.0, 2.0), _sine(261.63, 18.0)]).astype(np.float32), 16_000)
    page.get_by_text("Story mode and melody").first.click()
    page.locator("#melody input[type=file]").set_input_files(str(path))
    page.locator("#melody audio").first.wait_for(state="attached", timeout=30_000)
    page.locator("#prompt textarea").fill("A hummed melody on a soft synth.")
    set_duration(page, 2)
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#summary')?.innerText.includes('MuLan score')", timeout=120_000)
    src = page.locator("#token-streams img[src]").first.get_attribute("src")
    url = src if src.startswith("http") else page.url.rstrip("/") + "/" + src.lstrip("/")
    import io

    from PIL import Image

    with urllib.request.urlopen(url, timeout=30) as response:  # Gradio serves numpy images as WebP
        image = np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))
    bands = _bands(image)
    assert len(bands) >= 4, bands  # mulan, melody, semantic, coarse, fine
    top, bottom = bands[1]  # the melody row
    row = image[(top + bottom) // 2].astype(int)
    coloured = np.flatnonzero((row.max(-1) - row.min(-1)) > 40)
    left, right = coloured.min(), coloured.max()
    early, late = row[left + (right - left) // 20], row[left + (right - left) * 6 // 10]
    assert np.abs(early - late).max() < 30, (early, late)  # one pitch class across the clip's 2 s
    assert "only the first 2 s" in _text(page, "notices")  # and only those 2 s of the file were read
