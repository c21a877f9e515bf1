"""Evaluation metrics on fixtures with known answers, the eval command end to end, and ordering:
a good system must score better than a deliberately broken one on every quality figure."""

import json

import numpy as np
import pytest
import torch

from musiclm_studio.analysis import estimate_tempo, percussive_ratio, tempo_agrees
from musiclm_studio.eval.fad import GaussianStats, fad, frechet_distance
from musiclm_studio.eval.adherence import drum_threshold
from musiclm_studio.eval.harness import EvalConfig, Generation, evaluate, load_prompts, load_reference
from musiclm_studio.eval.metrics import chroma_cosine, diversity_report, melody_set, rotate, stability_report
from musiclm_studio.eval.synth import DEFAULT_TUNE, drum_loop, hummed_melody, pink_noise
from musiclm_studio.pipeline import MusicLMPipeline

SR = 24_000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, oversubscribed OpenMP threads spin for seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six 3-s test clips: drum loops at known tempi alternating with hummed major-key melodies."""
    from conftest import write_corpus

    clips = []
    for i in range(6):
        if i % 2 == 0:
            bpm = 100 + 10 * i
            audio = drum_loop(seconds=3, bpm=bpm, seed=i)
            stated = f", {bpm} bpm" if i < 4 else ""  # the last loop's caption leaves its tempo out
            row = {"caption": f"a punchy drum loop with kick and snare{stated}", "drums": True, "bpm": bpm}
        else:
            audio = hummed_melody([(p + i, s) for p, s in DEFAULT_TUNE], seed=i)[: 3 * SR]
            row = {"caption": f"a soft hummed melody in a major key, no drums, take {i}", "drums": False, "mode": "major",
                   "lead_family": "voice" if i % 4 == 1 else "whistle"}
        clips.append((f"{i:03d}.wav", audio, row | {"split": "test", "genre": "test"}))
    return write_corpus(tmp_path_factory.mktemp("corpus"), clips)


# ---- FAD --------------------------------------------------------------------------------
def test_fad_of_identical_sets_is_zero_and_of_shifted_sets_is_the_squared_shift():
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    assert fad(x, x) == pytest.approx(0.0, abs=1e-8)
    shift = torch.zeros(8)
    shift[0] = 3.0
    assert fad(x, x + shift) == pytest.approx(9.0, rel=1e-6)  # same covariance: only the means differ


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    a = GaussianStats(np.array([0.0, 1.0]), np.diag([1.0, 4.0]), 10)
    b = GaussianStats(np.array([1.0, 1.0]), np.diag([4.0, 9.0]), 10)
    # |m1 - m2|^2 + sum (sqrt(s1) - sqrt(s2))^2 = 1 + (1 - 2)^2 + (2 - 3)^2
    assert frechet_distance(a, b) == pytest.approx(3.0, rel=1e-9)


def test_fad_handles_fewer_clips_than_dimensions_and_rejects_bad_input():
    x = torch.randn(5, 32, generator=torch.Generator().manual_seed(1))
    y = torch.randn(5, 32, generator=torch.Generator().manual_seed(2))
    assert np.isfinite(fad(x, y)) and fad(x, y) > 0
    with pytest.raises(ValueError, match="at least 2"):
        fad(x[:1], y)
    with pytest.raises(ValueError, match="sizes differ"):
        fad(x, y[:, :16])


# ---- tempo, drums, melody, diversity ------------------------------------------------------
@pytest.mark.parametrize("bpm", [90, 120])
def test_a_click_track_measures_at_its_tempo(bpm):
    t = np.arange(int(0.03 * SR)) / SR
    click = np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 200)
    audio = np.zeros(8 * SR)
    for start in np.arange(0, 8 - 0.05, 60 / bpm):
        audio[int(start * SR): int(start * SR) + click.size] += click
    estimated = estimate_tempo(audio, SR)
    assert tempo_agrees(estimated, bpm, ratios=(1.0,)), estimated


def test_drum_threshold_separates_drums_from_a_hummed_line():
    drums = [percussive_ratio(drum_loop(seconds=2, seed=s), SR) for s in range(2)]
    hums = [percussive_ratio(hummed_melody(seed=s)[: 2 * SR], SR) for s in range(2)]
    cut = drum_threshold(drums + hums, [True, True, False, False])
    assert max(hums) < cut < min(drums)
    assert drum_threshold([0.1], [True]) == 0.3  # one class only: the default


def test_chroma_cosine_of_a_melody_with_itself_is_one_and_with_another_clearly_less():
    melodies = melody_set(2, 4.0, SR)
    same = chroma_cosine(melodies[0], melodies[0], SR)
    shifted = chroma_cosine(melodies[0], np.concatenate([np.zeros(SR // 5), melodies[0]]), SR)  # 0.2 s late
    other = chroma_cosine(melodies[0], melodies[1], SR)
    assert same == pytest.approx(1.0, abs=1e-3)
    assert shifted > 0.9  # alignment-tolerant
    assert other < 0.75 * same


def test_diversity_is_zero_for_identical_outputs_and_positive_otherwise(tiny_pipe):
    mulan = tiny_pipe.components.mulan
    clip, other = torch.from_numpy(drum_loop(seconds=1, seed=0)), torch.from_numpy(pink_noise(seconds=1))
    assert diversity_report(mulan, [[clip, clip, clip]])["across_seeds"] == pytest.approx(0.0, abs=1e-5)
    assert diversity_report(mulan, [[clip, other], [other, clip]])["across_seeds"] > 1e-4


# ---- prompt sets ----------------------------------------------------------------------------
def test_prompt_sets_from_jsonl_text_corpus_and_their_errors(tmp_path, corpus):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "calm piano", "bpm": 70}\n{"caption": "fast techno"}\n')
    items = load_prompts(str(jsonl))
    assert [i.text for i in items] == ["calm piano", "fast techno"] and items[0].attributes == {"bpm": 70}
    txt = tmp_path / "p.txt"
    txt.write_text("one\n\ntwo\nthree\n")
    assert [i.text for i in load_prompts(str(txt), limit=2)] == ["one", "two"]
    from_corpus = load_prompts(f"corpus:{corpus}")
    assert len(from_corpus) == 6 and from_corpus[0].attributes["drums"] is True
    with pytest.raises(ValueError, match="not found"):
        load_prompts(str(tmp_path / "missing.jsonl"))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_prompts(str(tmp_path / "empty.txt"))
    with pytest.raises(ValueError, match="not a corpus"):
        load_prompts(f"corpus:{tmp_path}")
    with pytest.raises(ValueError, match="--limit"):
        load_prompts(str(txt), limit=0)


def test_corpus_prompts_ask_only_for_the_tempo_and_mode_their_caption_states():
    from musiclm_studio.data.captions import requested

    attrs = {"bpm": 120, "mode": "minor", "drums": True, "lead_family": "piano"}
    assert requested("An uptempo rock song at 120 bpm in A minor.", attrs) == attrs  # the bpm, not the word
    assert requested("Fast rock in a minor key", attrs) == attrs | {"tempo_word": "fast"}  # a word asks for its band
    assert requested("The tempo is moderate. It sounds calm and moderate.", attrs)["tempo_word"] == "medium"
    assert requested("slow or fast?", attrs | {"bpm": 70})["tempo_word"] == "slow"  # the clip's own word first
    assert requested("A calm and moderate, steady rock song with piano.", attrs) == {"drums": True, "lead_family": "piano"}
    assert "bpm" not in requested("rock at 121 bpm, minor", attrs)  # another tempo asks for something else
    assert "mode" not in requested("a minority report, in the major leagues", attrs)


def test_a_tempo_word_is_scored_on_its_band_and_a_stated_bpm_on_the_bpm_with_half_or_double_time():
    from musiclm_studio.eval.adherence import check_reading

    def tempo(read_bpm, **asked):
        return check_reading({"bpm": read_bpm}, asked, threshold=0.1)["tempo"]

    assert tempo(70.0, bpm=140) and tempo(280.0, bpm=140) and not tempo(100.0, bpm=140)
    assert tempo(70.0, bpm=90, tempo_word="slow") and not tempo(140.0, bpm=70, tempo_word="slow")  # no double time
    assert tempo(100.0, bpm=88, tempo_word="medium") and not tempo(150.0, bpm=150, tempo_word="medium")
    assert tempo(160.0, tempo_word="fast") and not tempo(0.0, tempo_word="fast")  # silence has no tempo
    assert check_reading({"bpm": 90.0, "ratio": 0.3}, {"drums": False}, threshold=0.1) == {"drums": False}
    with pytest.raises(ValueError, match="tempo word"):
        tempo(90.0, tempo_word="brisk")


# ---- the command end to end -----------------------------------------------------------------
def test_eval_command_on_a_tiny_pipeline_writes_json_markdown_pngs_and_summary(tiny_pipe, corpus, tmp_path):
    from musiclm_studio.cli import main
    from musiclm_studio.train.assemble import assemble

    pipe_dir, out = tmp_path / "pipe", tmp_path / "eval"
    tiny_pipe.save_pretrained(str(tmp_path / "one"))
    assemble(str(tmp_path / "one"), str(pipe_dir), {}, num_candidates=2)  # eval samples what the pipeline says
    code = main(["eval", "--pipeline", str(pipe_dir), "--prompts", f"corpus:{corpus}", "--out", str(out),
                 "--seconds", "1", "--limit", "3", "--baselines", "2", "--melodies", "2", "--long-seconds", "2",
                 "--write-summary"])
    assert code == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["prompts"] == 3 and report["fad"]["generated"] >= 0 and report["fad"]["codec_floor"] >= 0
    assert report["config"]["num_candidates"] == 2
    assert set(report["speed"]["rtf"]) >= {"semantic", "coarse", "fine", "decode", "total"}
    assert report["speed"]["first_audio_s"] > 0 and report["speed"]["peak_rss_mb"] > 0
    assert 0 <= report["melody"]["matched"] <= 1 and report["diversity"]["across_seeds"] is not None
    assert report["mcc"]["real_ceiling"] is not None and report["adherence"]["drums"]["count"] == 3
    assert len(report["stability"]["windows"][0]) == 2 and 0 <= report["stability"]["in_range"] <= 1
    assert "MCC" in (out / "eval.md").read_text() and len(list(out.glob("example*.png"))) == 3
    assert json.loads((pipe_dir / "eval_summary.json").read_text())["prompts"] == 3
    assert main(["eval", "--prompts", f"corpus:{corpus}", "--out", str(out), "--seconds", "0"]) == 2
    assert main(["eval", "--prompts", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 2


def test_eval_can_be_judged_by_another_pipelines_mulan(tiny_pipe, corpus, tmp_path):
    from musiclm_studio.cli import main
    from musiclm_studio.pipeline import MusicLMPipeline

    judge = MusicLMPipeline.from_config("tiny", seed=1)  # other MuLan weights than the pipeline's
    judge.components.untrained = set()  # saved with weights, as a trained pipeline is
    judge.save_pretrained(str(tmp_path / "judge"))
    tiny_pipe.save_pretrained(str(tmp_path / "pipe"))
    args = ["eval", "--pipeline", str(tmp_path / "pipe"), "--prompts", f"corpus:{corpus}", "--seconds", "1",
            "--limit", "2", "--baselines", "0", "--melodies", "0", "--long-prompts", "0"]
    assert main(args + ["--out", str(tmp_path / "own")]) == 0
    assert main(args + ["--out", str(tmp_path / "judged"), "--judge", str(tmp_path / "judge")]) == 0
    own, judged = (json.loads((tmp_path / d / "eval.json").read_text()) for d in ("own", "judged"))
    assert "MuLan judge" in judged["pipeline"] and "MuLan judge" not in own["pipeline"]
    assert judged["mcc"]["generated"] != own["mcc"]["generated"]  # the same audio, read by another MuLan
    assert judged["adherence"]["tempo"] == own["adherence"]["tempo"]  # analysers do not depend on MuLan
    assert main(args + ["--out", str(tmp_path / "x"), "--judge", str(tmp_path / "nothing")]) == 2


def test_eval_reports_kl_and_clap_score_naming_what_measured_them(tiny_full_pipe, corpus, tmp_path):
    from musiclm_studio.cli import main

    tiny_full_pipe.save_pretrained(str(tmp_path / "pipe"))
    assert main(["eval", "--pipeline", str(tmp_path / "pipe"), "--prompts", f"corpus:{corpus}", "--seconds", "1",
                 "--limit", "2", "--baselines", "0", "--melodies", "0", "--long-prompts", "0", "--out",
                 str(tmp_path / "eval"), "--kl", "critic", "--clap-score", "mulan"]) == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    kl, clap = report["kl_clap"]["kl"][0], report["kl_clap"]["clap"][0]
    assert kl["classifier"] == "critic" and kl["pairs"] == 2 and kl["mean"] > 0
    assert clap["model"] == "mulan" and clap["score"] == pytest.approx(report["mcc"]["generated"], abs=1e-5)  # MCC
    assert "| KL (lower is better), 2 pairs | critic |" in (tmp_path / "eval" / "eval.md").read_text()


# ---- ordering: a good system beats a broken one -----------------------------------------------
class BandMuLan(torch.nn.Module):
    """A stand-in MuLan with a meaningful space (untrained tiny MuLans have none): audio ->
    (b, 1 - b) with b = 5 x the share of energy above 1 kHz (clamped); "drum" prompts point to the bright side."""

    def __init__(self):
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.zeros(()))

    def embed_audio(self, audio):
        power = torch.fft.rfft(audio.float(), dim=-1).abs() ** 2
        high = power[:, int(1000 / (SR / 2) * power.shape[-1]):].sum(-1) / power.sum(-1).clamp(min=1e-9)
        high = (5 * high).clamp(max=1.0)
        return torch.nn.functional.normalize(torch.stack([high, 1 - high], -1), dim=-1)

    def embed_text(self, texts):
        drums = ["drum" in t and "no drum" not in t for t in texts]
        return torch.nn.functional.normalize(torch.tensor([[1.0, 0.1] if d else [0.1, 1.0] for d in drums]), dim=-1)


class CorpusSystem:
    """The oracle returns each prompt's own clip and follows a melody; "shuffled" returns the next
    prompt's clip and ignores the melody; "noise" returns pink noise."""

    sample_rate = SR

    def __init__(self, items, reference, kind):
        self.kind, self.mulan = kind, BandMuLan()
        clips = reference.clips if kind == "oracle" else rotate(reference.clips)
        self.by_text = {item.text: clip for item, clip in zip(items, clips)}
        self.clips = reference.clips

    def generate(self, text, seconds, seed, melody=None):
        n = int(seconds * SR)
        if self.kind == "noise":
            audio = pink_noise(seconds, seed=seed)
        elif melody is not None:
            audio = melody if self.kind == "oracle" else hummed_melody([(p + 6, s) for p, s in DEFAULT_TUNE])
        else:
            audio = self.by_text.get(text, self.clips[seed % len(self.clips)])
        return Generation(torch.as_tensor(np.asarray(audio), dtype=torch.float32)[:n], {"total": 0.01}, 0.01)


