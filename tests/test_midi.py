"""MIDI export (Basic Pitch as ONNX): a rendered known melody comes back, bad input is refused, the CLI
writes a MIDI file, the piano roll draws, and a missing basic-pitch gives a message saying what to install."""

import sys

import numpy as np
import pytest

from musiclm_studio import midi
from musiclm_studio.eval.synth import DEFAULT_TUNE, hummed_melody

pytestmark = pytest.mark.skipif(not midi.available(), reason=f"MIDI export unavailable: {midi.unavailable_reason()}")

SR = 24_000
TUNE = [(pitch + 6, seconds) for pitch, seconds in DEFAULT_TUNE]  # in F#: pitch classes {1, 3, 6, 8, 10, 11}


def tune_rows(tune=TUNE):
    rows, t = [], 0.0
    for pitch, seconds in tune:
        rows.append((t, t + seconds, pitch, 100))
        t += seconds
    return np.array(rows)


@pytest.fixture(scope="module")
def whistled():
    return hummed_melody(TUNE, voice="whistle")


def pitch_classes(notes):
    return {int(p) % 12 for p in midi.notes_of(notes)[:, 2]}


@pytest.mark.parametrize("voice", ["hum", "whistle"])
def test_rendered_melody_comes_back_as_its_pitch_classes(voice, whistled):
    audio = whistled if voice == "whistle" else hummed_melody(TUNE, voice="hum")
    notes = midi.transcribe(audio, SR)
    assert pitch_classes(notes) == {p % 12 for p, _ in TUNE}
    scores = midi.note_scores(tune_rows(), notes)
    if voice == "whistle":  # a clean line: nearly every note, on time (measured 0.93 onset F1)
        assert scores["onset_f1"] >= 0.8 and scores["onset_recall"] == 1.0


def test_path_array_and_tensor_give_the_same_notes(whistled, tmp_path):
    import torch

    from musiclm_studio.audio import save_audio

    path = save_audio(str(tmp_path / "tune.wav"), whistled, SR)
    from_file = midi.notes_of(midi.transcribe(path))
    from_tensor = midi.notes_of(midi.transcribe(torch.from_numpy(whistled.astype(np.float32)), SR))
    assert from_file.shape == from_tensor.shape and len(from_file) > 5
    np.testing.assert_allclose(from_file[:, :3], from_tensor[:, :3], atol=0.03)


def test_note_scores_are_one_for_the_truth_and_fall_for_a_transposition():
    truth = tune_rows()
    assert midi.note_scores(truth, truth)["offset_f1"] == 1.0
    shifted = truth.copy()
    shifted[:, 2] += 1
    assert midi.note_scores(truth, shifted)["onset_f1"] == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"onset_threshold": 1.5}, "onset_threshold"), ({"frame_threshold": 0}, "frame_threshold"),
    ({"minimum_note_length_ms": -1}, "minimum_note_length_ms"), ({"midi_tempo": 0}, "midi_tempo")])
def test_bad_settings_raise(kwargs, match, whistled):
    with pytest.raises(ValueError, match=match):
        midi.transcribe(whistled, SR, **kwargs)


def test_bad_audio_raises():
    with pytest.raises(ValueError, match="at most 600 s"):  # checked before anything is resampled
        midi.transcribe(np.zeros(601 * 1000, np.float32), 1000)
    with pytest.raises(ValueError, match="at most 2 s"):
        midi.transcribe(np.zeros(3 * SR, np.float32), SR, max_seconds=2)
    with pytest.raises(ValueError, match="NaN"):
        midi.transcribe(np.full(SR, np.nan, np.float32), SR)
    with pytest.raises(ValueError, match="sample rate"):
        midi.transcribe(np.zeros(SR, np.float32))
    with pytest.raises(ValueError, match="not found"):
        midi.transcribe("/nonexistent/clip.wav")


def test_long_file_is_refused_without_decoding_it(tmp_path):
    import soundfile as sf

    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(601 * 8000, np.float32), 8000)
    with pytest.raises(ValueError, match="601 s long"):
        midi.transcribe(str(path))


def test_cli_writes_midi_and_piano_roll(whistled, tmp_path, capsys):
    import matplotlib.pyplot as plt
    import pretty_midi

    from musiclm_studio.audio import save_audio
    from musiclm_studio.cli import main

    wav = save_audio(str(tmp_path / "tune.wav"), whistled, SR)
    assert main(["midi", wav, "--out", str(tmp_path / "out" / "tune.mid"), "--png", str(tmp_path / "roll.png")]) == 0
    written = pretty_midi.PrettyMIDI(str(tmp_path / "out" / "tune.mid"))
    assert pitch_classes(written) == {p % 12 for p, _ in TUNE}
    assert plt.imread(str(tmp_path / "roll.png")).shape[0] > 100
    assert main(["midi", wav, "--onset-threshold", "2"]) == 2
    assert "onset_threshold" in capsys.readouterr().err


def test_piano_roll_draws_notes_and_reference():
    from musiclm_studio.viz import piano_roll

    empty = piano_roll(np.zeros((0, 4)))
    drawn = piano_roll(tune_rows(), reference=tune_rows())
    assert drawn.dtype == np.uint8 and drawn.ndim == 3 and drawn.shape[2] == 3
    coloured = lambda image: int((image.max(2).astype(int) - image.min(2) > 60).sum())  # noqa: E731
    assert coloured(drawn) > 20 * coloured(empty) + 1000  # the bars are there


def test_missing_basic_pitch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    midi._basic_pitch.cache_clear()
    try:
        assert not midi.available()
        assert "pip install --no-deps" in midi.unavailable_reason()
        with pytest.raises(midi.MidiUnavailable, match="basic-pitch"):
            midi.transcribe(np.zeros(SR, np.float32), SR)
    finally:
        monkeypatch.undo()
        midi._basic_pitch.cache_clear()
    assert midi.available()
