"""The jam on the tiny pipeline: sample-exact joins, set() from the next chunk, a bounded context,
the beat grid across tempo changes, bad controls, scripts and determinism."""

import json

import pytest
import torch

from musiclm_studio.jam import BEATS_PER_BAR, BeatClock
from musiclm_studio.jam_script import load_script, parse_script, scripted_chunks
from musiclm_studio.vocab.beat_grid import beat_tokens, phase_tokens

SR = 24_000


def _audio(chunks):
    return torch.cat([c.audio for c in chunks])


def _streams(chunks, name):
    return torch.cat([getattr(c.tokens, name) for c in chunks], -1)


def test_chunks_join_sample_exactly(tiny_full_pipe):
    jam = tiny_full_pipe.jam("a fast rock song with drums", chunk_s=0.5, seed=3)
    chunks = [jam.next_chunk() for _ in range(6)]
    assert [c.audio.numel() for c in chunks] == [SR // 2] * 6  # no gap, no overlap: count x length samples
    assert [c.start_s for c in chunks] == [0.5 * i for i in range(6)] and [c.index for c in chunks] == list(range(6))
    assert all(c.audio.dtype == torch.float32 and c.sample_rate == SR and c.elapsed_s > 0 for c in chunks)
    # every emitted sample is final: decoding all the jam's tokens at once gives the same samples
    whole = tiny_full_pipe.decode(_streams(chunks, "coarse"), _streams(chunks, "fine"))[0]
    torch.testing.assert_close(_audio(chunks), whole[: 6 * SR // 2], atol=1e-4, rtol=0)
    assert chunks[0].tokens.mulan.shape == (1, 12)


def test_set_applies_from_the_next_chunk_only(tiny_full_pipe):
    steered = tiny_full_pipe.jam("a fast rock song with drums", chunk_s=0.5, seed=1)
    plain = tiny_full_pipe.jam("a fast rock song with drums", chunk_s=0.5, seed=1)
    before = [steered.next_chunk() for _ in range(3)]
    kept = [c.audio.clone() for c in before]
    steered.set(prompt="a slow piano ballad", bpm=72, key="E minor")
    assert steered.settings.prompt == "a slow piano ballad"
    assert before[-1].settings["bpm_heard"] != 72  # the chunk already made keeps what it was made with
    after = steered.next_chunk()
    reference = [plain.next_chunk() for _ in range(4)]
    for old, copy, ref in zip(before, kept, reference):
        assert torch.equal(old.audio, copy) and torch.equal(old.audio, ref.audio)  # nothing emitted changes
    assert after.settings["bpm_heard"] == 72 and after.settings["key_heard"] == "E minor"
    assert after.settings["prompt"] == "a slow piano ballad"
    assert not torch.equal(after.tokens.mulan, reference[3].tokens.mulan)
    assert not torch.equal(after.tokens.semantic, reference[3].tokens.semantic)


def test_context_and_state_stay_bounded_over_200_chunks(tiny_full_pipe):
    jam = tiny_full_pipe.jam("ambient pads", chunk_s=0.5, seed=2, context_s=0.5)

    def state_size():
        tensors = [*jam.streams.values(), *jam.history.values(), jam.gain.pending]
        return sum(t.numel() for t in tensors)

    sizes = []
    for i in range(200):
        chunk = jam.next_chunk()
        if i % 50 == 49:
            sizes.append(state_size())
    assert len(set(sizes)) == 1, sizes  # the same state after 50 chunks as after 200
    assert chunk.start_s == pytest.approx(99.5) and jam.frames >= 200 * 25
    assert jam.streams["coarse"].shape[-1] < 100  # a few seconds of tokens, not 100 s


def _spy_prompts(monkeypatch) -> list:
    """Per LM call of the jam: (the LM's frame rate, prompt frames)."""
    from musiclm_studio import jam as jam_module

    prompts, real = [], jam_module.generate_windowed

    def spy(lm, total, prompt=None, **kwargs):
        prompts.append((lm.config.frame_rate, 0 if prompt is None else prompt.shape[-1]))
        return real(lm, total, prompt=prompt, **kwargs)

    monkeypatch.setattr(jam_module, "generate_windowed", spy)
    return prompts


@pytest.mark.parametrize("change_context_s", [0.0, 0.2])
def test_a_prompt_change_cuts_the_semantic_and_coarse_context_where_it_takes_effect(tiny_full_pipe, monkeypatch,
                                                                                   change_context_s):
    prompts = _spy_prompts(monkeypatch)
    jam = tiny_full_pipe.jam("a calm piano piece", chunk_s=0.5, seed=2, bpm=100, change_context_s=change_context_s)
    for _ in range(4):
        jam.next_chunk()
    before = prompts[-3:]  # semantic, coarse, fine of a chunk with the whole context
    jam.set(prompt="a rock song with drums")
    changed_at, rates = jam.frames, [p[0] for p in before]
    keep = [round(change_context_s * rate) for rate in rates]
    cut = []
    for _ in range(12):
        made, start = jam.frames - changed_at, len(prompts)  # acoustic frames made since the change
        jam.next_chunk()
        cut.append((made, [frames for _, frames in prompts[start:]]))
    assert cut[0][1][:2] == keep[:2] and keep[1] < before[1][1]  # at the change: at most change_context_s
    for made, (semantic, coarse, fine) in cut:  # then only what was made since (and the kept seconds)
        assert coarse == min(before[1][1], made + keep[1])
        assert semantic == min(before[0][1], made * rates[0] // rates[1] + keep[0])
        assert fine == before[2][1]  # the fine LM keeps its own (short) context
    assert cut[-1][1] == [p[1] for p in before]  # and the whole context once it has slid past the cut
    with pytest.raises(ValueError, match="change_context_s"):
        tiny_full_pipe.jam("a calm piano piece", change_context_s=-1)


def test_a_tempo_change_cuts_the_context_at_its_bar_line(tiny_full_pipe, monkeypatch):
    prompts = _spy_prompts(monkeypatch)
    jam = tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=0, bpm=120)
    chunks = [jam.next_chunk() for _ in range(4)]
    whole = prompts[-3:]
    jam.set(bpm=90)
    while len(jam.clock.changes) < 2:  # until the new tempo's bar line has been laid
        start, first = len(prompts), jam.frames
        chunks.append(jam.next_chunk())
    bar = jam.clock.changes[-1][0]
    calls = [frames for _, frames in prompts[start:]]
    assert first < bar < jam.frames and len(calls) == 6  # the chunk was made in two pieces, split at the bar line
    assert calls[:3] == [p[1] for p in whole]  # up to the bar line: the whole context
    assert calls[3:5] == [0, 0] and calls[5] > 0  # from it: the semantic and coarse LMs start afresh
    chunks += [jam.next_chunk() for _ in range(2)]
    assert [c.audio.numel() for c in chunks] == [SR // 2] * len(chunks)
    assert _streams(chunks, "coarse").shape[-1] == jam.frames  # the pieces' tokens joined, none lost or doubled


def test_beat_clock_matches_the_grid_and_changes_tempo_on_the_next_bar():
    clock = BeatClock(frame_rate=50.0)
    clock.retempo(120.0)
    before, grid, _ = clock.advance(300)
    expected = beat_tokens(torch.full((300,), 120.0), 50.0)
    # a steady tempo lays the pipeline's own grid (beat_tokens sums in float32: a bin apart on some bin edges)
    off = (phase_tokens(before, grid) - expected) % 16
    assert ((off == 0) | (off == 1) | (off == 15)).all() and (off == 0).float().mean() > 0.9
    clock.advance(37)  # somewhere inside a bar
    clock.retempo(90.0)
    before, grid, bpms = clock.advance(200)
    switch = bpms.index(90.0)
    assert switch > 0 and all(b == 120.0 for b in bpms[:switch])
    beats_at_switch = float(before[switch])
    # the new tempo starts on the first frame at or after the bar line (within one frame's beats)
    assert beats_at_switch % BEATS_PER_BAR < 120.0 / 60 / 50 + 1e-9 or beats_at_switch % BEATS_PER_BAR > BEATS_PER_BAR - 1e-9
    steps = torch.diff(before)
    assert torch.allclose(steps[: switch - 1], torch.tensor(120 / 60 / 50, dtype=torch.float64))
    assert torch.allclose(steps[switch:], torch.tensor(90 / 60 / 50, dtype=torch.float64))  # runs on, no jump


def test_jam_lays_the_beat_grid_across_chunks_and_tempo_changes(tiny_full_pipe):
    jam = tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=0, bpm=120)
    jam.next_chunk()
    beats = jam.history["beats"]
    assert jam.history["grid"].all() and len(beats) == jam.frames - jam.history_start
    exact = torch.arange(jam.history_start, jam.frames, dtype=torch.float64) * 120 / 60 / 50
    assert torch.allclose(beats, exact % BEATS_PER_BAR)  # the phase counts from the jam's first frame
    jam.set(bpm=100)
    for _ in range(4):
        jam.next_chunk()
    assert jam.clock.bpm == 100.0


@pytest.mark.parametrize("changes", [
    dict(bpm=30), dict(bpm=250), dict(key="H dorian"), dict(temperature=-1), dict(top_k=-3),
    dict(guidance_scale=99), dict(prompt=""), dict(volume=3), dict(prompts="techno"),
])
def test_bad_controls_raise_and_the_jam_plays_on(tiny_full_pipe, changes):
    jam = tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=0, bpm=120)
    first = jam.next_chunk()
    with pytest.raises(ValueError):
        jam.set(**changes)
    assert jam.settings.bpm == 120 and jam.settings.prompt == "a rock song"
    chunk = jam.next_chunk()
    assert chunk.audio.numel() == SR // 2 and chunk.settings == first.settings


def test_a_short_first_chunk_ramps_up_to_the_chunk_length(tiny_full_pipe):
    jam = tiny_full_pipe.jam("a fast rock song with drums", chunk_s=2.0, first_chunk_s=0.25, seed=3)
    chunks = [jam.next_chunk() for _ in range(8)]
    lengths = [0.25, 0.375, 0.5625, 0.84375, 1.265625, 1.8984375, 2.0, 2.0]  # 1.5-fold
    assert [c.audio.numel() for c in chunks] == [round(x * SR) for x in lengths]
    assert [c.start_s for c in chunks] == pytest.approx([sum(round(x * SR) for x in lengths[:i]) / SR for i in range(8)])
    whole = tiny_full_pipe.decode(_streams(chunks, "coarse"), _streams(chunks, "fine"))[0]  # still sample-exact
    torch.testing.assert_close(_audio(chunks), whole[: _audio(chunks).numel()], atol=1e-4, rtol=0)
    again = tiny_full_pipe.jam("a fast rock song with drums", chunk_s=2.0, first_chunk_s=0.25, seed=3)
    assert torch.equal(_audio(chunks), _audio([again.next_chunk() for _ in range(8)]))


@pytest.mark.parametrize("kwargs", [dict(chunk_s=0.2), dict(chunk_s=11), dict(chunk_s=float("nan")), dict(bpm=39),
                                    dict(key="major-ish"), dict(seed=-1), dict(context_s=0),
                                    dict(first_chunk_s=0.1), dict(chunk_s=1.0, first_chunk_s=2.0)])
def test_bad_start_arguments_raise(tiny_full_pipe, kwargs):
    with pytest.raises(ValueError):
        tiny_full_pipe.jam("a rock song", **kwargs)


def test_same_seed_and_script_give_the_same_audio(tiny_full_pipe, tmp_path):
    path = tmp_path / "changes.json"
    path.write_text(json.dumps([{"at_s": 0.5, "prompt": "a slow piano ballad", "bpm": 80},
                                {"at_s": 1.2, "key": "E minor", "temperature": 0.8}]))
    changes = load_script(str(path))
    assert [c.at_s for c in changes] == [0.5, 1.2]
    runs = []
    for _ in range(2):
        heard = []
        jam = tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=7)
        chunks = list(scripted_chunks(jam, changes, seconds=2.5, on_change=lambda c, s: heard.append(s)))
        runs.append(_audio(chunks))
        assert heard == [0.5, 1.5] and len(chunks) == 5  # each change set before the first chunk at / after it
        assert chunks[3].settings["key_heard"] == "E minor" and chunks[1].settings["bpm_heard"] == 80
    assert torch.equal(runs[0], runs[1])
    other = _audio(list(scripted_chunks(tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=8), changes, 2.5)))
    assert not torch.equal(runs[0], other)


