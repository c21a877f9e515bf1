"""MuLan training on a tiny two-kind corpus (hummed lines vs drum loops), tiny preset."""

import json
import os

import pytest
import torch

from musiclm_studio.eval.synth import drum_loop, hummed_melody
from musiclm_studio.train.data import load_split
from musiclm_studio.train.mulan import MuLanRunConfig, clip_texts, train_mulan

SR = 24_000


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from conftest import write_corpus

    clips = []
    for i in range(12):
        hum = i % 2 == 0
        audio = hummed_melody(seed=i)[: 2 * SR] if hum else drum_loop(seconds=2, seed=i, bpm=90 + i)
        caption = "a soft hummed melody, no drums" if hum else "a punchy drum loop with kick and snare"
        aspects = ["humming", "no drums"] if hum else ["drums", "percussion"]
        clips.append((f"{i:03d}.wav", audio, {"caption": caption, "aspects": aspects, "drums": not hum,
                                               "split": "valid" if i >= 10 else "train"}))
    return write_corpus(tmp_path_factory.mktemp("corpus"), clips)


def test_clip_texts_offer_caption_and_tags():
    assert clip_texts([{"caption": "a b", "aspects": ["x", "y"]}, {"caption": "c"}]) == [["x, y", "a b"], ["c", "c"]]


def test_caption_variants_restate_a_corpus_clip(tmp_path):
    from musiclm_studio.data.builder import build_corpus, read_metadata

    build_corpus(str(tmp_path), 1, seconds=2.0, seed=3, workers=1, stems=False, progress=False)
    row = read_metadata(str(tmp_path))[0]
    texts = clip_texts([row], variants=3)[0]
    assert texts[1] == row["caption"] and len(texts) == 5 and len(set(texts[1:])) >= 3
    assert all(row["genre"].split()[0] in t.lower() or "lofi" in t.lower() for t in texts[1:]), texts


def test_mulan_trains_resumes_and_fits_its_quantizer(tiny_corpus, tmp_path):
    run = MuLanRunConfig(out=str(tmp_path), data=str(tiny_corpus), preset="tiny", steps=4, batch_size=6,
                         crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=2)
    model = train_mulan(run)
    log = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    steps, picked = [r for r in log if "loss" in r], log[-1]
    assert [r["step"] for r in steps] == [2, 4]
    assert all(0.0 <= r["valid_recall_at_10"] <= 1.0 and r["loss"] > 0 for r in steps)
    # the descriptor weights, picked on the valid split: its captions state no key or tempo, so none count
    assert (picked["step"], picked["valid_key_descriptors"], picked["valid_tempo_descriptors"]) == (4, 0.0, 0.0)
    assert picked["valid_MRR_descriptors"] == picked["valid_cosine_MRR_descriptors"]
    saved = json.loads((tmp_path / "last" / "config.json").read_text())
    assert (saved["descriptor_key"], saved["descriptor_tempo"]) == (0.0, 0.0)
    assert all(bool(level.initialized) for level in model.quantizer.levels)
    _, clips = load_split(str(tiny_corpus), "train", SR)
    tokens = model.tokenize(model.embed_audio(torch.stack([c.float() for c in clips[:3]])))
    assert tokens.shape == (3, 12) and tokens.max() < model.config.codebook_size
    run.steps = 6
    train_mulan(run)
    assert [json.loads(line)["step"] for line in open(tmp_path / "metrics.jsonl")][-2:] == [6, 6]


