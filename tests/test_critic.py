"""The attribute critic and reader: scoring, reading, their trainer, and candidates chosen by the critic in
the pipeline (tiny preset)."""

import json

import pytest
import torch

from musiclm_studio.config import AttributeReaderConfig, CriticConfig
from musiclm_studio.eval.synth import drum_loop
from musiclm_studio.models.attribute_reader import AttributeReader
from musiclm_studio.models.critic import AttributeCritic
from musiclm_studio.pipeline import MusicLMPipeline
from musiclm_studio.train.assemble import assemble
from musiclm_studio.train.critic import CriticRunConfig, train_critic

SR = 24_000


def rigged_critic(heard: dict) -> AttributeCritic:
    """A critic that hears the given probabilities in the candidates (as log-probabilities)."""
    critic = AttributeCritic(CriticConfig(d_model=16, n_heads=2, n_layers=1, tempo_bins=3, min_bpm=60, max_bpm=180,
                                          families=["piano", "guitar"]))
    critic.audio_logits = lambda codes: {k: torch.tensor(v).log() for k, v in heard.items()}
    return critic


def asked(probabilities: dict) -> dict:
    """What a prompt asks, as ``AttributeReader.asked`` gives it: per attribute, probabilities."""
    return {k: torch.tensor(v) for k, v in probabilities.items()}


def test_the_critic_prefers_the_candidate_that_shows_what_is_asked_and_ignores_what_is_unstated():
    heard = {"tempo": [[0.98, 0.01, 0.01], [0.01, 0.01, 0.98]],  # candidate 0 slow, 1 fast
             "mode": [[0.9, 0.1], [0.1, 0.9]],  # 0 major, 1 minor
             "drums": [[0.5, 0.5], [0.5, 0.5]], "lead_family": [[0.5, 0.5], [0.5, 0.5]]}
    fast = {"tempo": [0.0, 0.0, 1.0, 0.0], "mode": [0.0, 0.0, 1.0], "drums": [0.5, 0.5], "lead_family": [0.5, 0.5]}
    codes = torch.zeros(2, 4, 100, dtype=torch.long)
    scores = rigged_critic(heard).score(asked(fast), codes)
    assert scores[1] > scores[0]
    # the same prompt asking for major instead: mode now counts, and outweighs nothing else
    major = fast | {"tempo": [0.0, 0.0, 0.0, 1.0], "mode": [1.0, 0.0, 0.0]}  # tempo unstated
    scores = rigged_critic(heard).score(asked(major), codes)
    assert scores[0] > scores[1]
    # a prompt that states neither leaves the candidates tied
    neither = fast | {"tempo": [0.0, 0.0, 0.0, 1.0], "mode": [0.0, 0.0, 1.0]}
    scores = rigged_critic(heard).score(asked(neither), codes)
    assert torch.allclose(scores[0], scores[1])


def test_a_real_critic_reads_clips_of_any_length():
    critic = AttributeCritic(CriticConfig(d_model=16, n_heads=2, n_layers=1, vocab_size=64)).eval()
    reader = AttributeReader(AttributeReaderConfig(d_model=16, text_dim=16)).eval()
    for frames in (20, 500):  # shorter than the slowest beat period, and 10 s
        codes = torch.randint(0, 64, (3, 4, frames))
        assert critic.score(reader.asked(torch.randn(16)), codes).shape == (3,)
        read = critic.read(codes)
        assert len(read) == 3 and 39.9 < read[0]["bpm"] < 200.1 and read[0]["mode"] in ("major", "minor")


@pytest.fixture(scope="module")
def setup(synthetic_tokens):
    """The folder holding the shared synthetic ``corpus``, the tiny ``pipe`` and their ``tokens``."""
    return synthetic_tokens[0]


