"""Real recordings without captions (``data.recordings``): licences per track, the reserved
packages refused, clips cut on a beat and tagged only with what the analysers read; and a
continuation's beat grid and key read from its own audio (``conditioning.resolver``)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile

from musiclm_studio.analysis import read_beat_grid, read_key
from musiclm_studio.data import recordings as R
from musiclm_studio.vocab.beat_grid import BEAT_BINS

SR = 24_000
A_MINOR = (57, 60, 64)  # A3 C4 E4


def groove(seconds: float, bpm: float, first_beat_s: float, chord=A_MINOR, seed: int = 0) -> np.ndarray:
    """Clicks on every beat from ``first_beat_s`` over a sustained chord with its bass, at ``bpm``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = sum(np.sin(2 * np.pi * 440 * 2 ** ((n - 69) / 12) * t) for n in chord)
    tones = tones + 0.8 * np.sin(2 * np.pi * 440 * 2 ** ((chord[0] - 12 - 69) / 12) * t)
    audio = 0.05 * tones
    click = rng.standard_normal(int(0.03 * SR)) * np.exp(-np.arange(int(0.03 * SR)) / 150)
    beat = first_beat_s
    while beat < seconds - 0.05:
        i = int(beat * SR)
        audio[i: i + len(click)] += 0.6 * click[: len(audio) - i]
        beat += 60.0 / bpm
    return (audio / np.abs(audio).max() * 0.8).astype(np.float32)


@pytest.fixture
def soundtrack(tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    for i, (bpm, first) in enumerate([(120.0, 0.31), (96.0, 0.12)]):
        soundfile.write(folder / f"cue{i}.wav", groove(15.0, bpm, first, seed=i), SR)
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2020 Someone\nLicense: GPL-2+\n\n"
        "Files: music/cue1.wav\nCopyright: Nexuiz GPLed Data\n Another Author\nLicense: GPL-2\n")
    spec = R.Soundtrack("test-music", str(folder / "*.wav"), "train", copyright_path=str(copyright_file))
    R.register_soundtrack(spec)
    yield spec
    R.unregister_soundtrack("test-music")


def test_the_reserved_soundtracks_are_refused():
    for package in R.RESERVED:
        with pytest.raises(ValueError, match="reserved for independent evaluation"):
            R.register_soundtrack(R.Soundtrack(package, "/tmp/*.ogg"))
        with pytest.raises(ValueError, match="reserved"):
            R.import_recordings("/tmp/never-written", packages=[package])
    assert not set(R.RESERVED) & set(R.SOUNDTRACKS)


def test_one_whole_soundtrack_is_our_own_test_set():
    roles = {spec.role for spec in R.SOUNDTRACKS.values()}
    assert roles == {"train", "test"}
    assert [name for name, spec in R.SOUNDTRACKS.items() if spec.role == "test"] == ["singularity-music"]


def test_licences_are_read_per_track_and_nexuiz_credits_left_out(soundtrack):
    tracks = R.soundtrack_tracks("test-music")
    assert [os.path.basename(t.name) for t in tracks] == ["cue0.wav"]  # cue1 is credited to Nexuiz
    assert tracks[0].licence == "GPL-2+" and tracks[0].credit == "2020 Someone"


def test_clips_start_on_a_beat_and_say_only_what_is_heard(soundtrack, tmp_path):
    R.register_soundtrack(R.Soundtrack("test-music", soundtrack.files, "train", "CC0-1.0", "tests"))  # no copyright
    manifest = R.import_recordings(str(tmp_path / "corpus"), packages=["test-music"], clip_s=6.0, every_s=6.5,
                                   progress=False)
    rows = [json.loads(line) for line in open(tmp_path / "corpus" / "metadata.jsonl")]
    assert manifest["splits"]["train"] + manifest["splits"]["valid"] == len(rows) >= 4
    for row in rows:
        bpm, first = (120.0, 0.31) if row["track"] == "cue0.wav" else (96.0, 0.12)
        beats_in = (row["start_s"] - first) * bpm / 60
        assert abs(beats_in - round(beats_in)) < 0.1, row  # the clip starts on a beat
        assert abs(row["bpm"] - bpm) / bpm < 0.03, row
        assert (row["tonic"], row["mode"]) == ("A", "minor"), row
        assert row["licence"] == "CC0-1.0" and row["caption"].startswith("a recorded instrumental")
        assert f"{round(row['bpm'])} bpm" in row["caption"] and "A minor" in row["caption"]
        audio, sr = soundfile.read(tmp_path / "corpus" / row["path"])
        assert sr == SR and len(audio) == 6 * SR


