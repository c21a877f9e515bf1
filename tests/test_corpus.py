"""The corpus engine: determinism, layout, resumable builds, datasets, bad input, true captions."""

import json
import os
import re

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("tinysoundfont")

from musiclm_studio.data.builder import build_corpus, read_metadata, split_of  # noqa: E402
from musiclm_studio.data.captions import stated_bpm, tempo_word  # noqa: E402
from musiclm_studio.data.datasets import CorpusDataset, UserAudioFolder, to_corpus  # noqa: E402
from musiclm_studio.data.genres import GENRES  # noqa: E402
from musiclm_studio.data.truth import check_corpus, measure_clip, summarise  # noqa: E402

SECONDS = 6.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("corpus"))
    build_corpus(out, 16, seconds=SECONDS, seed=0, workers=1, stems=True, progress=False)
    return out


def _bytes(folder, rel):
    with open(os.path.join(folder, rel), "rb") as f:
        return f.read()


def test_at_least_14_genres():
    assert len(GENRES) >= 14


def test_same_seed_same_bytes_and_workers_do_not_matter(tmp_path, corpus):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    build_corpus(a, 4, seconds=SECONDS, seed=0, workers=1, stems=True, progress=False)
    build_corpus(b, 4, seconds=SECONDS, seed=0, workers=2, stems=True, progress=False)
    for row in read_metadata(a):
        for rel in (row["path"], row["lead_path"]):
            assert _bytes(a, rel) == _bytes(b, rel) == _bytes(corpus, rel)
    assert read_metadata(a) == read_metadata(b) == read_metadata(corpus)[:4]
    c = str(tmp_path / "c")
    build_corpus(c, 1, seconds=SECONDS, seed=1, progress=False)
    assert _bytes(c, "audio/000000.wav") != _bytes(a, "audio/000000.wav")


def test_layout_and_audio(corpus):
    rows = read_metadata(corpus)
    assert [r["index"] for r in rows] == list(range(16))
    for row in rows:
        for key in ("path", "caption", "aspects", "split", "seed", "index", "genre", "bpm", "tonic", "mode",
                    "metre", "drums", "lead_program", "lead_family", "instruments", "energy", "mood", "section",
                    "lead_path", "lead_notes"):
            assert key in row, key
        for rel in (row["path"], row["lead_path"]):
            audio, sr = sf.read(os.path.join(corpus, rel), dtype="int16")
            assert sr == 24_000 and audio.ndim == 1 and len(audio) == int(SECONDS * sr)
            peak = np.abs(audio.astype(np.int32)).max()
            assert 3000 < peak < 32767  # audible, not clipped
            assert np.sqrt(np.mean((audio / 32768.0) ** 2)) > 0.01
        assert row["lead_notes"] and all(0 <= s < e <= SECONDS and 0 < p < 128 for s, e, p in row["lead_notes"])


def test_splits_are_disjoint_and_stable(corpus):
    splits = [split_of(i) for i in range(4000)]
    shares = {s: splits.count(s) / len(splits) for s in ("train", "valid", "test")}
    assert 0.87 < shares["train"] < 0.93 and 0.03 < shares["valid"] < 0.07 and 0.03 < shares["test"] < 0.07
    assert all(r["split"] == split_of(r["index"]) for r in read_metadata(corpus))
    paths = {s: {r["path"] for r in read_metadata(corpus) if r["split"] == s} for s in ("train", "valid", "test")}
    assert not (paths["train"] & paths["valid"]) and not (paths["train"] & paths["test"])


def test_resume_keeps_clips_and_appends(tmp_path):
    out = str(tmp_path / "r")
    build_corpus(out, 2, seconds=3.0, seed=4, progress=False)
    first = _bytes(out, "audio/000000.wav")
    report = build_corpus(out, 4, seconds=3.0, seed=4, progress=False)
    assert (report.built, report.kept, report.total) == (2, 2, 4)
    assert [r["index"] for r in read_metadata(out)] == [0, 1, 2, 3]
    assert _bytes(out, "audio/000000.wav") == first
    os.remove(os.path.join(out, "audio/000003.wav"))  # a lost file is made again
    assert build_corpus(out, 4, seconds=3.0, seed=4, progress=False).built == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"clips": 0}, "at least 1"), ({"genres": ["polka"]}, "Unknown genre"), ({"leads": ["kazoo"]}, "Unknown instrument"),
    ({"tempo": (10, 400)}, "out of range"), ({"seconds": 0}, "between"),
])
def test_bad_input(tmp_path, kwargs, message):
    args = {"clips": 1, "seconds": 3.0} | kwargs
    with pytest.raises(ValueError, match=message):
        build_corpus(str(tmp_path / "x"), progress=False, **args)