def test_the_critic_trains_logs_validation_accuracy_and_resumes(setup, tmp_path):
    root = setup
    run = CriticRunConfig(out=str(tmp_path), tokens=str(root / "tokens"), data=str(root / "corpus"),
                          pipeline=str(root / "pipe"), steps=2, batch_size=2, d_model=16, log_every=2, warmup=1)
    model, reader = train_critic(run)
    log = {name: json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[-1])
           for name in ("critic", "attribute_reader")}  # each side is its own run
    assert log["critic"]["step"] == 2 and log["critic"]["loss"] > 0 and log["attribute_reader"]["loss"] > 0
    assert 0 <= log["critic"]["audio_drums"] <= 1 and 0 <= log["attribute_reader"]["text_lead_family"] <= 1
    assert model.config.vocab_size == 64 and reader.config.text_dim == 384  # sized from the pipeline
    run.steps = 3
    train_critic(run)
    for name in ("critic", "attribute_reader"):
        assert int(torch.load(tmp_path / name / "last" / "train_state.pt", weights_only=True)["step"]) == 3
    assert (tmp_path / "captions.safetensors").exists()  # caption embeddings computed once


def test_candidates_chosen_by_the_critic_run_the_fine_stage_once(setup, tmp_path):
    root = setup
    run = CriticRunConfig(out=str(tmp_path / "run"), tokens=str(root / "tokens"), data=str(root / "corpus"),
                          pipeline=str(root / "pipe"), steps=1, batch_size=2, d_model=16, warmup=1)
    train_critic(run)
    with pytest.raises(ValueError, match="attribute reader"):  # the critic scores against what the reader reads
        assemble(str(root / "pipe"), str(tmp_path / "no_reader"), {"critic": run.out}, dtype="float32")
    assemble(str(root / "pipe"), str(tmp_path / "with_critic"), {"critic": run.out, "attribute_reader": run.out},
             dtype="float32")
    assert {"critic", "attribute_reader"} <= set(json.loads((tmp_path / "with_critic" / "pipeline.json").read_text())["components"])
    pipe = MusicLMPipeline.from_pretrained(str(tmp_path / "with_critic"), int8=False)
    pipe.show_progress = False
    assert pipe.components.critic is not None
    out = pipe("a fast rock song with drums", duration_s=2.0, seed=0, num_candidates=3)
    assert out.chosen_by == "critic" and len(out.scores) == 3 and out.chosen == max(range(3), key=out.scores.__getitem__)
    assert out.candidates.coarse.shape[0] == 3 and out.candidates.fine is None
    assert torch.equal(out.tokens.coarse, out.candidates.coarse[out.chosen: out.chosen + 1])
    assert out.tokens.fine.shape == (1, 8, 100) and out.audio.shape == (2 * SR,)
    assert isinstance(out.mulan_score, float) and "critic" in out.timings
    single = pipe("a fast rock song with drums", duration_s=2.0, seed=0)  # one candidate: the critic is not asked
    assert single.chosen_by == "only candidate" and single.candidates.fine is None and single.tokens.fine is not None
    story = pipe([("a fast rock song with drums", 2.0), ("a slow piano piece", 2.0)], seed=0, num_candidates=2)
    assert story.chosen_by == "critic" and len(story.scores) == 2 and story.audio.shape == (4 * SR,)
    # a pipeline without a critic keeps reranking every decoded candidate by MuLan
    plain = MusicLMPipeline.from_pretrained(str(root / "pipe"), int8=False)
    plain.show_progress = False
    assert plain.components.critic is None
    ranked = plain("x", duration_s=1.0, seed=0, num_candidates=2)
    assert ranked.chosen_by == "mulan" and len(ranked.scores) == 2 and ranked.mulan_score == max(ranked.scores)


def test_the_critic_trains_on_several_caches_paired_with_their_corpora(setup, tmp_path):
    from safetensors.torch import load_file

    root = setup
    tokens, corpus = str(root / "tokens"), str(root / "corpus")
    run = CriticRunConfig(out=str(tmp_path), tokens=f"{tokens},{tokens}", data=f"{corpus},{corpus}",
                          pipeline=str(root / "pipe"), steps=1, batch_size=2, d_model=16, warmup=1)
    train_critic(run)
    captions = load_file(str(tmp_path / "captions.safetensors"))
    assert captions["train"].shape[0] == 2 * 5 and captions["valid"].shape[0] == 1  # train joined, valid the first's
    run.data, run.out = corpus, str(tmp_path / "unpaired")
    with pytest.raises(ValueError, match="2 caches and --data 1 corpora"):
        train_critic(run)


