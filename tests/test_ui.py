"""The Gradio app and the Jupyter widgets, through their Python callables, on the tiny pipeline."""

import math

import gradio as gr
import numpy as np
import pytest

from musiclm_studio.sampling_args import DEFAULTS, LIMITS
from musiclm_studio.ui import controls
from musiclm_studio.ui.gradio_app import build_demo

SETTINGS = dict(duration_s=1.0, temperature_semantic=1.0, temperature_coarse=0.95, temperature_fine=0.7, top_k=250,
                top_p=1.0, guidance_scale=3.0, seed=7, randomise_seed=False, num_candidates=1, bpm=0.0, key="")


@pytest.fixture(scope="module")
def demo(tiny_pipe):
    return build_demo(tiny_pipe)


def run(demo, prompt="a calm piano piece", story="", melody=None, **changes):
    values = {**SETTINGS, **changes}
    return list(demo.handler.generate(prompt, story, melody, *(values[n] for n in controls.SETTINGS[2:])))


def test_controls_follow_the_shared_limits():
    for name in ("duration_s", "top_k", "top_p", "guidance_scale", "num_candidates"):
        control = controls.CONTROLS[name]
        assert (control.minimum, control.maximum) == LIMITS[name] and control.default == DEFAULTS[name]
    assert controls.CONTROLS["temperature_fine"].default == 0.7
    # the candidates control starts at the loaded pipeline's own default
    from types import SimpleNamespace

    four = SimpleNamespace(config=SimpleNamespace(num_candidates=4))
    assert controls.control_default(controls.CONTROLS["num_candidates"], four) == 4
    assert controls.control_default(controls.CONTROLS["top_k"], four) == DEFAULTS["top_k"]
    kwargs = controls.pipeline_kwargs({**SETTINGS, "prompt": "x", "story": "", "top_k": 250.0, "seed": 3.0})
    assert kwargs["temperature"] == (1.0, 0.95, 0.7) and kwargs["top_k"] == 250 and kwargs["seed"] == 3
    assert kwargs["guidance_scale"] == {"semantic": 3.0}  # the slider guides the semantic stage only
    assert controls.pipeline_kwargs({**SETTINGS, "randomise_seed": True})["seed"] is None
    assert kwargs["bpm"] is None and controls.pipeline_kwargs({**SETTINGS, "bpm": 96.0})["bpm"] == 96.0  # 0: the prompt's
    assert kwargs["key"] is None and controls.pipeline_kwargs({**SETTINGS, "key": "A minor"})["key"] == "A minor"
    assert {value for _, value in controls.CONTROLS["key"].choices} >= {"", "minor", "major", "F# minor", "Bb major"}
    assert controls.parse_story("2: intro\n 3 : drums in \n") == [("intro", 2.0), ("drums in", 3.0)]
    with pytest.raises(ValueError, match="SECONDS: prompt"):
        controls.parse_story("no seconds here")


def test_examples_carry_musiccaps_attribution():
    musiccaps = [source for _, source in controls.EXAMPLES if source.startswith("MusicCaps")]
    assert len(musiccaps) >= 3 and all("CC BY-SA 4.0" in s and "Google" in s for s in musiccaps)
    assert "CC BY-SA 4.0" in controls.MUSICCAPS_ATTRIBUTION


def test_status_says_untrained_in_plain_words(tiny_pipe):
    assert not tiny_pipe.trained
    assert "Untrained placeholder" in controls.model_status(tiny_pipe)
    about = controls.about_markdown(tiny_pipe)
    assert "semantic_lm" in about and "untrained" in about


def test_about_panel_shows_the_stored_evaluation(tiny_pipe, tmp_path):
    import json

    from musiclm_studio.pipeline import MusicLMPipeline

    tiny_pipe.save_pretrained(str(tmp_path))
    loaded = MusicLMPipeline.from_pretrained(str(tmp_path))
    assert loaded.eval_summary is None and "no evaluation stored" in controls.about_markdown(loaded)
    summary = {"prompts": 200, "seconds": 10.0, "mcc": 0.4321, "mcc_real_ceiling": 0.5, "fad_mulan": 0.123,
               "fad_codec_floor": 0.01, "attribute_adherence": {"tempo": 0.75, "mode": 0.5},
               "real_clip_adherence": {"tempo": 0.85}, "chance_adherence": {"tempo": 0.38}, "melody_chroma_cosine": 0.61,
               "rtf": 0.3, "first_audio_s": 0.5, "peak_rss_mb": 900.0}
    (tmp_path / "eval_summary.json").write_text(json.dumps(summary))
    about = controls.about_markdown(loaded)
    assert "200 prompts" in about and "0.432" in about and "0.610" in about
    assert "tempo 75% (real clips 85%, chance 38%)" in about and about.count("mode 50%") == 1 and "mode 50% (" not in about
    (tmp_path / "eval_summary.json").write_text("{broken")
    assert "no evaluation stored" in controls.about_markdown(loaded)  # a corrupt file hides figures, nothing crashes