def test_existing_folders_are_never_overwritten(tmp_path, corpus):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a corpus"):
        build_corpus(str(foreign), 1, progress=False)
    with pytest.raises(ValueError, match="other options"):
        build_corpus(corpus, 16, seconds=SECONDS, seed=99, stems=True, progress=False)


def test_cli_corpus_commands(tmp_path, capsys):
    from musiclm_studio.cli import main

    assert main(["corpus", "build", "--out", str(tmp_path / "c"), "--clips", "0"]) == 2
    assert main(["corpus", "build", "--out", str(tmp_path / "c"), "--clips", "2", "--seconds", "2",
                 "--genres", "jazz,metal", "--quiet"]) == 0
    assert {r["genre"] for r in read_metadata(str(tmp_path / "c"))} <= {"jazz", "metal"}
    assert main(["corpus", "stats", str(tmp_path / "c"), "--png", str(tmp_path / "sheet.png"), "--n", "2"]) == 0
    assert os.path.getsize(tmp_path / "sheet.png") > 1000 and "genre" in capsys.readouterr().out


def test_corpus_dataset_crops(corpus):
    data = CorpusDataset(corpus, "train", seconds=2.0, seed=0)
    item = data[0]
    assert item["audio"].shape == (48_000,) and isinstance(item["caption"], str) and item["caption"]
    again = CorpusDataset(corpus, "train", seconds=2.0, seed=0)[0]["audio"]
    assert (again == item["audio"]).all()
    whole = CorpusDataset(corpus, None)
    assert len(whole) == 16 and whole[3]["audio"].numel() == int(SECONDS * 24_000)


def test_user_folder_skips_bad_files_and_reports_missing_captions(tmp_path, corpus):
    folder = tmp_path / "user"
    folder.mkdir()
    audio, _ = sf.read(os.path.join(corpus, "audio/000000.wav"))
    sf.write(folder / "song_a.wav", audio, 24_000)
    sf.write(folder / "song_b.flac", np.stack([audio, audio], 1), 48_000)  # stereo, other rate
    sf.write(folder / "silent.wav", np.zeros(24_000), 24_000)
    (folder / "broken.mp3").write_bytes(b"not audio at all")
    (folder / "captions.csv").write_text('ytid,caption,aspect_list\nsong_a,"a calm tune","[\'calm\', \'piano\']"\n'
                                         'gone,"missing file",[]\n')
    data = UserAudioFolder(str(folder))
    assert len(data) == 2 and data.report.kept == 2
    assert {name for name, _ in data.report.skipped} == {"silent.wav", "broken.mp3"}
    assert data.report.missing_captions == ["song_b.flac"] and data.report.unmatched_captions == ["gone"]
    first = data[0]
    assert first["caption"] == "a calm tune" and first["row"]["aspects"] == ["calm", "piano"]
    assert data[1]["audio"].numel() == audio.shape[0] // 2  # 48 kHz stereo -> 24 kHz mono
    to_corpus(str(folder), str(tmp_path / "as_corpus"), seconds=2.0)
    rows = read_metadata(str(tmp_path / "as_corpus"))
    assert len(rows) == 5 and {r["caption"] for r in rows} == {"a calm tune", ""}