def test_mulan_training_starts_from_one_member_of_an_ensemble(tiny_corpus, tmp_path, capsys):
    from musiclm_studio import hub
    from musiclm_studio.config import preset
    from musiclm_studio.models.mulan import MuLanEnsemble

    config = preset("tiny").mulan
    joined = type(config)(**{**config.__dict__, "embed_dim": 2 * config.embed_dim, "members": [config, config]})
    torch.manual_seed(0)
    ensemble = MuLanEnsemble(joined)
    hub.save_component(str(tmp_path / "ens"), joined, ensemble)
    run = MuLanRunConfig(out=str(tmp_path / "run"), data=str(tiny_corpus), preset="tiny", steps=1, batch_size=6,
                         crop_s=1.0, log_every=1, save_every=100, warmup=1, rvq_crops=1, init_from=str(tmp_path / "ens"))
    with pytest.raises(ValueError, match="give --init-member 0-1"):
        train_mulan(run)
    run.init_member = 1
    with pytest.raises(ValueError, match="member of a MuLan ensemble has none"):
        train_mulan(type(run)(**{**run.__dict__, "text_only": True, "out": str(tmp_path / "text")}))
    capsys.readouterr()
    model = train_mulan(run)
    assert "newly initialised: quantizer" in capsys.readouterr().out  # the member's towers, not its RVQ (refitted)
    member = ensemble.members[1].state_dict()
    name = "audio_tower.stem.0.weight"  # a tower weight barely moved by one step at the first warm-up lr
    assert torch.allclose(model.state_dict()[name], member[name], atol=1e-3)
    assert not torch.allclose(model.state_dict()[name], ensemble.members[0].state_dict()[name], atol=1e-3)
    with pytest.raises(ValueError, match="--init-member picks one MuLan of an ensemble"):
        train_mulan(type(run)(**{**run.__dict__, "init_from": str(tmp_path / "run"), "out": str(tmp_path / "r2")}))


def test_load_split_keeps_rows_and_clips_aligned_when_a_file_is_broken(tiny_corpus, tmp_path):
    import shutil

    broken = tmp_path / "c"
    shutil.copytree(tiny_corpus, broken)
    (broken / "audio" / "002.wav").write_bytes(b"not audio")
    rows, clips = load_split(str(broken), "train", SR)
    assert len(rows) == len(clips) == 9 and all(r["path"].endswith(".wav") for r in rows)
    assert "002" not in " ".join(r["path"] for r in rows)


def test_semantic_tokenizer_fit_uses_its_codebook(tiny_corpus, tmp_path):
    from musiclm_studio.train.semantic import SemanticFitConfig, fit_semantic

    tokenizer = fit_semantic(SemanticFitConfig(out=str(tmp_path), data=str(tiny_corpus), preset="tiny", iters=5))
    metrics = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert metrics["valid_usage"] > 0.2 and metrics["fit_frames"] == metrics["train_frames"]
    _, clips = load_split(str(tiny_corpus), "train", SR)
    tokens = tokenizer(clips[0].float()[None])
    assert tokens.shape == (1, 50) and tokens.max() < 32
    assert (tmp_path / "last" / "model.safetensors").exists()


def test_recall_has_known_answers():
    from musiclm_studio.eval.mulan import recall_at

    eye = torch.eye(20)
    perfect = recall_at(eye, eye)
    assert perfect["R@1"] == 1.0 and perfect["median_rank"] == 1.0
    shifted = recall_at(eye, eye.roll(1, 0))  # every caption's best clip is someone else's
    assert shifted["R@1"] == 0.0 and shifted["median_rank"] == 2.0


def test_zero_shot_prompts_a_lead_family_by_its_instruments_names():
    from musiclm_studio.data.instruments import INSTRUMENTS
    from musiclm_studio.eval.mulan import zero_shot

    families = sorted({i.family for i in INSTRUMENTS.values()})

    class Names:  # a text's embedding: the family of the instrument it names (an even spread when it names none)
        def embed_text(self, texts):
            out = torch.full((len(texts), len(families)), 1.0)
            for n, text in enumerate(texts):
                named = [i.family for i in INSTRUMENTS.values() if f"a {i.name} " in text]
                if named:
                    out[n] = torch.nn.functional.one_hot(torch.tensor(families.index(named[0])), len(families)).float()
            return torch.nn.functional.normalize(out, dim=-1)

    rows = [{"lead_family": f} for f in ("reed", "brass", "pipe", "reed")]
    audio = torch.nn.functional.one_hot(torch.tensor([families.index(r["lead_family"]) for r in rows]), len(families))
    result = zero_shot(Names(), rows, audio.float())
    assert result.accuracy["lead family, by instrument"] == 1.0 and result.chance["lead family, by instrument"] == 0.5
    assert result.accuracy["lead family"] < 1.0  # 'a reed playing the melody' names no instrument


