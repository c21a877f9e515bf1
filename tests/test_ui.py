"""The Gradio app and the Jupyter widgets, through their Python callables, on the tiny pipeline."""

import math

import gradio as gr
import numpy as np
import pytest

from musiclm_studio.sampling_args import DEFAULTS, LIMITS
from musiclm_studio.ui import controls
from musiclm_studio.ui.gradio_app import build_demo

SETTINGS = dict(duration_s=1.0, temperature_semantic=1.0, temperature_coarse=0.95, temperature_fine=0.7, top_k=250,
                top_p=1.0, guidance_scale=3.0, seed=7, randomise_seed=False, num_candidates=1, bpm=0.0, key="",
                negative_prompt="")


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
    assert kwargs["negative_prompt"] is None  # an empty box: none
    assert controls.pipeline_kwargs({**SETTINGS, "negative_prompt": "drums"})["negative_prompt"] == "drums"
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
    assert generate and generate[0].concurrency_limit == demo.limits.max_batch_size == demo.handler.batcher.max_batch_size


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


def test_stop_ends_the_generation_early_and_clears_the_previous_clip(demo):
    assert demo.handler.stop().startswith("Nothing to stop")  # a fresh page: no lasting "Stopping…"
    stream = demo.handler.generate("drums", "", None, *(dict(SETTINGS, duration_s=40.0)[n]
                                                        for n in controls.SETTINGS[2:]))
    first = next(stream)
    assert isinstance(first[3], np.ndarray)
    assert demo.handler.stop() == "Stopping…"
    audio, files, spectrogram, tokens, summary, notices, seed = list(stream)[-1]
    assert notices == "Stopped." and audio is None and files is None and spectrogram is None
    assert "partial" in summary and "of 40 s" in summary
    assert tokens.ndim == 3 and tokens.shape[0] > 200  # the labelled figure, not the bare live strip
    assert demo.handler.stop().startswith("Nothing to stop")


def test_seed_range_and_clear_messages(demo, tiny_pipe):
    from musiclm_studio.sampling_args import SEED_MAX, check_seed

    assert check_seed(SEED_MAX) == SEED_MAX and check_seed(0) == 0 and check_seed(7.0) == 7 and check_seed(None) is None
    for bad in (99999999999999999999999, 2**70, SEED_MAX + 1, -1, math.nan, math.inf, 1.5, 1e23, True, "x"):
        with pytest.raises(ValueError, match=r"seed must be a whole number from 0 to 9223372036854775807"):
            check_seed(bad)
    for bad in (99999999999999999999999, 2**70, math.nan):
        with pytest.raises(gr.Error, match="seed must be a whole number"):
            run(demo, seed=bad)
        with pytest.raises(ValueError, match="seed must be a whole number"):
            tiny_pipe("x", duration_s=0.5, seed=bad)
    assert run(demo, seed=SEED_MAX)[-1][6] == SEED_MAX
    seed = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "seed"][0]
    assert seed.preprocess(math.nan) != seed.preprocess(math.nan)  # NaN reaches check_seed, not Gradio's int()


@pytest.mark.parametrize("story, message", [
    ("\n".join(["1: piano"] * 500), r"The story has 500 segments \(500 s in all\); at most 16"),
    ("0: x", r"Story segment 1 \('x'\) lasts 0 s; each segment must last at least 0.5 s"),
    ("\n".join(["0.1: piano"] * 500), "at least 0.5 s"),  # the shortest clip (LIMITS)
    ("30: a\n31: b", r"The story lasts 61 s in all \(2 segments\)"),
])
def test_story_errors_name_the_story(demo, story, message):
    with pytest.raises(gr.Error, match=message) as error:
        run(demo, story=story)
    assert "duration_s" not in str(error.value)


def test_story_limits_are_configurable(tiny_pipe, monkeypatch):
    monkeypatch.setenv("MUSICLM_MAX_STORY_SEGMENTS", "2")
    with pytest.raises(ValueError, match="at most 2 segments"):
        tiny_pipe([("a", 1.0)] * 3)
    monkeypatch.setenv("MUSICLM_MIN_SEGMENT_S", "0.5")
    assert tiny_pipe([("a", 0.5), ("b", 0.5)], seed=0).duration_s == pytest.approx(1.0)


def test_asked_text_says_words_still_condition():
    said = [{"tempo": None, "mode": None, "drums": None, "lead_family": None, "key": None}]
    text = controls.asked_text(said)
    assert "nothing" not in text and "MuLan" in text