def test_a_good_system_scores_better_than_broken_ones_on_every_quality_figure(corpus):
    items = load_prompts(f"corpus:{corpus}")
    reference = load_reference(str(corpus), SR, seconds=3.0)
    config = EvalConfig(seconds=3.0, baseline_limit=0, diversity_prompts=0, melodies=2, examples=0, long_prompts=0)
    good, shuffled, noise = (evaluate(CorpusSystem(items, reference, kind), items, reference, config, log=lambda _: None)
                             for kind in ("oracle", "shuffled", "noise"))
    assert good.mcc["generated"] == pytest.approx(good.mcc["real_ceiling"])  # it *is* the real clips
    assert good.mcc["generated"] > good.mcc["generated_shuffled"] + 0.3
    assert good.fad["generated"] == pytest.approx(0.0, abs=1e-6) and noise.fad["generated"] > 0.1
    assert good.melody["matched"] > 0.95 and good.melody["mismatched"] < good.melody["matched"] - 0.3
    for broken in (shuffled, noise):
        assert broken.mcc["generated"] < good.mcc["generated"] - 0.3
        assert broken.melody["matched"] < good.melody["matched"] - 0.3
        for attribute in ("tempo", "drums"):
            assert broken.adherence[attribute]["rate"] < good.adherence[attribute]["rate"] == 1.0
    tempo = good.adherence["tempo"]  # two loops ask for their tempo; the third is checked only over every prompt
    assert (tempo["count"], tempo["count_all_prompts"]) == (2, 3) and tempo["real_rate_all_prompts"] == 1.0
    assert good.adherence["drums"]["chance_rate"] < good.adherence["drums"]["rate"]  # the next prompt asks otherwise