def test_mulan_eval_cli_writes_tables(tiny_corpus, tmp_path):
    from musiclm_studio import cli

    run = MuLanRunConfig(out=str(tmp_path / "run"), data=str(tiny_corpus), preset="tiny", steps=2, batch_size=6,
                         crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=1)
    train_mulan(run)
    captions = tmp_path / "captions.csv"  # three real MusicCaps rows (the full 5,521 run in `mulan eval`)
    lines = open(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "musiccaps",
                              "captions.csv"), encoding="utf-8").read().splitlines(keepends=True)
    captions.write_text("".join(lines[:4]), encoding="utf-8")
    assert cli.main(["mulan", "eval", "--mulan", str(tmp_path / "run"), "--data", str(tiny_corpus), "--split",
                     "train", "--musiccaps", str(captions), "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "mulan_eval.json").read_text())
    assert report["clips"] == 10 and 0 <= report["retrieval"]["R@10"] <= 1
    assert 0 <= report["retrieval_descriptors"]["R@10"] <= 1 and "retrieval_paraphrased_descriptors" in report
    assert "drums" in report["zero_shot"]["accuracy"] and report["counterfactual"] == {}  # no corpus attributes
    assert report["musiccaps"]["captions"] == 3 and report["musiccaps"]["all_finite"]
    assert len(report["musiccaps"]["nearest_training_captions"][0]["nearest"]) == 2  # two distinct captions


def test_counterfactual_captions_are_false_in_one_fact(tmp_path):
    from dataclasses import asdict

    from musiclm_studio.data.attributes import Attributes
    from musiclm_studio.data.builder import build_corpus, read_metadata
    from musiclm_studio.data.captions import counterfactuals, describe, tempo_word
    from musiclm_studio.train.mulan import HARD_NEGATIVES, counterfactual_texts

    build_corpus(str(tmp_path), 6, seconds=2.0, seed=5, workers=1, stems=False, progress=False)
    rows = read_metadata(str(tmp_path))
    for row in rows:
        attrs = Attributes.from_row(row)
        assert describe(attrs) == (row["caption"], row["aspects"])  # the generator restates the corpus caption
        worlds = counterfactuals(attrs)
        changed = {k: {f for f, v in asdict(w).items() if v != asdict(attrs)[f]} for k, w in worlds.items()}
        assert changed["mode"] == {"mode"} and "bpm" in changed["tempo"] and "drums" in changed["drums"]
        assert changed["tempo"] == {"bpm"} and worlds["drums"].drums != attrs.drums
        if tempo_word(attrs.bpm, attrs.metre):
            assert tempo_word(worlds["tempo"].bpm, attrs.metre) != tempo_word(attrs.bpm, attrs.metre)
    texts = clip_texts(rows, variants=1)
    false, mask = counterfactual_texts(rows, texts, variants=1)
    flat = [t for options in texts for t in options]
    assert len(false) == len(flat) == mask.shape[0] and mask.shape[1] == len(HARD_NEGATIVES)
    for text, rewrites, used in zip(flat, false, mask.tolist()):
        assert [r != text for r in rewrites] == used
    tags = [n for n, t in enumerate(flat) if t in {", ".join(r["aspects"]) for r in rows}]
    assert mask[tags].all()  # tag lists always state mode, tempo and drums
    captions_only, _ = counterfactual_texts(rows, [[r["caption"]] for r in rows])  # as the valid split uses it
    assert captions_only == [false[n * 3 + 1] for n in range(len(rows))]
    from musiclm_studio.config import preset
    from musiclm_studio.eval.mulan import counterfactual
    from musiclm_studio.models.mulan import MuLan

    report = counterfactual(MuLan(preset("tiny").mulan), rows, torch.nn.functional.normalize(torch.randn(6, 16), dim=-1))
    assert report["drums"]["clips"] == 6 and all(0 <= v["right"] <= 1 for v in report.values())
    assert {k: v["clips"] for k, v in report.items()} == {k: int(n) for k, n in zip(HARD_NEGATIVES, mask[1::3].sum(0))
                                                          if n}
    none, none_mask = counterfactual_texts([{"caption": "c"}], [["c", "c"]])
    assert none == [["c"] * 4, ["c"] * 4] and not none_mask.any()
    # texts the v1 generator does not write (caption v2's, a recording's tags): their mode swapped in the words
    other, other_mask = counterfactual_texts([{"caption": "a waltz in Bb minor"}], [["waltz, Bb min", "a waltz in Bb minor"]])
    assert [o[0] for o in other] == ["waltz, Bb maj", "a waltz in Bb major"]
    assert other_mask.tolist() == [[True, False, False, False]] * 2
    # the lead swapped for another family's instrument, in any text that names it (and only with ``lead``)
    row = {"caption": "A harmonica carries the tune.", "lead_program": 22}
    swapped, swapped_mask = counterfactual_texts([row], [[row["caption"]]])
    assert swapped_mask.tolist() == [[False, False, False, True]]
    assert swapped[0][3] != row["caption"] and "harmonica" not in swapped[0][3]
    assert not counterfactual_texts([row], [[row["caption"]]], lead=False)[1].any()


def test_hard_negatives_raise_the_loss_only_when_used():
    from musiclm_studio.config import preset
    from musiclm_studio.models.mulan import MuLan

    mulan = MuLan(preset("tiny").mulan)
    audio, text = (torch.nn.functional.normalize(torch.randn(4, 16), dim=-1) for _ in range(2))
    plain = mulan.contrastive_loss(audio, text)
    hard = audio[:, None].repeat(1, 2, 1)  # the best possible match for each audio
    off = torch.zeros(4, 2, dtype=torch.bool)
    torch.testing.assert_close(mulan.contrastive_loss(audio, text, hard, off), plain)
    assert mulan.contrastive_loss(audio, text, hard, ~off) > plain + 1.0


def test_validate_reports_counterfactual_accuracy_per_fact():
    from musiclm_studio.train.mulan import validate

    class Axes:  # clip n sounds like axis n; a text's features are its axis
        logit_scale = torch.zeros(())  # where a MuLan's weights live: the CPU

        def embed_audio(self, audio):
            return torch.nn.functional.one_hot(audio[:, 0].long(), 8).float()

        def embed_text(self, texts, features):
            return torch.nn.functional.normalize(features, dim=-1)

    clips = [torch.full((10,), float(n)) for n in range(5)]
    own, other = torch.eye(8)[:5], torch.eye(8)[1:6]
    hard = torch.stack([other, own, other, other], 1)  # mode: a wrong text; tempo: the true text again; drums, lead: wrong
    mask = torch.tensor([[True, True, False, True]] * 5)
    out = validate(Axes(), clips, own, hard, mask)
    assert out == {"valid_recall_at_10": 1.0, "valid_mode_right": 1.0, "valid_tempo_right": 0.0, "valid_lead_right": 1.0}


def test_v2_variants_add_trained_families_never_the_held_out_one(tmp_path):
    from musiclm_studio.data.attributes import Attributes
    from musiclm_studio.data.builder import build_corpus, read_metadata
    from musiclm_studio.data.captions_v2 import HELD_OUT_FAMILY, describe_v2, family_for

    build_corpus(str(tmp_path), 1, seconds=2.0, seed=3, workers=1, stems=False, progress=False)
    row = read_metadata(str(tmp_path))[0]
    texts = clip_texts([row], variants=1, v2_variants=4)[0]
    assert len(texts) == 2 + 1 + 4
    attrs = Attributes.from_row(row)
    families = [family_for(attrs, "train", v) for v in range(1, 5)]
    assert HELD_OUT_FAMILY not in families
    assert texts[3:] == [describe_v2(attrs, v, f).text for v, f in zip(range(1, 5), families)]


def test_text_only_keeps_the_audio_tower_and_its_tokens(tiny_corpus, tmp_path):
    from musiclm_studio.components import load_trained

    base = MuLanRunConfig(out=str(tmp_path / "base"), data=str(tiny_corpus), preset="tiny", steps=2, batch_size=6,
                          crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=1)
    before = train_mulan(base)
    with pytest.raises(ValueError, match="--init-from"):
        train_mulan(MuLanRunConfig(out=str(tmp_path / "none"), data=str(tiny_corpus), preset="tiny", text_only=True))
    # preset "small": the audio tower is still --init-from's (tiny), since the token caches come from it
    run = MuLanRunConfig(out=str(tmp_path / "text"), data=f"{tiny_corpus},{tiny_corpus}", preset="small", steps=4,
                         batch_size=6, crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=1, lr=1e-2,
                         init_from=str(tmp_path / "base" / "last"), text_only=True)
    after = train_mulan(run)
    saved = load_trained("mulan", str(tmp_path / "text" / "last"))
    assert after.config == before.config == saved.config
    for name, tensor in before.state_dict().items():
        same = torch.equal(tensor, after.state_dict()[name]) and torch.equal(tensor, saved.state_dict()[name])
        assert same == (not name.startswith(("text_projection", "logit_scale"))), name  # the temperature trains too
    _, clips = load_split(str(tiny_corpus), "train", SR)
    audio = torch.stack([c.float() for c in clips[:3]])
    assert torch.equal(before.tokenize(before.embed_audio(audio)), saved.tokenize(saved.embed_audio(audio)))


def test_the_key_branch_reads_keys_weighs_in_by_its_scale_and_trains(tiny_corpus, tmp_path):
    from musiclm_studio.components import load_trained
    from musiclm_studio.config import preset
    from musiclm_studio.eval.synth import cadence
    from musiclm_studio.models.descriptors import KEY_PROFILES
    from musiclm_studio.models.mulan import MuLan

    plain_config = preset("tiny").mulan
    plain = MuLan(plain_config).eval()
    keyed = MuLan(type(plain_config)(**{**plain_config.__dict__, "key_branch": True, "key_scale": 0.0})).eval()
    missing = keyed.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["audio_tower.key_out.bias", "audio_tower.key_out.weight", "audio_tower.key_profiles"]
    audio = torch.stack([torch.tensor(cadence(t, m, seconds=2.0), dtype=torch.float32) for t, m in ((0, "minor"), (7, "major"))])
    # at scale 0 the branch is off (up to float reduction order)
    torch.testing.assert_close(keyed.embed_audio(audio), plain.embed_audio(audio), atol=1e-4, rtol=1e-3)
    keyed.audio_tower.key_scale = 4.0
    assert (keyed.embed_audio(audio) - plain.embed_audio(audio)).abs().max() > 0.01
    scores = keyed.audio_tower.key_scores(keyed.audio_tower.power(audio))
    assert scores.argmax(-1).tolist() == [12 + 0, 7]  # C minor, G major: the fitted profiles read them at the start
    run = MuLanRunConfig(out=str(tmp_path), data=str(tiny_corpus), preset="tiny", steps=2, batch_size=6, crop_s=1.0,
                         log_every=2, save_every=100, warmup=1, rvq_crops=1, key_branch=True)
    trained = train_mulan(run)
    assert not torch.allclose(trained.audio_tower.key_profiles, torch.tensor(KEY_PROFILES["treble"]))  # they learn
    reloaded = load_trained("mulan", str(tmp_path / "last"))
    assert reloaded.config.key_branch and torch.equal(reloaded.audio_tower.key_profiles, trained.audio_tower.key_profiles)


def test_the_text_facts_branch_hears_the_stated_key_and_trains_on_a_frozen_audio_tower(tiny_corpus, tmp_path):
    from musiclm_studio.components import load_trained
    from musiclm_studio.config import preset
    from musiclm_studio.models.mulan import MuLan

    plain_config = preset("tiny").mulan
    plain = MuLan(plain_config).eval()
    facts = MuLan(type(plain_config)(**{**plain_config.__dict__, "text_facts": True, "facts_scale": 0.0})).eval()
    missing = facts.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["fact_out.bias", "fact_out.weight"]
    texts = ["a gentle piano tune in A minor at 90 bpm", "a gentle piano tune in A major at 90 bpm"]
    with torch.no_grad():
        torch.testing.assert_close(facts.embed_text(texts), plain.embed_text(texts))  # at scale 0 the branch is off
        facts.config.facts_scale = 4.0
        with_facts, without = facts.embed_text(texts), plain.embed_text(texts)
        assert (with_facts[0] @ with_facts[1]) < (without[0] @ without[1]) - 0.05  # the two modes now lie apart
        features = facts.text_features(texts)
        torch.testing.assert_close(facts.embed_text(texts, features=features), with_facts)
        torch.testing.assert_close(facts.embed_text([], features=facts.text_inputs(texts, features)), with_facts)
        with pytest.raises(ValueError, match="pass the 2 texts"):
            facts.embed_text([], features=features)
    # --text-only --text-facts: a text side that reads the facts, trained against the frozen audio tower
    base = MuLanRunConfig(out=str(tmp_path / "base"), data=str(tiny_corpus), preset="tiny", steps=2, batch_size=6,
                          crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=1)
    before = train_mulan(base)
    run = MuLanRunConfig(out=str(tmp_path / "text"), data=str(tiny_corpus), preset="tiny", steps=4, batch_size=6,
                         crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=1, lr=1e-2,
                         init_from=str(tmp_path / "base" / "last"), text_only=True, text_facts=True)
    after = train_mulan(run)
    saved = load_trained("mulan", str(tmp_path / "text" / "last"))
    assert saved.config.text_facts and not before.config.text_facts
    assert torch.equal(saved.fact_out.weight, after.fact_out.weight)
    for name, tensor in before.state_dict().items():
        assert torch.equal(tensor, saved.state_dict()[name]) == (not name.startswith(("text_projection", "logit_scale"))), name
    _, clips = load_split(str(tiny_corpus), "train", SR)
    audio = torch.stack([c.float() for c in clips[:3]])
    assert torch.equal(before.tokenize(before.embed_audio(audio)), saved.tokenize(saved.embed_audio(audio)))


def test_named_key_scores_a_clips_own_key_against_its_relative_and_parallel_keys():
    from musiclm_studio.config import preset
    from musiclm_studio.eval.mulan import embed_texts, named_key
    from musiclm_studio.models.mulan import MuLan

    model = MuLan(preset("tiny").mulan).eval()
    rows = [{"tonic_pc": 4, "mode": "minor"}, {"tonic_pc": 4, "mode": "minor"}, {"mode": "minor"},
            {"tonic_pc": 7, "mode": "major"}]
    # audio that is the text of: its own key / its relative key (E minor -> G major) / (no key known) /
    # its relative key (G major -> E minor)
    audio = embed_texts(model, ["music in the key of E minor", "music in the key of G major", "music",
                                "music in the key of E minor"])
    report = named_key(model, rows, audio)
    assert report["relative key"] == {"right": pytest.approx(1 / 3), "clips": 3} and report["parallel key"]["clips"] == 3
    assert named_key(model, [{"mode": "major"}], audio[:1]) == {}


def _scale_over_a_bass(bass_pc: int, seconds: float = 2.0) -> torch.Tensor:
    """G major's (= E minor's) seven notes held evenly above C4, over a bass on pitch class ``bass_pc``
    (octave 2): the notes above cannot tell the two keys apart, the bass can."""
    t = torch.arange(int(seconds * SR)) / SR
    notes = [60 + pc for pc in (7, 9, 11, 12, 14, 16, 18)]  # G A B C D E F#
    tone = lambda midi, amp: amp * torch.sin(2 * torch.pi * 440.0 * 2 ** ((midi - 69) / 12) * t)
    return sum(tone(m, 0.05) for m in notes) + tone(36 + bass_pc, 0.3)


def test_the_key_branch_hears_the_bass_and_relative_key_negatives_train(tiny_corpus, tmp_path):
    from musiclm_studio.components import load_trained
    from musiclm_studio.config import preset
    from musiclm_studio.models.descriptors import KEY_PROFILES
    from musiclm_studio.models.mulan import MuLan
    from musiclm_studio.train.mulan import RELATIVE_KEY, counterfactual_right, with_relative_keys

    config = preset("tiny").mulan
    with pytest.raises(ValueError, match="set key_branch too"):
        MuLan(type(config)(**{**config.__dict__, "key_bass": True}))
    treble_only = MuLan(type(config)(**{**config.__dict__, "key_branch": True})).eval().audio_tower
    bass = MuLan(type(config)(**{**config.__dict__, "key_branch": True, "key_bass": True})).eval().audio_tower
    audio = torch.stack([_scale_over_a_bass(4), _scale_over_a_bass(7)])  # E in the bass, G in the bass
    e_minor, g_major = 12 + 4, 7
    with torch.no_grad():
        plain = treble_only.key_scores(treble_only.power(audio))
        heard = bass.key_scores(bass.power(audio), audio)
    assert heard.argmax(-1).tolist() == [e_minor, g_major]  # the bass names the centre
    assert (plain[0, e_minor] - plain[0, g_major]).abs() < (heard[0, e_minor] - heard[0, g_major]).abs()
    assert bass.bass_share(audio).argmax(-1).tolist() == [4, 7]

    # the relative-key negative: the sentence kept, the stated key's facts moved (E minor -> G major)
    inputs = torch.zeros(3, 5 + 36)
    inputs[0, 5 + e_minor] = 1.0
    inputs[1, 5: 5 + 12] = 1 / 12  # a mode alone: no relative key to move to
    inputs[:, :5] = torch.randn(3, 5)
    hard, mask = with_relative_keys(torch.zeros(3, 4, 5 + 36), torch.ones(3, 4, dtype=torch.bool), inputs, 5)
    assert hard.shape == (3, 5, 5 + 36) and mask[:, :4].all() and mask[:, 4].tolist() == [True, False, False]
    moved = hard[:, 4]
    assert moved[0, 5: 29].nonzero().flatten().tolist() == [g_major] and torch.equal(moved[0, :5], inputs[0, :5])
    assert torch.equal(moved[0, 29:], inputs[0, 29:])  # the tempo facts kept
    right = counterfactual_right(torch.eye(3)[:2], torch.eye(3)[:2], torch.stack([torch.eye(3)[[1, 0]]] * 5, 1),
                                 torch.tensor([[False] * 4 + [True]] * 2))
    assert right == {RELATIVE_KEY: (1.0, 2)}

    with pytest.raises(ValueError, match="give --text-facts"):
        train_mulan(MuLanRunConfig(out=str(tmp_path / "no"), data=str(tiny_corpus), preset="tiny", steps=1,
                                   relative_negatives=True))
    run = MuLanRunConfig(out=str(tmp_path / "run"), data=str(tiny_corpus), preset="tiny", steps=2, batch_size=6,
                         crop_s=1.0, log_every=2, save_every=100, warmup=1, rvq_crops=1, key_branch=True, key_bass=True,
                         text_facts=True, relative_negatives=True)
    trained = train_mulan(run)
    assert not torch.allclose(trained.audio_tower.bass_profiles, torch.tensor(KEY_PROFILES["bass"]))  # they learn
    reloaded = load_trained("mulan", str(tmp_path / "run" / "last"))
    assert reloaded.config.key_bass and torch.equal(reloaded.audio_tower.key_bias, trained.audio_tower.key_bias)
