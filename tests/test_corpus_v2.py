"""Corpus v2 sound: every sound source plays, v2 builds are deterministic, the held-out world stays out
of training, and corpus v1 is byte-for-byte what the shipped model was trained on."""

import contextlib
import hashlib
import json
import os
import re

import numpy as np
import pytest

pytest.importorskip("pretty_midi")
pytest.importorskip("tinysoundfont")
pedalboard = pytest.importorskip("pedalboard", reason="corpus v2 needs pedalboard (pip install -e .[train])")
pytest.importorskip("pyloudnorm", reason="corpus v2 needs pyloudnorm (pip install -e .[train])")

import pretty_midi  # noqa: E402

from musiclm_studio.data import sources as S  # noqa: E402
from musiclm_studio.data.builder import build_corpus, read_metadata  # noqa: E402
from musiclm_studio.data.renderer import SOUNDFONT_CANDIDATES  # noqa: E402

FLUID = any(os.path.isfile(p) for p in SOUNDFONT_CANDIDATES)
# sha256 of the WAVs of `build_corpus(out, 3, seconds=4.0, seed=7)` made by the v1 code before corpus v2
V1_HASHES = ["d649a88a69f7042390b2b85fed90e4b4cff053f1e2368c4ed56fd330595be5ea",
             "57e5a9b276d658d88270c681ed049f327103d71497708877512c2b2af762b025",
             "7771dc5753ee903e96390f6956c9f08ea4e837f9c40458d0443e38c26bb0eb29"]


@contextlib.contextmanager
def sources_changed(remove=(), add=()):
    """The registry without the sources named in ``remove`` and with the specs of ``add`` while the block
    runs; then exactly as it was (its order too: plans draw sources in registry order)."""
    saved = dict(S.SOURCES)
    try:
        for name in remove:
            S.unregister_source(name)
        for spec in add:
            S.register_source(spec)
        yield
    finally:
        for name in [*remove, *(spec.name for spec in add)]:
            S.unregister_source(name)  # and its built instance
        S.SOURCES.clear()
        S.SOURCES.update(saved)


def _track(spec):
    if spec.kind == "drums":
        track = pretty_midi.Instrument(0, is_drum=True, name="drums")
        for k, pitch in enumerate([36, 42, 38, 42, 36, 46, 38, 49]):
            track.notes.append(pretty_midi.Note(40 + 10 * k, pitch, 0.2 * k, 0.2 * k + 0.1))
    else:
        track = pretty_midi.Instrument(0, name="lead")
        for k, pitch in enumerate([60, 64, 67, 72]):
            track.notes.append(pretty_midi.Note(90, pitch, 0.35 * k, 0.35 * k + 0.3))
    return track


@pytest.mark.parametrize("name", [n for n in S.SOURCES if n != "voice"])
def test_each_source_renders_deterministic_audio(name):
    spec = S.SOURCES[name]
    if not spec.available():
        pytest.skip(f"{name} needs {spec.path} ({spec.origin}); `make system-deps` installs it")
    source = S.get_source(name)
    track = _track(spec)
    first, second = source.render(track, 1.6, seed=3), source.render(track, 1.6, seed=3)
    assert first.dtype == np.float32 and first.shape == (int(1.6 * 24_000),)
    assert np.isfinite(first).all() and np.sqrt(np.mean(first ** 2)) > 1e-3
    assert first.tobytes() == second.tobytes()
    if spec.kind == "drums":
        assert {36, 38, 42} <= source.notes


class _Hum:
    """A stand-in for the voice module's source: a quiet tone where the lead's notes are."""

    def __init__(self):
        self.voices = []

    def render(self, track, seconds, seed=0, voice=None):
        self.voices.append(voice)
        out = np.zeros(int(seconds * 24_000), np.float32)
        for note in track.notes:
            out[int(note.start * 24_000): int(note.end * 24_000)] = 0.1
        return out