def test_error_messages_hide_server_paths_and_log_one_line(demo, tmp_path, caplog):
    import logging

    from musiclm_studio.ui.gradio_app import public_message

    corrupt = tmp_path / "deep" / "corrupt.wav"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"RIFF not really a wav file")
    with caplog.at_level(logging.INFO, logger="musiclm_studio.ui.gradio_app"):
        with pytest.raises(gr.Error) as error:
            run(demo, melody=str(corrupt))
    assert str(tmp_path) not in error.value.message and "corrupt.wav" in error.value.message
    assert error.value.print_exception is False  # Gradio prints no traceback for it
    lines = [r for r in caplog.records if "input refused" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "\n" not in lines[0].getMessage()
    assert public_message("Error opening '/tmp/gradio/3f2a/x y.wav': bad") == "Error opening 'x y.wav': bad"
    assert public_message("1/2 s, 0.5/1") == "1/2 s, 0.5/1"


def test_server_bugs_are_logged_with_their_traceback(demo, caplog, monkeypatch):
    import logging

    def broken(*args, **kwargs):
        raise RuntimeError("boom at /srv/secret/place.py")
    monkeypatch.setattr(demo.handler.batcher, "pipe", type("P", (), {"__call__": broken})())
    with caplog.at_level(logging.INFO, logger="musiclm_studio.ui.gradio_app"):
        with pytest.raises(gr.Error, match="Generation failed \\(RuntimeError\\)") as error:
            run(demo)
    assert "/srv" not in error.value.message
    assert any(r.exc_info and r.levelno == logging.ERROR for r in caplog.records)


def test_generated_files_are_pruned_by_age_and_count(tmp_path):
    import os
    import time

    from musiclm_studio.ui.gradio_app import prune_outputs

    for i in range(5):
        folder = tmp_path / f"gen-{i}"
        folder.mkdir()
        (folder / "a.wav").write_bytes(b"x")
        os.utime(folder, (time.time() - 100 * i, time.time() - 100 * i))
    (tmp_path / "other").mkdir()
    assert prune_outputs(str(tmp_path), ttl_s=250, max_count=10) == 2  # gen-3, gen-4 are too old
    assert prune_outputs(str(tmp_path), ttl_s=1e9, max_count=1) == 2  # only the newest stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen-0", "other"]
    assert prune_outputs(str(tmp_path / "missing"), 1, 1) == 0


def test_the_app_keeps_a_count_cap_of_generated_files(tiny_pipe, tmp_path):
    from musiclm_studio.ui.gradio_app import ServeLimits

    demo = build_demo(tiny_pipe, limits=ServeLimits(max_outputs=2), output_dir=str(tmp_path))
    for seed in range(4):
        run(demo, seed=seed, duration_s=0.5)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("gen-")]) == 2
    assert demo.delete_cache == (3600, 3600)  # Gradio's copies expire after the same hour


def test_serve_limits_from_env_and_flags(monkeypatch):
    from musiclm_studio.ui.gradio_app import ServeLimits

    assert ServeLimits.from_env().max_upload_mb == 20.0
    monkeypatch.setenv("MUSICLM_MAX_UPLOAD_MB", "5")
    monkeypatch.setenv("MUSICLM_QUEUE_SIZE", "8")
    limits = ServeLimits.from_env(max_outputs=3)
    assert (limits.max_upload_mb, limits.queue_size, limits.max_outputs) == (5.0, 8, 3)
    monkeypatch.setenv("MUSICLM_OUTPUT_TTL_S", "soon")
    with pytest.raises(ValueError, match="MUSICLM_OUTPUT_TTL_S must be a number"):
        ServeLimits.from_env()


def test_a_long_melody_is_trimmed_as_it_is_read(tmp_path):
    import soundfile as sf

    from musiclm_studio.audio import prepare_audio, read_audio_file

    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros((16_000 * 120, 2), np.float32) + 0.1, 16_000)  # 2 minutes, stereo
    data, sr, seconds = read_audio_file(path, max_seconds=2.0)
    assert data.shape == (32_000, 2) and sr == 16_000 and seconds == pytest.approx(120.0)
    prepared = prepare_audio(path, target_sample_rate=16_000, max_seconds=2.0)
    assert prepared.duration_s == pytest.approx(2.0)
    assert any("120.0 s is longer than 2 s" in n for n in prepared.notices)


def test_melody_tokens_cover_the_clip_only(tiny_pipe, tmp_path):
    import soundfile as sf

    path = tmp_path / "hum.wav"
    t = np.arange(16_000 * 30) / 16_000
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000)
    out = tiny_pipe("a hummed tune", melody=str(path), duration_s=2.0, seed=0, num_candidates=1)
    rate = tiny_pipe.config.melody.frame_rate
    assert out.tokens.melody.shape[-1] <= round(2.0 * rate) + 1
    assert any("only the first 2 s" in n for n in out.notices)