def test_attribute_tokens_say_what_a_prompt_asks_and_leave_the_rest_unstated():
    from musiclm_studio.vocab.attributes import attribute_tokens, read_attribute_tokens, tempo_bin

    config = AttributeReaderConfig()
    none = torch.tensor([-1, -1])
    tokens = attribute_tokens(config, tempo_bin(config, torch.tensor([120.0, 0.0])), torch.tensor([1, -1]),
                              torch.tensor([1, 0]), torch.tensor([config.families.index("piano"), -1]))
    assert tokens.shape == (2, 4) and int(tokens.max()) < config.attribute_stream().vocab_size
    read = read_attribute_tokens(config, tokens)
    assert read[0]["mode"] == "minor" and read[0]["drums"] is True and read[0]["lead_family"] == "piano"
    assert abs(read[0]["tempo"] / 120 - 1) < 0.03  # the nearest of 33 log-spaced bins
    assert read[1] == {"tempo": None, "mode": None, "drums": False, "lead_family": None}
    unstated = attribute_tokens(config, none, none, none, none)
    assert len(set(unstated.flatten().tolist()) | set(tokens.flatten().tolist())) == 4 + 4 + 1  # one vocabulary
    # the attribute reader: tempo and mode stated unless "unstated" is likelier; drums / family when sure
    reader = AttributeReader(AttributeReaderConfig(d_model=16, tempo_bins=3, min_bpm=60, max_bpm=180,
                                                   families=["piano", "guitar"], text_dim=8))
    probabilities = {"tempo": [0.0, 0.0, 0.9, 0.1], "mode": [0.2, 0.1, 0.7], "drums": [0.4, 0.6], "lead_family": [0.1, 0.9]}
    reader.text_logits = lambda features: {k: torch.tensor([v]).log() for k, v in probabilities.items()}
    said = read_attribute_tokens(reader.config, reader.asked_tokens(torch.zeros(8)))[0]
    assert said == {"tempo": 180, "mode": None, "drums": None, "lead_family": "guitar"}


