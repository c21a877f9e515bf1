"""Melody from a realistic hum: the hum is what it says (deterministic, 20 dB SNR, drifting, in a room),
the melody trackers follow it and a clean sung melody, and the report measures each tracker."""

import importlib.util

import numpy as np
import pytest
import torch

from musiclm_studio.config import MelodyConfig
from musiclm_studio.data.voice import render_voice
from musiclm_studio.eval.hum import format_report, hum_report, tracker_accuracy
from musiclm_studio.eval.melody_eval import agreement
from musiclm_studio.eval.synth import DEFAULT_TUNE, ODE_TO_JOY, hum_set, realistic_hum, tune_spans
from musiclm_studio.models.melody_tokenizer import MelodyTokenizer, notes_to_tokens

SR = 24_000


def test_realistic_hum_is_deterministic_per_seed_and_noisy_at_the_asked_snr():
    a = realistic_hum(ODE_TO_JOY, 4.0, seed=3)
    assert a.dtype == np.float32 and a.shape == (4 * SR,) and abs(np.abs(a).max() - 0.5) < 1e-6
    assert np.array_equal(a, realistic_hum(ODE_TO_JOY, 4.0, seed=3))
    assert not np.allclose(a, realistic_hum(ODE_TO_JOY, 4.0, seed=4))
    for snr in (20.0, 10.0):
        noisy = realistic_hum(ODE_TO_JOY, 4.0, seed=3, snr_db=snr).astype(float)
        hum = realistic_hum(ODE_TO_JOY, 4.0, seed=3, snr_db=None).astype(float)  # same voice and room, no noise
        gain = noisy @ hum / (hum @ hum)
        residual = noisy - gain * hum
        assert abs(10 * np.log10((gain * hum) @ (gain * hum) / (residual @ residual)) - snr) < 0.5
    with pytest.raises(ValueError, match="wet"):
        realistic_hum(ODE_TO_JOY, 2.0, wet=2.0)


def test_the_hum_drifts_and_rings_in_its_room():
    import librosa

    held = [(60, 6.0)]
    f0 = {}
    for drift in (0.0, 30.0):  # no noise or room: the voice's own pitch, second by second
        audio = realistic_hum(held, seed=1, drift_cents=drift, snr_db=None, wet=0.0, breath=None)
        track, voiced, _ = librosa.pyin(audio, fmin=150, fmax=600, sr=SR, frame_length=2048, hop_length=480)
        cents = 1200 * np.log2(track[voiced] / librosa.midi_to_hz(72))  # the female voice hums C5
        f0[drift] = np.array([np.median(c) for c in np.array_split(cents, 6)])  # about one value a second
    assert np.ptp(f0[0.0]) < 15 and 25 < np.ptp(f0[30.0]) < 65  # measured: 10 and 40 (pYIN: 10-cent steps)
    phrase = [(60, 0.15), (None, 0.15), (62, 0.15), (None, 0.15)]  # room: sound after the voice stops
    dry = realistic_hum(phrase, seed=0, snr_db=None, wet=0.0)
    wet = realistic_hum(phrase, seed=0, snr_db=None)
    assert dry.shape == wet.shape == (int(0.6 * SR),)
    tail = slice(int(0.56 * SR), int(0.6 * SR))  # the voice's release is over 90 ms after the note
    assert np.abs(dry[tail]).max() < 1e-3 and np.sqrt(np.mean(wet[tail] ** 2)) > 0.003


def test_the_default_tracker_follows_a_clean_sung_melody_and_a_realistic_hum():
    tokenizer = MelodyTokenizer(MelodyConfig())
    spans = tune_spans(DEFAULT_TUNE)
    for voice in ("female", "male"):
        sung = render_voice(spans, 4.0, voice=voice, seed=2, vowels="a")
        tokens = tokenizer(torch.from_numpy(sung))
        assert agreement(tokens, notes_to_tokens(spans, tokens.numel(), 25))["pitch_class_accuracy"] >= 0.85
    found = tracker_accuracy(tokenizer, hum_set(2, 4.0))
    assert found["pitch_class_accuracy"] >= 0.8 and found["voicing_recall"] >= 0.95, found


@pytest.mark.parametrize("method,package", [("crepe", "torchcrepe"), ("pesto", "pesto")])
def test_pretrained_trackers_follow_a_realistic_hum(method, package):
    needs = (package, "omegaconf") if method == "pesto" else (package,)
    if any(importlib.util.find_spec(name) is None for name in needs):
        pytest.skip(f"{package} is not installed (make setup-dev installs it)")
    from musiclm_studio.models.melody_tokenizer import _import_tracker

    _import_tracker(package)  # importable here (with or without a usable torchaudio)
    tokenizer = MelodyTokenizer(MelodyConfig(method=method))
    found = tracker_accuracy(tokenizer, hum_set(1, 4.0))
    assert found["pitch_class_accuracy"] >= 0.8 and found["voicing_recall"] >= 0.95, found
    assert (tokenizer(torch.zeros(SR)) == 12).all()  # silence: unvoiced


def test_an_unknown_tracker_is_refused():
    with pytest.raises(ValueError, match="melody method must be one of"):
        MelodyTokenizer(MelodyConfig(method="yin"))


def test_hum_report_measures_each_tracker_and_puts_the_pipelines_own_back(tiny_pipe):
    own = tiny_pipe.components.melody
    report = hum_report(tiny_pipe, ("chroma", "truth"), count=2, seconds=1.0)
    assert tiny_pipe.components.melody is own
    chroma, truth = report["trackers"]["chroma"], report["trackers"]["truth"]
    assert truth["pitch_class_accuracy"] == 1.0 and 0 <= chroma["pitch_class_accuracy"] <= 1
    assert chroma["seconds_per_10s"] > 0 and "seconds_per_10s" not in truth
    for row in (chroma, truth):
        assert all(-1 <= row[k] <= 1 for k in ("chroma_cosine", "chroma_cosine_other_hum", "chroma_cosine_clean_tune"))
    table = format_report(report)
    assert "| chroma | " in table and "| truth | 1.000 | 1.000 | 1.000 | - |" in table