def test_retag_rereads_keys_and_keeps_the_clips(soundtrack, tmp_path):
    R.register_soundtrack(R.Soundtrack("test-music", soundtrack.files, "train", "CC0-1.0", "tests"))
    folder = tmp_path / "corpus"
    R.import_recordings(str(folder), packages=["test-music"], clip_s=6.0, every_s=6.5, progress=False)
    rows = [json.loads(line) for line in open(folder / "metadata.jsonl")]
    stale = [dict(r, tonic="F#", mode="major", caption="old") for r in rows]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    counts = R.retag_keys(str(folder))
    again = [json.loads(line) for line in open(folder / "metadata.jsonl")]
    assert counts == {"clips": len(rows), "keyed": len(rows), "changed": len(rows)}
    assert [(r["path"], r["bpm"], r["split"]) for r in again] == [(r["path"], r["bpm"], r["split"]) for r in rows]
    assert all((r["tonic"], r["mode"]) == ("A", "minor") and "A minor" in r["caption"] for r in again)
    with pytest.raises(ValueError, match="no metadata.jsonl"):
        R.retag_keys(str(tmp_path / "nothing"))


def test_unsteady_or_keyless_audio_is_left_unstated():
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(6 * SR) * 0.1).astype(np.float32)
    assert read_key(noise, SR)[0] is None
    assert read_beat_grid(np.zeros(6 * SR, np.float32), SR) == (0.0, 0.0)


def test_a_continuation_hears_its_own_beat_grid_and_key(tiny_full_pipe):
    """The opening's tempo and first beat set the grid the LMs hear; its key their key."""
    from musiclm_studio.conditioning import resolver
    from musiclm_studio.vocab.musical_key import key_name

    pipe = tiny_full_pipe
    opening = groove(4.0, 100.0, 0.25)
    request = pipe.check_inputs("a calm piano piece", duration_s=2.0, seed=0, continuation=opening,
                                continuation_sample_rate=SR)
    cond = pipe.resolve_conditioning(request)
    assert abs(cond.tempo_bpm[0] - 100.0) < 3 and abs(cond.beat_start_s - 0.25) < 0.03
    assert key_name(cond.key_tokens[0]) == "A minor"
    lm = pipe.components.semantic_lm
    total = round(6.0 * lm.config.frame_rate)
    parts = resolver.segments(cond, lm.config.frame_rate, total, 1, lm)
    beat = resolver.aligned_streams(cond, lm, parts, total, 1, pipe.device)["beat"][0]
    for k in range(8):  # a beat of the opening falls in the grid's first phase bins, every 0.6 s
        frame = int((0.25 + 0.6 * k) * lm.config.frame_rate)
        phase = int(beat[frame])
        assert min(phase, BEAT_BINS - phase) <= 2, (k, phase)


def test_a_continuation_joins_its_opening_at_the_openings_loudness():
    import torch

    from musiclm_studio.audio import match_level
    from musiclm_studio.eval.continuation import seam_jump_db

    quiet, loud = groove(3.0, 120.0, 0.1), groove(3.0, 90.0, 0.2, chord=(60, 64, 67), seed=1)
    spliced = torch.from_numpy(np.stack([np.concatenate([quiet * 0.3, loud]), np.concatenate([quiet, quiet])]))
    assert seam_jump_db(spliced[0].numpy(), SR, 3.0) > 6
    matched = match_level(spliced, 3 * SR, SR)
    assert seam_jump_db(matched[0].numpy(), SR, 3.0) < 1.0
    assert torch.equal(matched[:, : 3 * SR], spliced[:, : 3 * SR])  # the opening is untouched
    silent = torch.zeros(1, 6 * SR)
    assert torch.equal(match_level(silent, 3 * SR, SR), silent)



WORKER = """
import json, sys
from numba.core import caching
sys.path.insert(0, sys.argv[1])
from test_recordings import groove
from musiclm_studio.analysis import beat_times, compile_analysers
from musiclm_studio.data.recordings import analyse_clip

touched = []  # the kernels this process read from numba's cache or compiled into it
for name in ("load_overload", "save_overload"):
    def spy(self, *args, _original=getattr(caching.Cache, name)):
        touched.append(self._name)
        return _original(self, *args)
    setattr(caching.Cache, name, spy)
compile_analysers()
warmed, touched[:] = list(touched), []
audio = groove(8.0, 110.0, 0.2)  # what a worker does with a decoded track
beats = beat_times(audio, 24000)
analyse_clip(audio[: 6 * 24000], beats[beats < 6])
print(json.dumps({"warmed": warmed, "worker": touched}))
"""


def test_workers_find_the_analysers_compiled(tmp_path):
    """``import_recordings(workers=2)`` runs ``compile_analysers`` before its workers start: every
    numba kernel (librosa's, ``cache=True``) that a worker's analysis needs is then compiled and in
    the cache, so workers never fill an empty cache at once (numba/numba#10128: a segmentation
    fault). Checked in a fresh process: after ``compile_analysers``, a worker's analysis of a decoded
    track neither reads nor writes numba's cache."""
    import subprocess
    import sys

    env = dict(os.environ)  # under `make test`, this worker's own cache (conftest)
    env.setdefault("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", WORKER, os.path.dirname(__file__)], env=env, check=True,
                         capture_output=True, text=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert len(report["warmed"]) >= 4 and report["worker"] == [], report