@pytest.mark.parametrize("data", [{"at_s": 1}, [{"prompt": "x"}], [{"at_s": -1, "prompt": "x"}], [{"at_s": 2}],
                                  [{"at_s": True, "prompt": "x"}]])
def test_bad_scripts_say_what_is_wrong(data):
    with pytest.raises(ValueError):
        parse_script(data)


def test_close_frees_the_jam(tiny_full_pipe):
    with tiny_full_pipe.jam("a rock song", chunk_s=0.5) as jam:
        jam.next_chunk()
    assert jam.closed and jam.streams["coarse"].numel() == 0
    with pytest.raises(ValueError, match="closed"):
        jam.next_chunk()
    assert list(jam) == []


def test_cli_records_a_scripted_jam(tiny_full_pipe, tmp_path):
    import soundfile as sf

    from musiclm_studio.cli import main

    folder = tmp_path / "pipe"
    tiny_full_pipe.save_pretrained(str(folder))
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"at_s": 1.0, "prompt": "a slow piano ballad"}]))
    out = tmp_path / "jam.wav"
    code = main(["jam", "a rock song", "--minutes", "0.03", "--chunk", "0.6", "--pipeline", str(folder),
                 "--script", str(script), "--out", str(out), "--quiet"])
    assert code == 0
    audio, rate = sf.read(out)
    assert rate == SR and len(audio) == 3 * round(0.6 * SR)  # whole chunks: 1.8 s >= 0.03 min
    log = json.loads(out.with_suffix(".json").read_text())
    assert log["changes"] == [[1.2, "prompt=a slow piano ballad"]] and len(log["chunks"]) == 3
    assert out.with_suffix(".png").stat().st_size > 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"at_s": 1.0, "bpm": 500}]))
    assert main(["jam", "x", "--pipeline", str(folder), "--script", str(bad), "--out", str(out)]) == 2