def test_compare_sets_runs_side_by_side_prompt_by_prompt_and_flags_what_cannot_be_paired(corpus, tmp_path, capsys):
    from musiclm_studio.cli import main
    from musiclm_studio.eval.compare import compare
    from musiclm_studio.eval.report import write_report

    items = load_prompts(f"corpus:{corpus}")
    reference = load_reference(str(corpus), SR, seconds=3.0)
    config = EvalConfig(seconds=3.0, baseline_limit=0, diversity_prompts=0, melodies=0, examples=0, long_prompts=0)
    for kind, prompts in (("oracle", items), ("noise", items), ("fewer", items[:2])):
        result = evaluate(CorpusSystem(prompts, reference, "oracle" if kind == "fewer" else kind), prompts, reference,
                          config, log=lambda _: None)
        write_report(result, str(tmp_path / kind))
    drums = json.loads((tmp_path / "noise" / "eval.json").read_text())["adherence"]["drums"]
    assert len(drums["passed"]) == len(items) and sum(drums["passed"]) == round(drums["rate"] * drums["count"])

    result = compare([str(tmp_path / k) for k in ("oracle", "noise", "fewer")])
    assert result["paired"] == [True, False]  # the third scored other prompts
    split = result["attributes"]["drums"]["splits"][0]
    good = json.loads((tmp_path / "oracle" / "eval.json").read_text())["adherence"]["drums"]["passed"]
    assert split["better"] == 0 and split["worse"] == sum(a and not b for a, b in zip(good, drums["passed"])) > 0
    assert 0 < split["p"] <= 1 and result["attributes"]["drums"]["splits"][1] is None
    assert main(["compare", str(tmp_path / "oracle"), str(tmp_path / "noise"), "--out", str(tmp_path / "c.md")]) == 0
    table = capsys.readouterr().out
    assert "0 / " in table and "+- " in table and "different or unrecorded machines" not in table
    assert table == (tmp_path / "c.md").read_text() + "\n"  # print adds the newline
    assert main(["compare", str(tmp_path / "oracle")]) == 2  # one run: nothing to set it against
    assert main(["compare", str(tmp_path / "oracle"), str(tmp_path / "nothing")]) == 2
    assert main(["compare", str(tmp_path / "oracle"), str(tmp_path / "noise"), "--names", "a"]) == 2
    capsys.readouterr()