def test_demo_has_the_controls_and_a_limited_queue(demo):
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"prompt", "generate", "stop", "audio", "token-streams", "spectrogram", "melody", "seed"} <= ids
    assert all(name in ids for name in controls.CONTROLS)
    generate = [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "generate"]
    assert generate and generate[0].concurrency_limit == 1


def test_generate_streams_tokens_then_returns_everything(demo, tiny_pipe):
    updates = run(demo)
    wav, files, spectrogram, tokens, summary, notices, seed = updates[-1]
    assert wav.endswith(".wav") and len(files) == 2 and files[1].endswith(".png")
    assert spectrogram.ndim == 3 and tokens.ndim == 3 and tokens.dtype == np.uint8
    assert "MuLan score" in summary and "total" in summary and seed == 7
    assert "Untrained placeholder" in notices
    again = run(demo)[-1]
    assert again[4].split("**Timings:**")[0] == summary.split("**Timings:**")[0]  # same seed, same score


def test_live_updates_arrive_before_the_end(demo):
    updates = run(demo, duration_s=20.0)
    live = [u for u in updates[:-1] if isinstance(u[3], np.ndarray)]
    assert live, "no token image while generating"
    assert all(isinstance(u[0], dict) for u in live)  # audio untouched until the end


@pytest.mark.parametrize("changes, message", [
    (dict(prompt="   "), "empty"),
    (dict(prompt="x" * 10_000), "characters"),
    (dict(duration_s=0.0), "duration"),
    (dict(duration_s=1e6), "duration"),
    (dict(temperature_coarse=math.nan), "temperature"),
    (dict(temperature_fine=-1.0), "temperature"),
    (dict(top_p=0.0), "top_p"),
    (dict(story="nonsense"), "SECONDS: prompt"),
])
def test_bad_inputs_become_gr_errors(demo, changes, message):
    with pytest.raises(gr.Error, match=f"(?i){message}"):
        run(demo, **changes)


def test_bad_melody_files_become_gr_errors_and_the_app_keeps_working(demo, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wav file")
    with pytest.raises(gr.Error, match="(?i)audio"):
        run(demo, melody=str(corrupt))
    with pytest.raises(gr.Error):
        run(demo, melody=str(tmp_path / "missing.wav"))
    assert run(demo, prompt="Musik mit Klavier, 雨の日のピアノ")[-1][0].endswith(".wav")  # non-Latin text is fine


def test_stop_ends_the_generation_early(demo):
    stream = demo.handler.generate("drums", "", None, *(dict(SETTINGS, duration_s=40.0)[n]
                                                        for n in controls.SETTINGS[2:]))
    first = next(stream)
    assert isinstance(first[3], np.ndarray)
    assert demo.handler.stop() == "Stopping…"
    rest = list(stream)
    assert rest[-1][5] == "Stopped." and isinstance(rest[-1][0], dict)


def test_widgets_construct_and_generate(tiny_pipe):
    from musiclm_studio.ui.widgets import Studio

    studio = Studio(tiny_pipe)
    assert set(studio.controls) == set(controls.CONTROLS)
    assert studio.controls["top_p"].max == LIMITS["top_p"][1]
    out = studio.generate(prompt="a calm piano piece", duration_s=1.0, seed=3, randomise_seed=False)
    assert out is not None and out.seed == 3 and out.duration_s == pytest.approx(1.0)
    assert studio.audio.value[:4] == b"RIFF" and studio.tokens.value[:4] == b"\x89PNG"
    assert all(bar.value == 1.0 for bar in studio.bars.values())
    assert studio.generate(prompt="  ") is None and "empty" in studio.error.value
    assert studio.generate(prompt="ok", top_p=0.0) is None and "top_p" in studio.error.value
