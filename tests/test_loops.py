"""Loops: bar-aligned, the end joining the start (no click, no level jump, where a plain cut has both),
tempo in the file name and in chunks a DAW reads, and bad input refused with what to do."""

import math

import numpy as np
import pytest
import torch

from musiclm_studio import loops

SR = 24_000


def tone(seconds=6.0, hz=441.7):
    """A sine whose period does not divide a bar: a plain cut at a bar line leaves a step."""
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.37 * t))).astype(np.float32)


def test_make_loop_is_bar_aligned_and_joins_where_a_plain_cut_clicks():
    audio = tone()
    loop = loops.make_loop(audio, SR, bpm=120, bars=2, start_s=0.5, level_match=False)
    n = 2 * 4 * SR // 2  # two bars of four beats at 120 bpm
    fade = round(0.25 * 0.5 * SR)
    assert loop.audio.numel() == n and loop.duration_s == 4.0 and loop.crossfade_s == fade / SR
    start = SR // 2
    # after the crossfade the loop is the clip itself
    np.testing.assert_array_equal(loop.audio[fade:].numpy(), audio[start + fade: start + n])
    # the wrap plays on as the clip did past the loop's end: the first sample is (nearly) the one after the last
    assert abs(float(loop.audio[0]) - audio[start + n]) < 1e-3
    seam, plain = loop.seam(), loops.measure_seam(audio[start: start + n], SR, 120)
    assert seam.step_at_wrap <= seam.step_p99
    assert plain.step_at_wrap > 3 * plain.step_p99  # what the test would catch: a click at the wrap


def test_crossfade_off_is_a_plain_cut_of_the_bars():
    audio = tone()
    loop = loops.make_loop(audio, SR, bpm=100, bars=1, crossfade_beats=0, level_match=False)
    np.testing.assert_array_equal(loop.audio.numpy(), audio[: round(2.4 * SR)])


def test_level_matching_evens_out_a_fading_clip_without_a_step():
    audio = tone(seconds=8.0) * np.exp(-np.arange(8 * SR) / SR / 8).astype(np.float32)  # -1.1 dB a second
    plain = loops.make_loop(audio, SR, bpm=120, bars=2, level_match=False)
    matched = loops.make_loop(audio, SR, bpm=120, bars=2)
    assert 3.0 < matched.ramp_db < 6.0 and plain.ramp_db == 0.0  # the last beat was ~3.8 dB under the first
    before, after = plain.seam(), matched.seam()
    assert before.level_jump_db > 3.0 and after.level_jump_db < 1.0
    assert after.step_at_wrap <= after.step_p99
    # the ramp is slow: 0 dB at the start, ramp_db at the end, each sample the clip's times a smooth gain
    gain = matched.audio[SR:].numpy() / audio[SR: 4 * SR]
    assert np.all(np.abs(np.diff(20 * np.log10(np.abs(gain[np.abs(audio[SR: 4 * SR]) > 0.05])))) < 0.01)
    loud = loops.make_loop(audio * np.exp(-np.arange(8 * SR) / SR).astype(np.float32), SR, bpm=120, bars=2)
    assert loud.ramp_db == loops.MAX_RAMP_DB  # a steep fade is evened out only so far


def test_pipe_loop_on_the_beat_grid_is_seamless_and_reproducible(tiny_full_pipe):
    loop = tiny_full_pipe.loop("a funky groove with drums", bars=2, bpm=120, seed=3, num_candidates=1, start_bar=1)
    assert loop.audio.numel() == 4 * SR and loop.bpm == 120 and loop.tempo_from == "grid"
    assert loop.start_s == 2.0 and loop.output.asked[0]["tempo"] == 120  # one bar skipped; the grid laid at 120
    assert loop.output.duration_s >= 6.125  # 1 + 2 bars and the crossfade were generated
    seam = loop.seam()
    assert seam.step_at_wrap <= seam.step_p99
    assert seam.level_jump_db <= seam.level_jump_db_inside[1] + 1.0  # no louder a step than a beat line inside
    plain = loops.measure_seam(loop.output.audio[2 * SR: 6 * SR], SR, 120)
    assert plain.level_jump_db > seam.level_jump_db + 2.0  # a plain cut there does jump (measured 5.5 vs 0.4 dB)
    again = tiny_full_pipe.loop("a funky groove with drums", bars=2, bpm=120, seed=3, num_candidates=1, start_bar=1)
    assert torch.equal(again.audio, loop.audio) and again.seed == 3


def test_pipe_loop_takes_the_prompts_tempo_rounded(tiny_full_pipe):
    loop = tiny_full_pipe.loop("a song at 150 bpm", bars=1, seed=0, num_candidates=1)
    assert loop.bpm == 150 and loop.audio.numel() == round(4 * 60 / 150 * SR)
    # by default from the first sample: the bar, its crossfade and a spare frame are all that is generated
    assert loop.start_s == 0.0 and loop.output.duration_s <= 4 * 60 / 150 + 0.25 * 60 / 150 + 0.08