def test_stability_flags_long_generations_that_drift_to_silence_or_noise(corpus):
    reference = load_reference(str(corpus), SR, seconds=3.0)
    music = torch.cat(reference.clips)  # six 1-s windows from each real clip
    fading = torch.cat([music[: 6 * SR], torch.zeros(12 * SR)])
    noise = 0.3 * torch.randn(18 * SR, generator=torch.Generator().manual_seed(0))
    good, silent, noisy = (stability_report([clip], reference.clips, SR, window_s=1.0) for clip in (music, fading, noise))
    assert len(good["windows"][0]) == 18 and good["in_range"] >= 0.8
    assert silent["in_range"] <= 6 / 18 and noisy["in_range"] <= 0.1
    assert [w["loudness_db"] < -100 for w in silent["windows"][0]][6:] == [True] * 12


def test_semantic_probe_reads_genre_and_chord_from_informative_tokens_not_from_random_ones():
    from musiclm_studio.eval.semantic_probe import chord_root, frame_roots, probe_tokens

    assert (chord_root("F#m7"), chord_root("Bb"), chord_root("C"), chord_root("N.C.")) == (6, 10, 0, None)
    row = {"chords": ["C", "G", "Am", "F"], "bpm": 120, "metre": "4/4"}  # a bar is 2 s = 50 frames at 25 Hz
    assert frame_roots(row, 250, 25.0)[::50].tolist() == [0, 7, 9, 5, 0]

    def split(n, seed):
        g = torch.Generator().manual_seed(seed)
        rows, tokens = [], []
        for i in range(n):
            genre = ["rock", "jazz", "folk"][i % 3]
            r = {"genre": genre, "chords": ["C", "G", "Am", "F"], "bpm": 120, "metre": "4/4"}
            roots = frame_roots(r, 100, 25.0)
            # the token says the root (x 3) and the genre (+ 0..2) most of the time
            t = roots * 3 + i % 3
            noise = torch.rand(100, generator=g) < 0.2
            rows.append(r)
            tokens.append(torch.where(noise, torch.randint(0, 64, (100,), generator=g), t))
        return rows, torch.cat(tokens), torch.full((n,), 100)

    train_rows, train_t, train_len = split(60, 0)
    valid_rows, valid_t, valid_len = split(30, 1)
    report = probe_tokens(train_t, train_len, train_rows, valid_t, valid_len, valid_rows, 64, 25.0)
    chance = report["majority_class"]
    assert chance["genre"] == pytest.approx(1 / 3) and chance["chord_root"] == pytest.approx(0.5)  # two bars: C, G
    assert report["semantic_tokens"]["genre"] > 0.9 and report["semantic_tokens"]["chord_root"] > 0.75
    for name in ("genre", "chord_root"):
        assert report["random_tokens"][name] < chance[name] + 0.15