@pytest.mark.slow
def test_shipped_jam_joins_and_follows_a_prompt_change():
    from musiclm_studio.pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained()
    pipe.show_progress = False
    jam = pipe.jam("a calm piano piece without drums", chunk_s=2.0, seed=0)
    chunks = [jam.next_chunk() for _ in range(2)]
    jam.set(prompt="an energetic rock song with loud drums", bpm=140)
    chunks += [jam.next_chunk() for _ in range(2)]
    audio = _audio(chunks)
    assert audio.numel() == 4 * 2 * SR and torch.isfinite(audio).all() and audio.abs().max() <= 1.0
    whole = pipe.decode(_streams(chunks, "coarse"), _streams(chunks, "fine"))[0]
    torch.testing.assert_close(audio, whole[: audio.numel()], atol=1e-4, rtol=0)
    assert chunks[2].settings["bpm_heard"] == 140


def test_prompt_mix_at_weight_one_and_zero_is_the_single_prompt(tiny_full_pipe):
    single = tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=4)
    mixed = tiny_full_pipe.jam(prompts={"a rock song": 1.0, "a slow piano ballad": 0.0}, chunk_s=0.5, seed=4)
    a, b = [single.next_chunk() for _ in range(2)], [mixed.next_chunk() for _ in range(2)]
    assert torch.equal(_audio(a), _audio(b))
    mixed.set(prompts={"a rock song": 0.5, "a slow piano ballad": 0.5})
    assert mixed.next_chunk().settings["prompts"] == {"a rock song": 0.5, "a slow piano ballad": 0.5}
    assert not torch.equal(mixed.check_settings(mixed.settings).conditioning.mulan_tokens,
                           single.check_settings(single.settings).conditioning.mulan_tokens)