def test_captions_state_only_true_things(corpus):
    import pretty_midi

    for row in read_metadata(corpus):
        text = (row["caption"] + " " + " ".join(row["aspects"])).lower()
        midi = pretty_midi.PrettyMIDI(os.path.join(corpus, row["midi_path"]))
        has_kit = any(i.is_drum and i.notes for i in midi.instruments)
        assert has_kit == row["drums"]
        assert bool(re.search(r"no (drums|percussion)|without drums", text)) == (not row["drums"])
        other = "major" if row["mode"] == "minor" else "minor"
        assert other not in text
        word = tempo_word(row["bpm"], row["metre"])
        for tempo in ("slow", "fast", "medium tempo"):
            if re.search(rf"\b{tempo}\b", text):
                assert tempo.split()[0] == word, (tempo, row["bpm"])
        assert re.findall(r"(\d+) bpm", text) in ([], [str(row["bpm"])] * len(re.findall(r"(\d+) bpm", text)))


def test_truth_rates_on_a_small_sample(corpus):
    report = summarise([measure_clip(corpus, row) for row in read_metadata(corpus)])
    assert report.percussive_auc >= 0.9
    assert report.percussive_drums[0] > 2 * report.percussive_no_drums[0]
    assert report.tempo_agreement >= 0.7
    assert report.mode_agreement >= 0.6


@pytest.mark.slow
def test_truth_rates_on_200_clips(tmp_path, request):
    if "slow" not in request.config.getoption("markexpr", ""):
        pytest.skip("about 2.5 minutes; run with -m slow")
    out = str(tmp_path / "big")
    build_corpus(out, 200, seconds=10.0, seed=7, workers=2, progress=False)
    report = check_corpus(out, n=200, progress=False)
    print(report.text())
    assert report.tempo_agreement >= 0.8 and report.percussive_auc >= 0.95
    assert report.mode_agreement >= report.mode_chance + 0.1
    assert json.dumps(report.__dict__)


def test_a_tempo_stated_as_a_number_is_read_from_the_prompt_and_nothing_else_is():
    from musiclm_studio.conditioning.prompt_reader import stated_tempo

    said = {"rock, 94 BPM, major": 94.0, "It runs at 120 bpm.": 120.0, "a tempo of 72 beats per minute": 72.0,
            "an 85-bpm groove": 85.0, "played at 132.5 BPM": 132.5, "a fast 1990s song": None, "1000 bpm": None,
            "tempo 7.5 bpm": None, "": None, "around 120 beats a minute": 120.0, "90 beats/min": 90.0,
            "100 beats each minute": 100.0, "3 beats a bar": None}
    assert {text: stated_bpm(text) for text in said} == said
    assert stated_tempo("a groove at 250 BPM") is None and stated_tempo("a groove at 120 BPM") == 120.0  # 40-200 only


def test_a_key_is_read_from_what_a_prompt_or_a_caller_names_and_corpus_captions_read_true(corpus):
    from musiclm_studio.data.theory import NOTE_NAMES
    from musiclm_studio.windowing import per_segment
    from musiclm_studio.vocab.musical_key import NO_KEY, key_name, key_token, parse_key, stated_key

    said = {"It is in F# minor.": (6, "minor"), "The piece is in the key of Bb major.": (10, "major"),
            "in E♭ major": (3, "major"), "a C-sharp minor ballad": (1, "minor"), "Amin groove": (9, "minor"),
            "in a minor key": (None, "minor"), "with a major tonality": (None, "major"),  # 'a' is an article
            "a happy tune": (None, None), "from minor to major": (None, None), "": (None, None)}
    assert {text: stated_key(text) for text in said} == said
    assert [parse_key(k) for k in ("a minor", "F# Major", "bb min", "minor")] == [
        (9, "minor"), (6, "major"), (10, "minor"), (None, "minor")]
    for bad in ("H minor", "A", "sad", ""):
        with pytest.raises(ValueError, match="'A minor', 'F# major'"):
            parse_key(bad)
    assert key_name(key_token(9, "minor")) == "A minor" and key_token(9, None) == NO_KEY and key_name(NO_KEY) is None
    assert per_segment([key_token(0, "major"), NO_KEY], [3, 5], 6, NO_KEY).tolist() == [0, 0, 0, NO_KEY, NO_KEY, NO_KEY]
    for row in read_metadata(corpus):  # a key or mode a caption states is the clip's own
        tonic, mode = stated_key(row["caption"])
        assert mode in (None, row["mode"]) and (tonic is None or NOTE_NAMES[tonic] == row["tonic"]), row["caption"]