def test_stages_command_scores_real_clips_and_each_stage_fed_their_tokens(tiny_pipe, corpus, tmp_path, capsys):
    from musiclm_studio.cli import main
    from musiclm_studio.eval.stages import ROWS

    pipe_dir, out = tmp_path / "pipe", tmp_path / "stages"
    tiny_pipe.save_pretrained(str(pipe_dir))
    assert main(["stages", "--pipeline", str(pipe_dir), "--data", str(corpus), "--n", "4", "--seconds", "2",
                 "--out", str(out)]) == 0
    report = json.loads((out / "stages.json").read_text())
    assert report["clips"] == 4 and list(report["rows"]) == list(ROWS)
    real = report["rows"]["real"]
    assert real["drums"] == 1.0  # the threshold fitted on the real clips separates loops from hums
    assert real["percussive_share_drums"] > real["percussive_share_no_drums"]
    for name in ROWS:  # an untrained tiny pipeline still yields audio every analyser can read
        entry = report["rows"][name]
        assert all(entry[k] is not None and 0.0 <= entry[k] <= 1.0 for k in ("tempo", "mode", "drums"))
    table = (out / "stages.md").read_text()
    assert all(f"| {name} |" in table for name in ROWS)
    assert main(["stages", "--pipeline", str(pipe_dir), "--data", str(corpus), "--seconds", "0", "--out", str(out)]) != 0
    assert "between 0 and 60" in capsys.readouterr().err
    assert main(["stages", "--pipeline", str(pipe_dir), "--data", str(corpus), "--semantic-only", "--seconds", "2",
                 "--out", str(out)]) == 0
    report = json.loads((out / "stages.json").read_text())
    assert report["clips"] == 5  # the loops whose caption states a bpm and the hums in a major key; not the third loop
    assert report["tempo_clips"] == 2 and report["mode_clips"] == 3
    for check in ("tempo", "mode"):
        assert set(report[check]) == {"real_tokens", "audio_mulan", "text", "chance"}
        assert all(0.0 <= v <= 1.0 for v in report[check].values())
    assert "| real tokens |" in (out / "stages.md").read_text() and "mode followed" in (out / "stages.md").read_text()