def _lm_that_ships_with_a_critic(root, tmp_path, stage: str, stream: str, **flag) -> MusicLMPipeline:
    """Train a tiny ``stage`` LM with ``flag`` (--attributes / --beat), check what it logs and refuses, and
    assemble it with a critic and reader (which it needs: the reader reads the prompt for it)."""
    from dataclasses import replace

    from musiclm_studio.train.lm import LMRunConfig, train_lm

    tokens, corpus = str(root / "tokens"), str(root / "corpus")
    run = LMRunConfig(out=str(tmp_path / stage), stage=stage, tokens=tokens, data=corpus, preset="tiny", steps=2,
                      batch_size=2, crop_s=1.0, log_every=2, save_every=100, warmup=1, **flag)
    assert stream in train_lm(run).conditions
    log = json.loads((tmp_path / stage / "metrics.jsonl").read_text().splitlines()[-1])
    assert log[f"valid_loss_other_{stream}"] > 0 and log["valid_loss_other_mulan"] > 0  # how much it listens
    assert log[f"valid_loss_null_mulan_other_{stream}"] > 0 and log["valid_loss_null_mulan"] > 0  # ... where MuLan is silent
    with pytest.raises(ValueError, match="pass --data"):
        train_lm(replace(run, data=None, out=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="fine LM hears only coarse"):
        train_lm(replace(run, stage="fine", out=str(tmp_path / "y")))
    with pytest.raises(ValueError, match="attribute reader"):  # it cannot ship without the reader of prompts
        assemble(str(root / "pipe"), str(tmp_path / "no_critic"), {f"{stage}_lm": run.out}, dtype="float32")
    train_critic(CriticRunConfig(out=str(tmp_path / "critic"), tokens=tokens, data=corpus, pipeline=str(root / "pipe"),
                                 steps=1, batch_size=2, d_model=16, warmup=1))
    critic = str(tmp_path / "critic")
    assemble(str(root / "pipe"), str(tmp_path / "pipe"), {f"{stage}_lm": run.out, "critic": critic,
                                                          "attribute_reader": critic}, dtype="float32")
    pipe = MusicLMPipeline.from_pretrained(str(tmp_path / "pipe"), int8=False)
    pipe.show_progress = False
    return pipe


def test_lms_that_hear_what_the_prompt_asks_train_ship_with_a_critic_and_follow_each_story_segment(setup, tmp_path):
    pipe = _lm_that_ships_with_a_critic(setup, tmp_path, "semantic", "attributes", attributes=True)
    asked = torch.tensor([[5, 34, 37, 41], [33, 35, 38, 40]])  # two prompts that ask different things
    pipe.components.attribute_reader.asked_tokens = lambda features: asked[: features.shape[0]]
    lm, heard = pipe.components.semantic_lm, []
    generate = lm.generate
    lm.generate = lambda conditions, frames, **k: (heard.append(conditions["attributes"])
                                                   or generate(conditions, frames, **k))
    out = pipe([("a rock song with drums", 1.0), ("a piano piece", 1.0)], seed=0, num_candidates=2)
    assert out.audio.shape == (2 * SR,) and len(heard) == 2  # the windows break where the segments do
    assert torch.equal(heard[0], asked[:1].expand(2, -1)) and torch.equal(heard[1], asked[1:].expand(2, -1))
    assert "attributes" not in pipe.components.coarse_lm.conditions  # this coarse LM was trained without them
    assert out.asked[0]["mode"] == "major" and out.asked[1]["tempo"] is None and out.asked[1]["lead_family"] == "brass"
    from musiclm_studio.ui.controls import summary_markdown

    heard_text = "51 bpm · major · no drums · chromatic percussion lead / minor · drums · brass lead"
    assert f"**Heard in the prompt:** {heard_text}" in summary_markdown(out)


def _spy_on(pipe, monkeypatch, stream: str, asked: torch.Tensor) -> list:
    """Rig ``pipe``'s attribute reader to read the i-th prompt as ``asked[i]`` and return the list that records
    the ``stream`` condition its coarse LM is given on each generate call (both undone after the test)."""
    monkeypatch.setattr(pipe.components.attribute_reader, "asked_tokens", lambda features: asked[: features.shape[0]])
    lm, heard = pipe.components.coarse_lm, []
    generate = lm.generate
    monkeypatch.setattr(lm, "generate", lambda conditions, frames, **k: heard.append(conditions[stream])
                        or generate(conditions, frames, **k))
    return heard


@pytest.fixture(scope="module")
def clip():
    """One second of audio to continue from."""
    return torch.from_numpy(drum_loop(seconds=1, seed=0))


# --- a coarse LM that hears a beat grid (trained and assembled with a critic once for the module) ---


@pytest.fixture(scope="module")
def beat_pipe(setup, tmp_path_factory):
    return _lm_that_ships_with_a_critic(setup, tmp_path_factory.mktemp("beat"), "coarse", "beat", beat=True)


@pytest.fixture
def beat_heard(beat_pipe, monkeypatch):
    # tempo bin 16 (89 bpm), then no tempo
    return _spy_on(beat_pipe, monkeypatch, "beat", torch.tensor([[16, 34, 37, 41], [33, 35, 38, 40]]))


def test_an_lm_trained_with_only_a_beat_grid_hears_no_attributes(beat_pipe):
    assert "attributes" not in beat_pipe.components.coarse_lm.conditions


def test_a_beat_grid_lm_lays_the_asked_tempo_per_story_segment_and_none_where_none_is_asked(beat_pipe, beat_heard):
    from musiclm_studio.vocab.beat_grid import BEAT_BINS, beat_tokens

    heard, rate = beat_heard, beat_pipe.components.coarse_lm.config.frame_rate
    out = beat_pipe([("a song at 89 bpm", 1.0), ("a piano piece", 1.0)], seed=0, num_candidates=1)
    assert out.asked[0]["tempo"] == 89 and len(heard) == 2  # the windows break where the segments do
    assert torch.equal(heard[0][0], beat_tokens(torch.full((round(rate),), 89.0), rate))  # the grid of the asked bpm
    grid = beat_tokens(torch.tensor([89.0] * round(rate) + [0.0] * round(rate)), rate)
    assert torch.equal(heard[1][0], grid[-heard[1].shape[-1]:])  # its context keeps the first grid; then none
    assert (heard[1][0, -round(rate):] == BEAT_BINS).all()  # no tempo asked: no grid


def test_a_beat_grid_lm_continuing_audio_keeps_that_audios_tempo(beat_pipe, beat_heard, clip):
    from musiclm_studio.vocab.beat_grid import BEAT_BINS

    beat_pipe("a song at 89 bpm", duration_s=1.5, seed=0, continuation=clip[: SR // 2],
              continuation_sample_rate=SR, num_candidates=1)
    assert beat_heard and all((h == BEAT_BINS).all() for h in beat_heard)  # no grid laid over it


def test_a_beat_grid_lm_streaming_grows_the_same_grid_each_chunk(beat_pipe, beat_heard):
    from musiclm_studio.vocab.beat_grid import beat_tokens

    rate = beat_pipe.components.coarse_lm.config.frame_rate
    list(beat_pipe.stream("a song at 89 bpm", duration_s=1.0, chunk_s=0.5, seed=0))
    assert len(beat_heard) == 2 and torch.equal(beat_heard[-1][0], beat_tokens(torch.full((round(rate),), 89.0), rate))


def test_a_bpm_in_the_prompt_beats_the_critics_reading_and_is_all_a_grid_lm_is_told(beat_pipe, beat_heard):
    from musiclm_studio.vocab.beat_grid import beat_tokens

    rate = beat_pipe.components.coarse_lm.config.frame_rate
    out = beat_pipe("a slow piano piece at 97 BPM", duration_s=1.0, seed=0, num_candidates=1)
    assert torch.equal(beat_heard[0][0], beat_tokens(torch.full((round(rate),), 97.0), rate))
    assert out.asked[0] == {"tempo": 97, "mode": None, "drums": None, "lead_family": None}  # all these LMs hear


def test_a_beat_grid_lms_candidates_are_ranked_by_the_grids_tempo(beat_pipe, beat_heard, monkeypatch):
    critic, told = beat_pipe.components.critic, []
    score = critic.score
    monkeypatch.setattr(critic, "score", lambda asked, codes, bpm=None, mode=None: told.append(bpm)
                        or score(asked, codes, bpm))
    out = beat_pipe("a slow piano piece at 97 BPM", duration_s=1.0, seed=0, num_candidates=2)
    assert told == [97.0]  # not the reader's reading of the prompt
    features, codes = beat_pipe.components.mulan.text_features(["a slow piano piece"]), out.candidates.coarse
    asked = beat_pipe.components.attribute_reader.asked(features)
    monkeypatch.setattr(critic.config, "weights", {**critic.config.weights, "tempo": 1.0})  # this 1-step critic's vote is 0
    assert not torch.equal(score(asked, codes, 60.0), score(asked, codes, 180.0))


def test_a_bpm_passed_to_a_beat_grid_lm_lays_that_tempo(beat_pipe, beat_heard):
    from musiclm_studio.vocab.beat_grid import beat_tokens

    rate = beat_pipe.components.coarse_lm.config.frame_rate
    out = beat_pipe("a slow piano piece", duration_s=1.0, seed=0, bpm=132.5, num_candidates=1)
    assert torch.equal(beat_heard[0][0], beat_tokens(torch.full((round(rate),), 132.5), rate))
    assert out.asked[0]["tempo"] == 132


@pytest.mark.parametrize("bad, message", [(300, "bpm must be between 40 and 200"), ("fast", "bpm must be a number")])
def test_a_beat_grid_lm_refuses_a_bpm_out_of_range_or_not_a_number(beat_pipe, bad, message):
    with pytest.raises(ValueError, match=message):
        beat_pipe("x", duration_s=1.0, bpm=bad)


def test_a_beat_grid_lm_refuses_a_bpm_when_continuing(beat_pipe, clip):
    with pytest.raises(ValueError, match="leave bpm out when continuing"):
        beat_pipe("x", duration_s=1.5, bpm=120, continuation=clip, continuation_sample_rate=SR)


def test_lms_without_a_beat_grid_refuse_a_bpm(setup):
    with pytest.raises(ValueError, match="ask for the tempo in the prompt"):
        MusicLMPipeline.from_pretrained(str(setup / "pipe"), int8=False)("x", duration_s=1.0, bpm=120)


# --- a coarse LM that hears a key (trained and assembled with a critic once for the module) ---


def test_an_lm_that_hears_a_key_is_told_each_training_clips_key_and_no_key_where_the_tonic_is_unknown(setup):
    from musiclm_studio.config import preset
    from musiclm_studio.data.builder import read_metadata
    from musiclm_studio.data.theory import NOTE_NAMES
    from musiclm_studio.train.lm import LMRunConfig, clip_streams
    from musiclm_studio.vocab.musical_key import NO_KEY, key_token

    run = LMRunConfig(out="", stage="semantic", tokens=str(setup / "tokens"), data=str(setup / "corpus"), key=True)
    rows = [r for r in read_metadata(str(setup / "corpus")) if r["split"] == "train"]
    told = clip_streams(run, "train", len(rows), preset("tiny").semantic_lm, 0.0)["key"]
    true = [key_token(NOTE_NAMES.index(r["tonic"]) if "tonic" in r else None, r["mode"]) for r in rows]
    assert told.tokens.tolist() == true and true[0] == NO_KEY


def test_a_condition_dropout_naming_no_stream_of_the_lm_is_refused(setup, tmp_path):
    from musiclm_studio.train.lm import LMRunConfig, train_lm

    with pytest.raises(ValueError, match="names no stream of this LM"):
        train_lm(LMRunConfig(out=str(tmp_path / "bad"), stage="coarse", tokens=str(setup / "tokens"), preset="tiny",
                             condition_dropout="lyrics=0.4"))


@pytest.fixture(scope="module")
def key_pipe(setup, tmp_path_factory):
    return _lm_that_ships_with_a_critic(setup, tmp_path_factory.mktemp("key"), "coarse", "key", beat=True, key=True,
                                        condition_dropout="mulan=0.4")


@pytest.fixture
def key_heard(key_pipe, monkeypatch):
    # mode minor, then major, then unstated
    return _spy_on(key_pipe, monkeypatch, "key", torch.tensor([[16, 34, 37, 41], [16, 36, 38, 40], [16, 36, 38, 40]]))


def test_an_lm_trained_with_a_condition_dropout_keeps_it_in_its_config(key_pipe):
    assert {s.name: s.dropout for s in key_pipe.components.coarse_lm.config.conditions}["mulan"] == 0.4


def test_a_key_lm_plays_in_the_key_each_story_segment_asks(key_pipe, key_heard):
    from musiclm_studio.vocab.musical_key import NO_KEY, key_token

    out = key_pipe([("a song in F# minor", 1.0), ("then a major tonality", 1.0), ("a song", 1.0)], seed=0,
                   num_candidates=1)
    rate = round(key_pipe.components.coarse_lm.config.frame_rate)
    keys = torch.cat([h[0, -rate:] for h in key_heard])  # the windows break where the segments do
    assert keys.tolist() == [key_token(6, "minor")] * rate + [key_token(6, "major")] * rate + [NO_KEY] * rate
    assert [a["key"] for a in out.asked] == ["F# minor", "F# major", None]  # the tonic named stays; no mode, no key
    assert [a["mode"] for a in out.asked] == ["minor", "major", None]


def test_a_key_lm_given_only_the_critics_mode_plays_it_on_one_tonic_drawn_from_the_seed(key_pipe, key_heard):
    key_pipe("a calm piano piece", duration_s=1.0, seed=0, num_candidates=1)
    drawn = key_heard[0][0, 0].item()
    assert drawn // 12 == 0 and (key_heard[0] == drawn).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_key_lm_asked_only_a_mode_plays_it_on_one_tonic(key_pipe, key_heard, seed):
    out = key_pipe("a calm piano piece", duration_s=1.0, seed=seed, key="minor", num_candidates=1)
    assert (key_heard[0] == key_heard[0][0, 0]).all() and key_heard[0][0, 0].item() // 12 == 1
    assert out.asked[0]["key"].endswith("minor")


def test_the_callers_key_beats_the_key_the_prompt_names(key_pipe, key_heard):
    from musiclm_studio.vocab.musical_key import key_token

    out = key_pipe("a song in F# minor", duration_s=1.0, seed=0, key="bb major", num_candidates=1)
    assert (key_heard[0] == key_token(10, "major")).all() and out.asked[0]["key"] == "Bb major"


def test_a_key_lm_streaming_keeps_the_key_in_each_chunk(key_pipe, key_heard):
    from musiclm_studio.vocab.musical_key import key_token

    list(key_pipe.stream("a song in F# minor", duration_s=1.0, chunk_s=0.5, seed=0))
    assert len(key_heard) == 2 and all((h == key_token(6, "minor")).all() for h in key_heard)


def test_a_key_lms_candidates_are_ranked_by_the_keys_mode(key_pipe, key_heard, monkeypatch):
    critic, told_mode = key_pipe.components.critic, []
    score = critic.score
    monkeypatch.setattr(critic, "score", lambda asked, codes, bpm=None, mode=None: told_mode.append(mode)
                        or score(asked, codes, bpm))
    out = key_pipe("a song in F# minor", duration_s=1.0, seed=0, num_candidates=2)
    assert told_mode == ["minor"] * (out.candidates.semantic.shape[0] // 2)  # once per batch of candidates


def test_a_key_lm_continuing_audio_keeps_that_audios_key(key_pipe, key_heard, clip):
    """The LMs hear the key the analysers read in the continued audio (half a second: too short to
    read one, so "no key"), never the prompt's."""
    from musiclm_studio.analysis import read_key
    from musiclm_studio.vocab.musical_key import NO_KEY

    assert read_key(clip[: SR // 2], SR)[1] is None
    key_pipe("a song in F# minor", duration_s=1.5, seed=0, continuation=clip[: SR // 2], continuation_sample_rate=SR,
             num_candidates=1)
    assert key_heard and all((h == NO_KEY).all() for h in key_heard)  # no key laid over it


def test_a_key_lm_refuses_a_key_when_continuing(key_pipe, clip):
    with pytest.raises(ValueError, match="leave key out when continuing"):
        key_pipe("x", duration_s=1.5, key="A minor", continuation=clip, continuation_sample_rate=SR)


@pytest.mark.parametrize("bad", ["H minor", 7])
def test_a_key_lm_refuses_a_key_that_names_no_key(key_pipe, bad):
    with pytest.raises(ValueError, match="key must"):
        key_pipe("x", duration_s=1.0, key=bad)


def test_lms_that_hear_no_key_refuse_a_key(setup):
    with pytest.raises(ValueError, match="ask for it in the prompt"):
        MusicLMPipeline.from_pretrained(str(setup / "pipe"), int8=False)("x", duration_s=1.0, key="A minor")


def test_a_pipeline_saved_with_the_reader_inside_the_critic_loads_and_generates_the_same(tiny_full_pipe, tmp_path):
    """Pipelines saved before the attribute reader was split off the critic hold both in one ``critic``
    folder (one config.json, one model.safetensors): they load, each side taking its own weights."""
    from safetensors.torch import load_file, save_file

    from musiclm_studio.components import load_trained

    tiny_full_pipe.save_pretrained(str(tmp_path / "split"))
    tiny_full_pipe.save_pretrained(str(tmp_path / "joint"))
    critic, reader = tmp_path / "joint" / "critic", tmp_path / "joint" / "attribute_reader"
    weights = load_file(str(critic / "model.safetensors")) | load_file(str(reader / "model.safetensors"))
    save_file(weights, str(critic / "model.safetensors"))
    config = json.loads((reader / "config.json").read_text()) | json.loads((critic / "config.json").read_text())
    (critic / "config.json").write_text(json.dumps(config))
    for f in reader.iterdir():
        f.unlink()
    reader.rmdir()
    index = json.loads((tmp_path / "joint" / "pipeline.json").read_text())
    index["components"].remove("attribute_reader")
    (tmp_path / "joint" / "pipeline.json").write_text(json.dumps(index))
    outs = []
    for folder in ("split", "joint"):
        pipe = MusicLMPipeline.from_pretrained(str(tmp_path / folder), int8=False)
        pipe.show_progress = False
        assert pipe.config.attribute_reader == tiny_full_pipe.config.attribute_reader
        outs.append(pipe("a fast rock song", duration_s=1.0, seed=0))
    assert outs[1].chosen_by == "critic" and outs[0].scores == outs[1].scores
    assert torch.equal(outs[0].audio, outs[1].audio)
    assert load_trained("attribute_reader", str(tmp_path / "joint")).config == tiny_full_pipe.config.attribute_reader
    assert load_trained("critic", str(critic)).config == tiny_full_pipe.config.critic