def test_saved_loop_names_its_tempo_and_daws_can_read_it(tmp_path):
    import librosa
    import soundfile as sf

    loop = loops.make_loop(tone(), SR, bpm=96, bars=1)
    loop.prompt, loop.seed = "a tone", 7
    path = loop.save(str(tmp_path))
    assert path.endswith("loop_96bpm_1bars_4-4.wav")
    meta = loops.read_loop_metadata(path)
    assert meta["bpm"] == 96.0 and meta["beats"] == 4 and meta["beats_per_bar"] == 4
    assert (meta["loop_start"], meta["loop_end"]) == (0, loop.audio.numel() - 1)
    assert "tempo=96 bpm" in meta["comment"] and "prompt=a tone" in meta["comment"] and "seed=7" in meta["comment"]
    data, sr = sf.read(path, dtype="float32")
    assert sr == SR and data.shape == (loop.audio.numel(),)
    np.testing.assert_allclose(data, loop.audio.numpy(), atol=1.0 / 32767)
    assert librosa.load(path, sr=None)[0].shape == data.shape


def test_loop_from_raw_audio_finds_the_beat():
    from musiclm_studio.eval.synth import drum_loop

    loop = loops.loop_from(drum_loop(seconds=10, bpm=100), 2, sample_rate=SR)
    assert loop.tempo_from == "librosa" and abs(loop.bpm - 100) <= 2
    assert loop.audio.numel() == round(2 * 4 * 60 / loop.bpm * SR)


def test_loop_from_an_output_uses_its_grid(tiny_full_pipe):
    out = tiny_full_pipe("calm piano", duration_s=8.0, bpm=90, seed=0, num_candidates=1)
    loop = loops.loop_from(out, 2)
    assert loop.tempo_from == "grid" and loop.bpm == 90 and loop.start_s == 0.0  # 1 + 2 bars do not fit in 8 s
    assert loop.output is out and loop.seed == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"bars": 0}, "bars"), ({"bars": 1.5}, "bars"), ({"bars": True}, "bars"), ({"beats_per_bar": 0}, "beats_per_bar"),
    ({"crossfade_beats": 2.0}, "crossfade_beats"), ({"crossfade_beats": math.nan}, "crossfade_beats"),
    ({"bpm": 500}, "bpm"), ({"start_bar": -1}, "start_bar"), ({"bars": 64, "bpm": 40}, "fewer bars"),
    ({"duration_s": 5.0}, "duration_s"), ({"temperature": -1}, "temperature"), ({"seed": "x"}, "seed")])
def test_pipe_loop_bad_input_raises(tiny_full_pipe, kwargs, match):
    args = {"bars": 2, "bpm": 120, **kwargs}
    with pytest.raises(ValueError, match=match):
        tiny_full_pipe.loop("drums", **args)


def test_loop_refuses_a_story_and_a_pipeline_without_a_beat_grid(tiny_full_pipe, tiny_pipe):
    with pytest.raises(ValueError, match="one text prompt"):
        tiny_full_pipe.loop([("drums", 2.0), ("bass", 2.0)], bars=1, bpm=120)
    with pytest.raises(ValueError, match="no beat grid"):
        tiny_pipe.loop("drums", bars=1, bpm=120)


def test_make_loop_bad_input_raises():
    with pytest.raises(ValueError, match="fewer bars"):
        loops.make_loop(tone(seconds=2.0), SR, bpm=120, bars=1, start_s=0.5)
    with pytest.raises(ValueError, match="start_s"):
        loops.make_loop(tone(), SR, bpm=120, bars=1, start_s=-1.0)
    with pytest.raises(ValueError, match="sample rate"):
        loops.make_loop(tone(), None, bpm=120, bars=1)


def test_cli_loop_from_a_file(tmp_path, capsys):
    from musiclm_studio.audio import save_audio
    from musiclm_studio.cli import main
    from musiclm_studio.eval.synth import drum_loop

    wav = save_audio(str(tmp_path / "beat.wav"), drum_loop(seconds=10, bpm=100), SR)
    assert main(["loop", "--from", wav, "--bars", "2", "--bpm", "100", "--out", str(tmp_path / "loops")]) == 0
    path = tmp_path / "loops" / "beat_loop_100bpm_2bars_4-4.wav"
    assert loops.read_loop_metadata(str(path))["bpm"] == 100.0
    assert "seam: level jump" in capsys.readouterr().out
    assert main(["loop", "drums", "--from", wav]) == 2


@pytest.mark.slow
def test_shipped_loop_is_seamless_and_keeps_its_tempo(default_pipe):
    loop = default_pipe.loop("a funky drum groove with slap bass", bars=4, bpm=110, seed=0)
    seam = loop.seam()
    assert loop.duration_s == pytest.approx(16 * 60 / 110, abs=1 / SR)
    assert seam.step_at_wrap <= seam.step_p99
    assert seam.level_jump_db <= seam.level_jump_db_inside[1]
    assert seam.tempo_agrees, seam