def test_the_beat_of_a_drum_loop_reads_from_its_semantic_tokens(tiny_pipe):
    from dataclasses import replace

    from musiclm_studio.eval.stages import token_tempo
    from musiclm_studio.models.semantic_tokenizer import SemanticTokenizer

    config = replace(tiny_pipe.components.semantic_tokenizer.config, onset_bands=3, onset_weight=2.0)
    tokenizer = SemanticTokenizer(config)
    loops = [torch.from_numpy(drum_loop(seconds=8, bpm=bpm, seed=n)).float() for n, bpm in enumerate((96, 120, 150))]
    tokenizer.fit(torch.cat([tokenizer.features(x[None], standardize=False)[0] for x in loops]),
                  generator=torch.Generator().manual_seed(0))
    for loop, bpm in zip(loops, (96, 120, 150)):
        assert tempo_agrees(token_tempo(tokenizer, tokenizer(loop[None])[0]), bpm)
    flat = torch.zeros(200, dtype=torch.long)  # one token throughout: no flux, no tempo
    assert token_tempo(tokenizer, flat) == 0.0


def test_the_mode_of_a_tune_reads_from_its_semantic_tokens(tiny_pipe):
    from musiclm_studio.eval.stages import token_mode
    from musiclm_studio.models.semantic_tokenizer import SemanticTokenizer

    tokenizer = SemanticTokenizer(tiny_pipe.components.semantic_tokenizer.config)
    arpeggio = {mode: [(60, 0.4), (60 + third, 0.4), (67, 0.4), (72, 0.4), (67, 0.4), (60 + third, 0.4)] * 3 + [(60, 1.0)]
                for mode, third in (("major", 4), ("minor", 3))}
    tunes = {(mode, shift): torch.from_numpy(hummed_melody([(p + shift, s) for p, s in notes], seed=shift)).float()
             for mode, notes in arpeggio.items() for shift in (0, 5)}
    tokenizer.fit(torch.cat([tokenizer.features(x[None], standardize=False)[0] for x in tunes.values()]),
                  generator=torch.Generator().manual_seed(0))
    for (mode, _), tune in tunes.items():
        assert token_mode(tokenizer, tokenizer(tune[None])[0]) == mode