@pytest.mark.parametrize("prompts", [{"a": 0.0, "b": 0.0}, {"a": -0.5, "b": 1.0}, {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1},
                                     {"a": float("nan")}, {}])
def test_bad_prompt_mixes_raise_and_the_jam_plays_on(tiny_full_pipe, prompts):
    jam = tiny_full_pipe.jam("a rock song", chunk_s=0.5, seed=0)
    jam.next_chunk()
    with pytest.raises(ValueError):
        jam.set(prompts=prompts)
    assert jam.settings.prompt == "a rock song" and jam.next_chunk().settings["prompt"] == "a rock song"


def test_app_jam_handler_streams_applies_and_stops(tiny_full_pipe, monkeypatch):
    import base64

    import gradio as gr
    import numpy as np

    from musiclm_studio.jam import RAMP
    from musiclm_studio.ui import jam_tab
    from musiclm_studio.ui.jam_controls import JAM_CONTROLS, jam_changes
    from musiclm_studio.ui.jam_tab import FIRST_CHUNK_S, JamHandler

    handler = JamHandler(tiny_full_pipe)
    first = handler.start(**{**{name: c.default for name, c in JAM_CONTROLS.items()}, "prompt_1": "a rock song"})
    assert next(first)[1] == gr.skip() and handler.stop() == "Stopping…"  # the first chunk goes without a token image
    list(first)
    monkeypatch.setattr(jam_tab, "IMAGE_EVERY_S", 0.0)  # then one at most every IMAGE_EVERY_S: here every chunk
    values = {name: c.default for name, c in JAM_CONTROLS.items()}
    values.update(prompt_1="a rock song", chunk_s=1.0, weight_2=0.5, prompt_2="")  # an empty part is left out
    assert jam_changes(values)["prompt"] == "a rock song"
    stream = handler.start(**values)
    message, image, status, _ = next(stream)
    message = json.loads(message)  # what the page's player schedules: 16-bit PCM, run and chunk numbers
    audio = np.frombuffer(base64.b64decode(message["pcm"]), "<i2")
    assert message["rate"] == SR and message["index"] == 0 and image.ndim == 3 and "underruns 0" in status
    assert len(audio) == FIRST_CHUNK_S * SR and np.abs(audio).max() > 0  # the short first chunk
    message = json.loads(next(stream)[0])
    assert len(base64.b64decode(message["pcm"])) == 2 * round(FIRST_CHUNK_S * RAMP * SR) and message["index"] == 1
    assert handler.update(**{**values, "bpm": 300.0}).startswith("Not applied")
    assert handler.update(**{**values, "prompt_2": "a slow piano ballad", "weight_2": 0.5}) == "Applied from the next chunk."
    assert handler.playing == 1
    assert handler.stop_clicked() == gr.skip()  # the page's button: the status line is left to the jam's "Stopped."
    rest = list(stream)
    assert rest[-1][2].startswith("Stopped.") and handler.playing == 0
    rate, recording = rest[-1][3]  # the recording of what was played, offered when stopped
    made = len(audio) + len(base64.b64decode(message["pcm"])) // 2 + \
        sum(len(base64.b64decode(json.loads(r[0])["pcm"])) // 2 for r in rest[:-1])
    assert rate == SR and len(recording) == made
    assert handler.stop() == "No jam is playing." == handler.stop_clicked()


def test_a_stop_pressed_while_the_jam_is_being_built_is_kept(tiny_full_pipe, monkeypatch):
    from musiclm_studio.ui.jam_controls import JAM_CONTROLS
    from musiclm_studio.ui.jam_tab import JamHandler

    handler = JamHandler(tiny_full_pipe)
    build = tiny_full_pipe.jam

    def slow_build(*args, **kwargs):  # the user presses Stop before the first chunk is made
        assert handler.stop() == "Stopping…"
        return build(*args, **kwargs)

    monkeypatch.setattr(tiny_full_pipe, "jam", slow_build)
    values = {name: c.default for name, c in JAM_CONTROLS.items()}
    out = list(handler.start(**{**values, "prompt_1": "a rock song"}))
    assert len(out) == 1 and out[0][2].startswith("Stopped.") and handler.playing == 0  # no chunk was made


def test_app_primes_the_jam_its_controls_start_and_plays_the_same_audio(monkeypatch):
    from musiclm_studio.pipeline import MusicLMPipeline
    from musiclm_studio.ui.jam_controls import JAM_CONTROLS
    from musiclm_studio.ui.jam_tab import PRIME_CHUNKS, JamHandler

    # a pipeline of its own: the jams other tests' handlers prime after a Stop run on the shared fixture's,
    # and may begin while this test counts the jams built
    pipe = MusicLMPipeline.from_config("tiny-full", seed=0)
    pipe.show_progress = False
    values = {**{name: c.default for name, c in JAM_CONTROLS.items()}, "prompt_1": "a rock song", "seed": 3}
    cold = JamHandler(pipe).start(**values)
    expected = [json.loads(next(cold)[0])["pcm"] for _ in range(PRIME_CHUNKS + 1)]
    cold.close()
    handler, built = JamHandler(pipe), []
    build = pipe.jam
    monkeypatch.setattr(pipe, "jam", lambda *a, **k: built.append(k["seed"]) or build(*a, **k))
    handler.prime(**{**values, "seed": 4})  # a change before Start: primed again, the first one dropped
    handler.prime(**values)
    handler.prime(**values)  # the same values again: nothing new
    handler.primed().begun.wait(30)
    handler.primed().chunks[0].result()  # (a Start before the first chunk is begun makes its own)
    stream = handler.start(**values)
    assert [json.loads(next(stream)[0])["pcm"] for _ in range(PRIME_CHUNKS + 1)] == expected  # as unprimed
    assert built == [3]  # Start took the primed jam (none built after the click); the first values' priming,
    # replaced before it began, built nothing
    handler.prime(**{**values, "bpm": 90.0})  # a change while it plays: primed once it stops
    handler.stop()
    list(stream)
    handler.primed().begun.wait(30)
    handler.primed().chunks[0].result()
    stream = handler.start(**{**values, "bpm": 90.0})
    next(stream)
    assert built.count(3) == 2  # the primed jam had the changed tempo: nothing built at the second Start
    handler.stop()
    list(stream)
    handler.prime(**{**values, "chunk_s": 99.0})  # a value a jam refuses primes nothing; Start says what is wrong
    with pytest.raises(Exception, match="chunk_s"):
        next(handler.start(**{**values, "chunk_s": 99.0}))
    assert handler.playing == 0
    handler.prime_delay_s = 60.0
    handler.prime(**values)  # a Start before the priming begins: it is dropped and Start makes its own
    made = len(built)
    stream = handler.start(**values)
    assert json.loads(next(stream)[0])["pcm"] == expected[0] and len(built) == made + 1
    handler.stop()
    list(stream)
    off = JamHandler(pipe, prime_chunks=0)  # MUSICLM_JAM_PRIME=0: nothing made before Start
    off.prime(**values)
    assert off.primed() is None


def test_widget_jam_plays_and_stops(tiny_full_pipe):
    import time

    from musiclm_studio.ui.widgets import Studio

    jam = Studio(tiny_full_pipe).jam("a rock song")
    jam.controls["chunk_s"].value = 0.5
    assert jam.start()
    deadline = time.time() + 60
    while jam.monitor.player.chunks < 2 and time.time() < deadline:
        time.sleep(0.1)
    jam.controls["bpm"].value = 90.0  # applied to the playing jam
    assert jam.session.settings.bpm == 90.0 and jam.error.value == ""
    jam.stop()
    assert jam.session.closed and len(jam.audio.value) > 0 and jam.recording().numel() >= SR
    jam.controls["key"].value = "major"
    assert not jam.apply()  # nothing playing


def test_app_jam_lanes_have_their_own_torch_threads_and_leave_the_process_its_own():
    import threading

    from musiclm_studio.ui.jam_lanes import JamLanes

    before = torch.get_num_threads()
    lanes = JamLanes(2, torch_threads=before + 1)
    assert lanes.each(torch.get_num_threads) == [before + 1, before + 1]
    seen = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert torch.get_num_threads() == before and seen == [before]  # this thread and threads started later
    with lanes.lane() as first, lanes.lane() as second:
        assert first is not second
        with lanes.lane() as third:  # more jams than lanes (a page gone without a Stop): shared, never blocked
            assert third.submit(lambda: 3).result() == 3
        with pytest.raises(ZeroDivisionError):
            first.submit(lambda: 1 / 0).result()  # a lane's error reaches the caller
        assert second.submit(lambda: "still serving").result() == "still serving"
    gate = threading.Event()
    busy = lanes.lanes[1].submit(gate.wait)  # a lane with work queued (priming) is the last chosen
    assert lanes.lanes[1].load == 1 and lanes.idle() is lanes.lanes[0]
    with lanes.lane() as chosen:
        assert chosen is lanes.lanes[0] and lanes.idle() is lanes.lanes[1]  # a lane a jam holds is not idle
    gate.set()
    busy.result()
    assert lanes.lanes[1].submit(lambda: None).result() is None and lanes.idle() is lanes.lanes[1]  # the last of equals