def test_registry_takes_a_voice_like_source():
    with pytest.raises(ValueError, match="world"):
        S.register_source(S.SourceSpec("bad", "melodic", "somewhere", "none", "test", factory=lambda s: _Hum()))
    if not FLUID:
        pytest.skip("planning training clips needs a training SoundFont (make system-deps)")
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.render_v2 import VOCALS, plan_sound, render_song_v2

    with sources_changed(add=[S.SourceSpec("voice", "melodic", "train", "none", "test", factory=lambda spec: _Hum())]):
        plans = [(i, plan_sound(compose(sample_attributes(1, i), 2.0))) for i in range(30)]
        sung = [(i, p) for i, p in plans if p.vocals]
        assert 5 <= len(sung) <= 20  # about a third of the clips
        # the voice doubles the lead: the lead keeps its instrument, the voice is one more track
        assert all(p.vocals in VOCALS and p.sources["vocals"] == "voice" and p.sources["lead"] != "voice"
                   for _, p in sung)
        assert all("vocals" not in p.sources for _, p in plans if not p.vocals)
        index, plan = sung[0]
        rendered, done = render_song_v2(compose(sample_attributes(1, index), 2.0), plan)
        assert S.get_source("voice").voices == [plan.vocals] and np.abs(rendered.mix).max() > 0.01
        assert "compressor" in done["effects"]["vocals"]


def test_the_voice_source_sings_a_lead_track():
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose

    track = compose(sample_attributes(0, 3), 3.0).track("lead")
    voice = S.get_source("voice")
    audio = voice.render(track, 3.0, seed=4, voice="choir")
    assert audio.dtype == np.float32 and audio.shape == (3 * 24_000,) and np.sqrt(np.mean(audio ** 2)) > 0.02
    assert audio.tobytes() == voice.render(track, 3.0, seed=4, voice="choir").tobytes()
    assert not np.allclose(audio, voice.render(track, 3.0, seed=4, voice="male"))


@pytest.mark.slow  # 35 s on a fresh clone; the tiny build's check below holds the voice check's rate
@pytest.mark.skipif(not FLUID, reason="needs FluidR3 (apt-get install fluid-soundfont-gm)")
def test_the_voice_check_hears_the_vocals():
    """The same songs with and without their voice: the vibrato feature of ``corpus check`` rises
    with it (in most songs: short notes are sung without vibrato, as singers do)."""
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.render_v2 import plan_sound, render_song_v2
    from musiclm_studio.data.sound_check import voice_presence

    def song(index):
        return compose(sample_attributes(0, index), 4.0)

    # the songs as the sampled SoundFonts play them: over the FM font (its leads modulate too) and over the
    # freepats patches the feature rises less in these five songs; a whole build's check reads it over all
    # the sources (docs/corpus.md)
    gains = []
    with sources_changed(remove=["opl3_fm", "freepats"]):
        for index in [i for i in range(40) if plan_sound(song(i)).vocals][:5]:
            with_voice = render_song_v2(song(index), plan_sound(song(index)))[0].mix
            plan = plan_sound(song(index))
            plan.vocals = None
            plan.sources.pop("vocals")
            gains.append(voice_presence(with_voice) - voice_presence(render_song_v2(song(index), plan)[0].mix))
    assert sum(g > 0 for g in gains) >= 4 and np.mean(gains) > 0.015, gains


@pytest.mark.skipif(not FLUID, reason="the v1 hashes were made with FluidR3 (apt-get install fluid-soundfont-gm)")
def test_v1_corpus_is_unchanged(tmp_path):
    build_corpus(str(tmp_path), 3, seconds=4.0, seed=7, progress=False)
    got = [hashlib.sha256((tmp_path / "audio" / f"{i:06d}.wav").read_bytes()).hexdigest() for i in range(3)]
    assert got == V1_HASHES
    assert "version" not in json.loads((tmp_path / "corpus.json").read_text())