def test_melody_row_is_drawn_on_the_clip_axis(tiny_pipe):
    import torch

    from musiclm_studio import viz

    rates = viz.frame_rates(tiny_pipe)
    tokens = {"mulan": torch.zeros(1, 12, dtype=torch.long),
              "melody": torch.randint(0, 12, (1, int(60 * rates["melody"]))),  # a 60-s melody
              "semantic": torch.randint(0, 32, (1, int(2 * rates["semantic"]))),
              "coarse": torch.randint(0, 32, (1, 4, int(2 * rates["coarse"]))),
              "fine": torch.randint(0, 32, (1, 8, int(2 * rates["fine"])))}
    fig = viz.plot_token_streams(tokens, tiny_pipe)
    melody_ax = [ax for ax in fig.axes if ax.get_ylabel().startswith("melody")][0]
    semantic_ax = [ax for ax in fig.axes if ax.get_ylabel().startswith("semantic")][0]
    assert melody_ax.get_xlim() == pytest.approx((0, 2.0)) and semantic_ax.get_xlim() == pytest.approx((0, 2.0))
    assert viz.clip_seconds(tokens, rates) == pytest.approx(2.0)


def test_http_api_names_outputs_and_melody_is_optional(demo):
    info = demo.get_api_info()["named_endpoints"]["/generate"]
    params = {p["parameter_name"]: p for p in info["parameters"]}
    assert params["melody"]["parameter_has_default"] and params["story"]["parameter_has_default"]
    assert all(p["parameter_has_default"] for p in params.values())
    labels = [r["label"] for r in info["returns"]]
    assert not any(label.startswith("value_") for label in labels) and {"Summary", "Notices"} <= set(labels)


def test_the_prompt_box_has_a_neutral_placeholder(demo):
    prompt = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "prompt"][0]
    assert prompt.placeholder == controls.PROMPT_PLACEHOLDER and prompt.placeholder not in controls.EXAMPLE_PROMPTS
    assert not any(prompt.placeholder in p or p in prompt.placeholder for p in controls.EXAMPLE_PROMPTS)


def test_the_negative_prompt_box_reaches_the_pipeline(demo):
    assert run(demo, prompt="a rock song", negative_prompt="drums")[-1][0].endswith(".wav")
    out = demo.handler.last_output("local")
    assert out.conditioning.negative_attributes == ("drums",) and out.conditioning.negative_text_features is not None
    run(demo, prompt="a rock song")
    assert demo.handler.last_output("local").conditioning.negative_attributes == ()


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
    steered = studio.generate(prompt="a rock song", negative_prompt="drums", top_p=1.0, duration_s=1.0)
    assert steered.conditioning.negative_attributes == ("drums",)