def test_bench_times_float_lms_and_candidates_beside_the_default_on_a_cpu(tmp_path):
    from musiclm_studio.eval.bench import (BenchRow, bench_cases, candidate_costs, int8_speedups, markdown_table,
                                           speedups)

    MusicLMPipeline.from_config("tiny").save_pretrained(str(tmp_path))

    cases = bench_cases([10.0], pipeline=str(tmp_path), musicgen=True, devices=["cpu"])
    ours = [(c.guidance_scale > 1, c.int8, c.num_candidates) for c in cases if c.system == "ours"]
    assert sorted(ours, key=str) == sorted([(True, None, 1), (False, None, 1), (True, False, 1)], key=str)
    assert all(c.int8 is None for c in cases if c.system != "ours")
    # a pipeline with an attribute critic is also timed with 4 candidates (the critic keeps one)
    index = json.loads((tmp_path / "pipeline.json").read_text())
    (tmp_path / "pipeline.json").write_text(json.dumps(index | {"components": index["components"] + ["critic"]}))
    cases = bench_cases([10.0], pipeline=str(tmp_path), musicgen=False, devices=["cpu"])
    assert [c.num_candidates for c in cases] == [1, 1, 1, 4]

    def row(system, name, wall):
        return BenchRow(system=system, device="cpu", cfg=True, seconds=10.0, wall_s=wall, rtf=wall / 10,
                        first_audio_s=wall, peak_rss_mb=800.0, name=name, float_lms=name.endswith("float LMs"))
    rows = [row("ours", "shipped default", 4.0), row("ours", "shipped default, float LMs", 5.0),
            row("musicgen-small", "random weights", 40.0)]
    assert int8_speedups(rows) == {"cpu 10s cfg": 1.25}
    assert speedups(rows) == {"cpu 10s cfg": 10.0}  # against the default (int8) row
    assert "float LMs / int8 LMs wall time, cpu 10s cfg: 1.25x" in markdown_table(rows)
    rows.append(BenchRow(system="ours", device="cpu", cfg=True, seconds=10.0, wall_s=5.0, rtf=0.5, first_audio_s=5.0,
                         peak_rss_mb=800.0, name="shipped default, 4 candidates", candidates=4))
    assert candidate_costs(rows) == {"cpu 10s cfg": 1.25} and int8_speedups(rows) == {"cpu 10s cfg": 1.25}