@pytest.mark.skipif(not FLUID, reason="needs FluidR3 (apt-get install fluid-soundfont-gm)")
def test_v2_build_is_deterministic_and_recorded(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        build_corpus(str(out), 3, seconds=3.0, seed=11, progress=False, version=2)
    for i in range(3):
        assert (a / "audio" / f"{i:06d}.wav").read_bytes() == (b / "audio" / f"{i:06d}.wav").read_bytes()
    manifest = json.loads((a / "corpus.json").read_text())
    assert manifest["version"] == 2 and manifest["heldout_sources"] == ["timgm6mb"]
    assert set(manifest["sound_sources"]) >= {"fluidr3", "timgm6mb"}
    for row in read_metadata(str(a)):
        assert row["corpus_version"] == 2 and row["world"] in ("train", "heldout")
        assert set(row["effects"]) == set(row["sources"]) | {"bus"} and row["vocals"] in (None, "female", "male", "choir")
        assert row["production"]["delay"] == ("delay" in row["effects"].get("lead", []))
        assert {"groove", "timing_ms"} <= set(row["performance"])
        assert row["loudness_lufs"] <= row["production"]["lufs"] + 0.5  # at the target, or under it (peak guard)
    with pytest.raises(ValueError, match="version"):
        build_corpus(str(a), 3, seconds=3.0, seed=11, progress=False, version=1)


def test_heldout_source_never_in_a_training_split():
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.builder import split_of
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.render_v2 import plan_sound, world_of

    heldout = set(S.heldout_sources())
    assert heldout and all(S.SOURCES[n].world == "heldout" for n in heldout)
    worlds = [world_of(i) for i in range(400)]
    assert 5 <= worlds.count("heldout") <= 40  # ~5 %
    if not FLUID:
        pytest.skip("planning training clips needs a training SoundFont (make system-deps)")
    for index in range(60):
        plan = plan_sound(compose(sample_attributes(5, index), 2.0))
        split = "heldout" if plan.world == "heldout" else split_of(index)
        used = set(plan.sources.values())
        if split in ("train", "valid", "test"):
            assert not used & heldout, (index, plan.sources)
        else:  # every instrument from the held-out source; a voice sings over it as in the training world
            assert {s for role, s in plan.sources.items() if role != "vocals"} <= heldout
            assert plan.sources.get("vocals", "voice") == "voice"


def test_an_added_font_takes_its_share_of_clips_and_leaves_the_others_as_they_were():
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.render_v2 import plan_sound

    if not FLUID:
        pytest.skip("planning training clips needs a training SoundFont (make system-deps)")
    songs = [compose(sample_attributes(3, i), 2.0) for i in range(60)]
    added = S.SourceSpec("added", "both", "train", "none", "test", clip_share=0.5, factory=lambda spec: None)
    with sources_changed(remove=["opl3_fm"]):  # the test's own added font stands in for it
        before = [plan_sound(song).to_dict() for song in songs]
        with sources_changed(add=[added]):
            after = [plan_sound(song).to_dict() for song in songs]
    fonts = {n for n, spec in S.SOURCES.items() if spec.kind == "both" and spec.world == "train"}
    taken = [i for i, plan in enumerate(after) if "added" in plan["sources"].values()]
    assert 15 <= len(taken) <= 45  # about half
    for b, a in zip(before, after):
        assert {k: v for k, v in a.items() if k != "sources"} == {k: v for k, v in b.items() if k != "sources"}
        if "added" not in a["sources"].values():
            assert a["sources"] == b["sources"]  # a clip the font does not take is planned as before
            continue
        for role, source in b["sources"].items():  # it takes the fonts' melodic roles, and only those
            expected = "added" if source in fonts and role != "drums" else source
            assert a["sources"][role] == expected, (role, a["sources"], b["sources"])


def test_the_patch_set_plays_the_asked_pitch_and_its_share_of_clips(tmp_path):
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.render_v2 import plan_sound
    from musiclm_studio.data.sampler import read_patch

    spec = S.SOURCES["freepats"]
    if not (spec.available() and FLUID):
        pytest.skip("needs Debian freepats and FluidR3 (make system-deps)")
    patches = S.get_source("freepats").patches
    assert patches.programs == spec.programs  # the registry's list is the package's
    for program, pitch in ((0, 69), (24, 57), (73, 81)):  # piano A4, nylon guitar A3, flute A5
        audio = patches.render(program, [pretty_midi.Note(100, pitch, 0.0, 0.9)], 1.0)[2400:21600]
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        peak = np.fft.rfftfreq(len(audio), 1 / 24_000)[np.argmax(spectrum)]
        expected = 440.0 * 2 ** ((pitch - 69) / 12)
        assert min(abs(1200 * np.log2(peak * k / expected)) for k in (1, 2, 3)) < 30, (program, peak)
    with pytest.raises(ValueError, match="program 3"):
        patches.render(3, [], 1.0)
    (tmp_path / "x.pat").write_bytes(b"RIFF....")
    with pytest.raises(ValueError, match="not a GUS patch"):
        read_patch(str(tmp_path / "x.pat"))
    songs = [compose(sample_attributes(3, i), 2.0) for i in range(60)]
    with sources_changed(remove=["freepats"]):
        before = [plan_sound(song).sources for song in songs]
    after = [plan_sound(song).sources for song in songs]
    taken = [i for i, sources in enumerate(after) if "freepats" in sources.values()]
    assert 8 <= len(taken) <= 30  # 40 % of the clips the FM font leaves
    for i, (b, a) in enumerate(zip(before, after)):
        for role, source in b.items():  # it takes font-played melodic roles of programs it has, and only those
            took = i in taken and source in ("fluidr3", "musescore_general") and role not in ("drums", "vocals") \
                and songs[i].track(role).program in spec.programs
            assert a[role] == ("freepats" if took else source), (role, a, b)


@pytest.mark.skipif(not FLUID, reason="needs FluidR3 (apt-get install fluid-soundfont-gm)")
def test_a_heldout_only_build_is_the_heldout_world_in_heldout_words(tmp_path):
    from musiclm_studio.data.builder import build_corpus, heldout_indices, read_metadata
    from musiclm_studio.data.render_v2 import world_of

    indices = heldout_indices(3)
    assert len(indices) == 3 and all(world_of(i) == "heldout" for i in indices)
    assert all(world_of(i) == "train" for i in range(indices[-1]) if i not in indices)
    report = build_corpus(str(tmp_path), 3, seconds=2.0, seed=4, version=2, heldout_only=True, progress=False)
    rows = read_metadata(str(tmp_path))
    assert report.built == 3 and [r["index"] for r in rows] == indices
    assert all(r["split"] == "heldout" and r["caption_family"] == "prose" for r in rows)
    assert all(set(s for role, s in r["sources"].items() if role != "vocals") <= set(S.heldout_sources()) for r in rows)
    assert build_corpus(str(tmp_path), 3, seconds=2.0, seed=4, version=2, heldout_only=True, progress=False).kept == 3
    with pytest.raises(ValueError, match="other options"):
        build_corpus(str(tmp_path), 3, seconds=2.0, seed=4, version=2, progress=False)
    with pytest.raises(ValueError, match="--version 2"):
        build_corpus(str(tmp_path / "v1"), 3, seconds=2.0, heldout_only=True, progress=False)


def test_humanise_moves_notes_but_keeps_the_grid():
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.humanise import humanise, sample_performance

    song, plain = compose(sample_attributes(2, 4), 6.0), compose(sample_attributes(2, 4), 6.0)
    rng = np.random.default_rng(0)
    humanise(song, sample_performance("rock", rng), rng)
    before = [n.start for t in plain.midi.instruments for n in t.notes]
    after = [n.start for t in song.midi.instruments for n in t.notes]
    shifts = np.abs(np.array(after) - np.array(before))
    assert shifts.max() > 1e-3 and shifts.max() < 0.06


def test_long_clips_are_arranged():
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.humanise import arrange, sample_performance

    attrs = sample_attributes(0, 9)  # a latin verse with drums
    song = compose(attrs, 30.0)
    crashes = sum(n.pitch == 49 for n in song.track("drums").notes)
    done = arrange(song, sample_performance(attrs.genre, np.random.default_rng(0)))
    assert done["crash_bars"] and sum(n.pitch == 49 for n in song.track("drums").notes) == crashes + len(done["crash_bars"])
    assert arrange(compose(attrs, 10.0), sample_performance(attrs.genre, np.random.default_rng(0))) == {}


@pytest.mark.skipif(not FLUID, reason="needs FluidR3 (apt-get install fluid-soundfont-gm)")
def test_v2_captions_are_true_of_a_tiny_build(tmp_path):
    """Caption v2 on a v2 build: its family and vocals in the metadata, the held-out family never in
    train / valid, the caption rebuilt from the row, and ``corpus check`` agrees with it."""
    from musiclm_studio.data.attributes import Attributes
    from musiclm_studio.data.captions_v2 import FAMILIES, describe_v2, is_held_out
    from musiclm_studio.data.truth import check_corpus

    build_corpus(str(tmp_path), 10, seconds=6.0, seed=3, progress=False, version=2)
    rows = read_metadata(str(tmp_path))
    assert any(r["vocals"] for r in rows) and not all(r["vocals"] for r in rows)
    for row in rows:
        assert row["caption_family"] in FAMILIES and "vocals" in row
        if row["split"] in ("train", "valid"):
            assert not is_held_out(row["caption_family"])
        caption = describe_v2(Attributes.from_row(row), 0, row["caption_family"])
        assert (caption.text, caption.aspects) == (row["caption"], row["aspects"])
        assert caption.stated.get("vocals") == row["vocals"]
        assert bool(re.search(r"wordless|oohs|aahs", row["caption"], re.IGNORECASE)) == bool(row["vocals"])
    report = check_corpus(str(tmp_path), n=10, progress=False)
    assert report.tempo_agreement >= 0.6 and report.percussive_auc >= 0.8 and report.mode_agreement >= 0.6
    assert report.sound["vocals"][4] >= 0.7, report.text()