def test_concurrent_requests_run_as_one_batch(tiny_pipe, tmp_path):
    import threading

    from musiclm_studio.ui.gradio_app import ServeLimits

    demo = build_demo(tiny_pipe, limits=ServeLimits(max_batch_size=4), output_dir=str(tmp_path))
    prompts = ["a calm piano piece", "loud rock drums", "a slow ambient pad", "funky bass"]
    results = {}

    def one(prompt):
        results[prompt] = run(demo, prompt=prompt, randomise_seed=True, duration_s=1.0, num_candidates=2)[-1]
    threads = [threading.Thread(target=one, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert set(results) == set(prompts) and all(r[0].endswith(".wav") for r in results.values())
    assert demo.handler.batcher.batch_sizes == [4]  # one pipeline call for all four
    assert all("one batch with 3 other requests" in r[5] for r in results.values())
    assert all(isinstance(r[6], dict) for r in results.values())  # no seed claimed for a batched clip
    assert all(r[0].endswith("musiclm.wav") for r in results.values())
    # a fixed seed, a story or a refused prompt runs alone, with its own message
    assert run(demo, seed=5, duration_s=1.0)[-1][6] == 5 and demo.handler.batcher.batch_sizes[-1] == 1
    with pytest.raises(gr.Error, match="empty"):
        run(demo, prompt=" ", randomise_seed=True)


def test_batched_outputs_match_their_prompts(tiny_pipe):
    from musiclm_studio.batch import generate_batch

    outs = generate_batch(tiny_pipe, ["a calm piano piece", "", "loud rock drums"], duration_s=1.0, num_candidates=2,
                          seed=3)
    assert isinstance(outs[1], ValueError) and "empty" in str(outs[1])
    for out, prompt in zip((outs[0], outs[2]), ("a calm piano piece", "loud rock drums")):
        assert out.audio.shape == (tiny_pipe.sample_rate,) and out.seed is None
        assert out.tokens.fine.shape[0] == 1 and out.candidates.semantic.shape[0] == 2
        alone = tiny_pipe.encode_conditioning(prompt, duration_s=1.0)
        assert torch_equal(out.tokens.mulan, alone.mulan_tokens[:1])  # each row kept its own prompt
    again = generate_batch(tiny_pipe, ["a calm piano piece", "", "loud rock drums"], duration_s=1.0, num_candidates=2,
                           seed=3)
    assert torch_equal(again[2].tokens.coarse, outs[2].tokens.coarse)  # same batch + seed, same tokens
    # a negative prompt reaches every row: its attributes, and each prompt's MuLan tokens moved away from it
    steered = generate_batch(tiny_pipe, ["a calm piano piece", "loud rock drums"], duration_s=1.0, num_candidates=2,
                             seed=3, negative_prompt="drums")
    for out, prompt in zip(steered, ("a calm piano piece", "loud rock drums")):
        alone = tiny_pipe.resolve_conditioning(tiny_pipe.check_inputs(prompt, duration_s=1.0, negative_prompt="drums"))
        assert out.conditioning.negative_attributes == ("drums",) and torch_equal(out.tokens.mulan, alone.mulan_tokens)


def test_serial_queue_when_batching_is_off(tiny_pipe, tmp_path):
    from musiclm_studio.ui.gradio_app import ServeLimits

    demo = build_demo(tiny_pipe, limits=ServeLimits(max_batch_size=1), output_dir=str(tmp_path))
    assert run(demo, randomise_seed=True, duration_s=0.5)[-1][0].endswith(".wav")
    assert run(demo, randomise_seed=True, duration_s=0.5)[-1][0].endswith(".wav")
    assert demo.handler.batcher.batch_sizes == [1, 1]  # one request per pipeline call


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(torch.as_tensor(a).cpu(), torch.as_tensor(b).cpu())


def test_served_app_refuses_big_uploads_and_nan_seeds_with_messages(tiny_pipe, tmp_path, capfd):
    import json
    import socket

    import httpx
    from gradio_client import Client

    from musiclm_studio.ui.gradio_app import ServeLimits, launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = launch(tiny_pipe, port=port, limits=ServeLimits(max_upload_mb=0.05), prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/gradio_api/upload"
        small = httpx.post(url, files={"files": ("small.wav", b"x" * 10_000)}, timeout=30)
        big = httpx.post(url, files={"files": ("big.wav", b"x" * 200_000)}, timeout=30)
        # the Python client cannot send NaN; raw HTTP can (TESTING.md)
        values = [SETTINGS[n] for n in controls.SETTINGS[2:]]
        values[controls.SETTINGS[2:].index("seed")] = float("nan")
        call = httpx.post(f"http://127.0.0.1:{port}/gradio_api/call/generate",
                          content=json.dumps({"data": ["x", "", None, *values]}),
                          headers={"Content-Type": "application/json"}, timeout=30)
        events = httpx.get(f"http://127.0.0.1:{port}/gradio_api/call/generate/{call.json()['event_id']}",
                           timeout=120).text
        api = Client(f"http://127.0.0.1:{port}/", verbose=False).view_api(return_format="dict", print_info=False)
    finally:
        demo.close()
    assert small.status_code == 200
    assert big.status_code == 413 and "maximum allowed size" in big.text
    assert "event: error" in events and "seed must be a whole number" in events
    generate = api["named_endpoints"]["/generate"]
    assert not [p["parameter_name"] for p in generate["parameters"] if not p["parameter_has_default"]]
    assert not [r["label"] for r in generate["returns"] if r["label"].startswith("value_")]
    assert "Traceback" not in capfd.readouterr().err  # a refused input logs one line, no traceback


def test_the_duration_control_offers_the_pipelines_own_cap(tiny_pipe):
    import dataclasses

    from musiclm_studio.ui.controls import CONTROLS, control_for

    capped = dataclasses.replace(tiny_pipe.config, max_duration_s=20.0)
    duration = control_for(CONTROLS["duration_s"], type("P", (), {"config": capped})())
    assert duration.maximum == 20.0 and duration.default <= 20.0
    assert control_for(CONTROLS["duration_s"], tiny_pipe).maximum == tiny_pipe.config.max_duration_s
