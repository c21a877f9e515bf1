"""Token caches, the three stage-LM trainers and `assemble`, on the tiny preset."""

import json

import pytest
import torch

from musiclm_studio.eval.synth import drum_loop, hummed_melody
from musiclm_studio.pipeline import MusicLMPipeline
from musiclm_studio.train.lm import LMRunConfig, crop_batch, train_lm
from musiclm_studio.train.tokens import TokenCacheConfig, TokenSet, build_token_cache

SR = 24_000


@pytest.fixture(scope="module")
def setup(synthetic_tokens):
    """(root, token sets): the shared synthetic ``corpus`` (5 train clips, 1 valid), the tiny ``pipe`` and
    their ``tokens``."""
    return synthetic_tokens


def test_token_cache_streams_line_up(setup):
    root, sets = setup
    train = TokenSet.load(str(root / "tokens" / "train.safetensors"))
    assert torch.equal(train.lengths, sets["train"].lengths) and train.lengths.tolist() == [75] * 5
    assert train.codes.shape == (12, 2 * 75 * 5) and train.semantic.shape == (375,) == train.melody.shape
    assert train.mulan.shape == (5, 2, 12)
    # clip 1 (hummed) has MIDI notes: C#4 for 0.5 s = 12 frames of pitch class 1, then E; clip 0 none
    assert train.melody[75: 75 + 12].tolist() == [1] * 12 and train.melody[75 + 13] == 4
    assert (train.melody[:75] == 12).all()


def test_untrained_tokenizers_are_refused(tmp_path):
    MusicLMPipeline.from_config("tiny").save_pretrained(str(tmp_path / "p"))
    with pytest.raises(ValueError, match="untrained"):
        build_token_cache(TokenCacheConfig(out=str(tmp_path / "t"), pipeline=str(tmp_path / "p"), data="x"))


@pytest.mark.parametrize("stage, levels, conds", [("semantic", 1, {"mulan", "melody"}),
                                                  ("coarse", 4, {"mulan", "semantic"}), ("fine", 8, {"coarse"})])
def test_crops_are_aligned_per_stage(setup, stage, levels, conds):
    _, sets = setup
    targets, conditions = crop_batch(sets["train"], stage, 3, 20, torch.Generator().manual_seed(0))
    frames = 20 if stage == "semantic" else 40
    assert targets.shape == (3, levels, frames) and set(conditions) == conds
    if stage == "fine":
        assert conditions["coarse"].shape == (3, 4, 40)


@pytest.mark.parametrize("stage", ["semantic", "coarse", "fine"])
def test_each_lm_trains_validates_and_resumes(setup, stage, tmp_path):
    root, _ = setup
    run = LMRunConfig(out=str(tmp_path), stage=stage, tokens=str(root / "tokens"), preset="tiny", steps=2,
                      batch_size=2, crop_s=1.0, log_every=2, save_every=100, warmup=1)
    model = train_lm(run)
    log = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert log["step"] == 2 and log["loss"] > 0 and log["valid_loss"] > 0
    assert ("valid_loss_other_mulan" in log) == (stage != "fine")  # how much the LM listens to MuLan
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert best["step"] == 2 and best["valid_loss"] == log["valid_loss"]
    run.steps = 3
    train_lm(run)
    state = torch.load(tmp_path / "last" / "train_state.pt", weights_only=True)
    assert int(state["step"]) == 3
    assert model.config.name == stage


def test_lms_train_on_several_caches_of_the_same_tokenizers_only(setup, tmp_path):
    from musiclm_studio.train.tokens import load_caches

    root, sets = setup
    more = tmp_path / "more"  # a second corpus's cache: same tokenizers, train split only
    more.mkdir()
    sets["train"].save(str(more / "train.safetensors"))
    joined = load_caches(f"{root / 'tokens'},{more}", "train")
    assert joined.lengths.tolist() == [75] * 10 and joined.codes.shape == (12, 2 * 750)
    assert torch.equal(joined.semantic[375:], sets["train"].semantic)
    assert torch.equal(joined.starts[5:] - 375, sets["train"].starts)
    assert load_caches(f"{more},{root / 'tokens'}", "valid").lengths.numel() == 1  # caches lacking it skipped
    assert load_caches(str(more), "valid", required=False) is None
    run = LMRunConfig(out=str(tmp_path / "run"), stage="coarse", tokens=f"{root / 'tokens'},{more}", preset="tiny",
                      steps=1, batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1)
    train_lm(run)
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["valid_loss"] > 0
    other = tmp_path / "other"  # built with another semantic tokenizer: its ids mean other sounds
    other.mkdir()
    TokenSet(**{**sets["train"].__dict__, "semantic_probe": sets["train"].semantic_probe + 1}).save(
        str(other / "train.safetensors"))
    with pytest.raises(ValueError, match="another semantic tokenizer"):
        load_caches(f"{root / 'tokens'},{other}", "train")
    with pytest.raises(ValueError, match="No token cache"):
        load_caches(" , ", "train")


def test_the_fine_layout_is_a_training_choice_that_ships_with_the_weights(setup, tmp_path):
    from musiclm_studio.models.lm import LevelwiseLM, StageLM
    from musiclm_studio.train.assemble import assemble

    root, _ = setup
    pipe = MusicLMPipeline.from_pretrained(str(root / "pipe"))
    assert isinstance(pipe.components.fine_lm, LevelwiseLM)  # the presets' fine layout
    run = LMRunConfig(out=str(tmp_path / "fine"), stage="fine", layout="delay", tokens=str(root / "tokens"),
                      preset="tiny", steps=2, batch_size=2, crop_s=1.0, log_every=2, save_every=100, warmup=1)
    model = train_lm(run)
    assert type(model) is StageLM and model.config.layout == "delay"
    log = json.loads((tmp_path / "fine" / "metrics.jsonl").read_text().splitlines()[-1])
    assert log["loss"] > 0 and log["valid_loss"] > 0
    assemble(str(root / "pipe"), str(tmp_path / "pipe"), {"fine_lm": str(tmp_path / "fine")})
    again = MusicLMPipeline.from_pretrained(str(tmp_path / "pipe"))
    assert type(again.components.fine_lm) is StageLM and again.config.fine_lm.layout == "delay"
    out = again("drums", duration_s=1.0, seed=0)
    assert out.tokens.fine.shape[1] == again.config.codec.num_quantizers - again.config.codec.num_coarse_quantizers


def test_assemble_marks_components_trained_and_keeps_placeholders(setup, tmp_path):
    from musiclm_studio.train.assemble import assemble

    root, _ = setup
    run = LMRunConfig(out=str(tmp_path / "fine"), stage="fine", tokens=str(root / "tokens"), preset="tiny", steps=1,
                      batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1)
    trained = train_lm(run)
    base = tmp_path / "base"
    MusicLMPipeline.from_config("tiny", seed=3).save_pretrained(str(base), placeholder_seed=3)
    pipe = assemble(str(base), str(tmp_path / "out"), {"fine_lm": str(tmp_path / "fine")}, dtype="float32")
    assert "fine_lm" not in pipe.untrained_components and "coarse_lm" in pipe.untrained_components
    again = MusicLMPipeline.from_pretrained(str(tmp_path / "out"), int8=False)
    assert again.untrained_components == pipe.untrained_components
    for a, b in zip(trained.state_dict().values(), again.components.fine_lm.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="do not fit together"):
        assemble(str(base), str(tmp_path / "o2"), {"semantic_lm": str(tmp_path / "fine")}, dtype="float32")


def test_assemble_takes_a_retrained_lm_config_but_not_another_mulan(setup, tmp_path):
    from musiclm_studio.train.assemble import assemble

    root, _ = setup
    run = LMRunConfig(out=str(tmp_path / "sem"), stage="semantic", tokens=str(root / "tokens"), preset="tiny",
                      steps=1, batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1, dropout=0.1)
    assert train_lm(run).config.dropout == 0.1
    pipe = assemble(str(root / "pipe"), str(tmp_path / "out"), {"semantic_lm": str(tmp_path / "sem" / "best")},
                    dtype="float32")  # the pipeline whose MuLan made the token cache
    assert MusicLMPipeline.from_pretrained(str(tmp_path / "out")).config.semantic_lm.dropout == 0.1
    assert "semantic_lm" not in pipe.untrained_components
    other = tmp_path / "other"  # a pipeline with another MuLan quantizer
    MusicLMPipeline.from_config("tiny", seed=3).save_pretrained(str(other))
    with pytest.raises(ValueError, match="another MuLan quantizer"):
        assemble(str(other), str(tmp_path / "o2"), {"semantic_lm": str(tmp_path / "sem")}, dtype="float32")


def test_a_retrained_mulan_ships_with_lms_trained_on_its_tokens(setup, tmp_path):
    from musiclm_studio.components import load_trained
    from musiclm_studio.train.assemble import assemble

    root, sets = setup
    other = tmp_path / "other"  # stands in for a retrained MuLan: another quantizer
    MusicLMPipeline.from_config("tiny", seed=3).save_pretrained(str(other))
    new_mulan = load_trained("mulan", str(other))
    cache = build_token_cache(TokenCacheConfig(out=str(tmp_path / "tokens"), pipeline=str(root / "pipe"),
                                               mulan=str(other / "mulan"), data=str(root / "corpus"), mulan_windows=2))
    assert torch.equal(cache["train"].mulan_codebook, new_mulan.code_vectors().float())
    # --reuse with --mulan recomputes the MuLan stream only (the same crops) and copies the others
    reused = build_token_cache(TokenCacheConfig(out=str(tmp_path / "reused"), pipeline=str(root / "pipe"),
                                                mulan=str(other / "mulan"), reuse=str(root / "tokens"),
                                                data=str(root / "corpus"), mulan_windows=2))
    for split in ("train", "valid"):
        for name, source in (("mulan", cache), ("mulan_codebook", cache), ("codes", sets), ("semantic", sets),
                             ("melody", sets), ("lengths", sets), ("semantic_probe", sets)):
            assert torch.equal(getattr(reused[split], name), getattr(source[split], name)), (split, name)
        assert not torch.equal(reused[split].mulan, sets[split].mulan)
    with pytest.raises(ValueError, match="another MuLan quantizer"):  # the old LMs cannot ship with it
        assemble(str(root / "pipe"), str(tmp_path / "o1"), {"mulan": str(other / "mulan")}, dtype="float32")
    runs = {}
    for stage in ("semantic", "coarse"):
        runs[f"{stage}_lm"] = str(tmp_path / stage)
        train_lm(LMRunConfig(out=runs[f"{stage}_lm"], stage=stage, tokens=str(tmp_path / "tokens"), preset="tiny",
                             steps=1, batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1))
    pipe = assemble(str(root / "pipe"), str(tmp_path / "o2"), {"mulan": str(other / "mulan"), **runs}, dtype="float32")
    assert {"mulan", "semantic_lm", "coarse_lm"}.isdisjoint(pipe.untrained_components)


def test_an_lm_reads_a_rotated_quantizer_through_the_folded_map(setup):
    from musiclm_studio.components import load_trained

    root, sets = setup
    lm = load_trained("semantic_lm", str(root / "pipe")).eval()
    batch = sets["train"]
    conditions = {"mulan": batch.mulan[:2, 0], "melody": batch.melody[:40].reshape(2, 20)}
    tokens = batch.semantic[:40].reshape(2, 1, 20)
    before = lm(tokens, conditions)
    dim = lm.conditions["mulan"].codebook.shape[-1]
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(0)))[0]
    new_codebook = lm.conditions["mulan"].codebook @ rotation  # the same codes, in a rotated space
    lm.remap_condition("mulan", new_codebook, rotation.T)  # rotation.T carries them back
    assert torch.equal(lm.conditions["mulan"].codebook, new_codebook)
    assert torch.allclose(lm(tokens, conditions), before, atol=1e-4)
    # a wider space (a MuLan ensemble's: these codes beside others) mapped onto the rotated one
    wide = torch.cat([new_codebook, torch.randn_like(new_codebook)], -1)
    with pytest.raises(ValueError, match="cannot carry"):
        lm.remap_condition("mulan", wide, torch.eye(dim))
    lm.remap_condition("mulan", wide, torch.cat([torch.eye(dim), torch.zeros(dim, dim)]))
    assert lm.config.conditions[0].codebook_dim == 2 * dim and lm.conditions["mulan"].project.in_features == 2 * dim
    assert torch.allclose(lm(tokens, conditions), before, atol=1e-4)


def test_assemble_maps_the_lms_onto_a_new_mulan(setup, tmp_path):
    from musiclm_studio.components import load_trained
    from musiclm_studio.eval.mulan import embed_clips, embed_texts
    from musiclm_studio.train.assemble import assemble, fit_mulan_map
    from musiclm_studio.train.data import load_split

    root, _ = setup
    other = tmp_path / "other"  # a MuLan from another seed: the LMs' tokens mean something else
    MusicLMPipeline.from_config("tiny", seed=3).save_pretrained(str(other))
    old, new = load_trained("mulan", str(root / "pipe")), load_trained("mulan", str(other / "mulan"))
    mapping, report = fit_mulan_map(old, new, [str(root / "corpus")], clips=5)
    rows, clips = load_split(str(root / "corpus"), "train", new.config.sample_rate)
    captions = [r["caption"] for r in rows]
    for ours, theirs in ((embed_clips(new, clips), embed_clips(old, clips)),
                         (embed_texts(new, captions), embed_texts(old, captions))):
        # 10 pairs in 16 dimensions: the map carries each fitted new embedding onto its old one
        assert torch.nn.functional.cosine_similarity(ours @ mapping, theirs).min() > 0.95
        assert torch.nn.functional.cosine_similarity(ours, theirs).max() < 0.9  # and they were apart
    assert report == {}  # under ten pairs a kind: none left out to report on
    with pytest.raises(ValueError, match="--component mulan"):
        assemble(str(root / "pipe"), str(tmp_path / "o1"), {}, map_mulan=[str(root / "corpus")])
    pipe = assemble(str(root / "pipe"), str(tmp_path / "o2"), {"mulan": str(other / "mulan")}, dtype="float32",
                    map_mulan=[str(root / "corpus")], map_clips=5)
    base = MusicLMPipeline.from_pretrained(str(root / "pipe"), int8=False)
    loaded = MusicLMPipeline.from_pretrained(str(tmp_path / "o2"), int8=False)
    new_codes = load_trained("mulan", str(other / "mulan")).code_vectors()
    for name in ("semantic_lm", "coarse_lm"):
        lm, before = getattr(loaded.components, name), getattr(base.components, name)
        assert torch.allclose(lm.conditions["mulan"].codebook, new_codes)
        assert not torch.allclose(lm.conditions["mulan"].project.weight, before.conditions["mulan"].project.weight)
        assert torch.equal(lm.conditions["mulan"].null, before.conditions["mulan"].null)  # only the map folded in
    assert "semantic_lm" not in pipe.untrained_components


def test_the_mulan_map_also_fits_prompts_with_no_clip(setup, tmp_path, capsys):
    from musiclm_studio.components import load_trained
    from musiclm_studio.eval.mulan import embed_texts
    from musiclm_studio.train.assemble import assemble, fit_mulan_map
    from musiclm_studio.train.data import corpus_entries

    root, _ = setup
    other = tmp_path / "other"
    MusicLMPipeline.from_config("tiny", seed=3).save_pretrained(str(other))
    old, new = load_trained("mulan", str(root / "pipe")), load_trained("mulan", str(other / "mulan"))
    prompts = [f"a {mood} {genre} tune with {lead}" for mood in ("calm", "dark", "bright")
               for genre in ("jazz", "rock", "folk", "techno") for lead in ("piano", "a choir", "flute")]
    corpus = str(root / "corpus")
    plain, _ = fit_mulan_map(old, new, [corpus], clips=5)
    mapping, report = fit_mulan_map(old, new, [corpus], clips=5, texts=prompts)  # together, what 5 captions weigh

    def carried(m):  # mean cosine of the mapped prompts to the old MuLan's embedding of the same words
        return torch.nn.functional.cosine_similarity(embed_texts(new, prompts) @ m, embed_texts(old, prompts)).mean()

    assert carried(mapping) > carried(plain) + 0.05  # 36 prompts in 16 dimensions, fitted beside 10 pairs
    # by default the 36 prompts together weigh what the 5 captions do
    assert torch.allclose(mapping, fit_mulan_map(old, new, [corpus], clips=5, texts=prompts, texts_weight=5 / 36)[0])
    assert set(report) == {"prompts_cosine"} and -1 <= report["prompts_cosine"] <= 1  # every tenth left out
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n" + prompts[0] + "\n")
    with pytest.raises(ValueError, match="--map-mulan"):
        assemble(str(root / "pipe"), str(tmp_path / "o1"), {"mulan": str(other / "mulan")},
                 map_texts=[str(tmp_path / "prompts.txt")])
    capsys.readouterr()
    assemble(str(root / "pipe"), str(tmp_path / "o2"), {"mulan": str(other / "mulan")}, dtype="float32",
             map_mulan=[corpus], map_clips=5, map_texts=[str(tmp_path / "prompts.txt"), f"corpus:{corpus}"])
    train = {r["caption"] for r in corpus_entries(corpus, "train")}  # its train captions, not its valid one
    assert f"{len(prompts) + len(train)} prompt texts join its fit" in capsys.readouterr().out


def test_the_lms_read_a_mulan_ensemble_through_the_map(setup, tmp_path, capsys):
    from musiclm_studio.cli import main
    from musiclm_studio.components import load_trained
    from musiclm_studio.eval.mulan import embed_clips, embed_texts
    from musiclm_studio.models.mulan import MuLan
    from musiclm_studio.train.assemble import assemble
    from musiclm_studio.train.data import load_split

    root, _ = setup
    other, corpus = tmp_path / "other", str(root / "corpus")
    MusicLMPipeline.from_config("tiny", seed=3).save_pretrained(str(other))
    members = [load_trained("mulan", str(root / "pipe")), load_trained("mulan", str(other / "mulan"))]
    assert main(["mulan", "ensemble", "--members", str(root / "pipe"), "--data", corpus, "--out", str(tmp_path / "e1")])
    assert "Name two or more MuLans" in capsys.readouterr().err
    assert main(["mulan", "ensemble", "--members", f"{root / 'pipe'},{other / 'mulan'}", "--data", corpus,
                 "--clips", "5", "--out", str(tmp_path / "ens")]) == 0
    assert '"fit_vectors": 10' in capsys.readouterr().out  # 5 clips and their 5 captions
    ensemble = load_trained("mulan", str(tmp_path / "ens"))
    assert ensemble.config.embed_dim == 32 and ensemble.code_vectors().shape == (12, 32, 32)  # tiny: 32 codes
    with pytest.raises(ValueError, match="build_mulan"):
        MuLan(ensemble.config)
    rows, clips = load_split(corpus, "train", 24_000)
    captions = [r["caption"] for r in rows]
    # the joined cosine is the members' mean cosine
    cosine = embed_texts(ensemble, captions) @ embed_clips(ensemble, clips).T
    mean = sum(embed_texts(m, captions) @ embed_clips(m, clips).T for m in members) / 2
    torch.testing.assert_close(cosine, mean, atol=1e-5, rtol=1e-4)
    tokens = ensemble.tokenize(embed_texts(ensemble, captions))
    assert tokens.shape == (len(captions), 12) and tokens.max() < 32
    # the LMs read the 32-d ensemble's code vectors through the map folded into their input layers
    assemble(str(root / "pipe"), str(tmp_path / "o"), {"mulan": str(tmp_path / "ens")}, dtype="float32",
             map_mulan=[corpus], map_clips=5)
    pipe = MusicLMPipeline.from_pretrained(str(tmp_path / "o"), int8=False)
    for name in ("semantic_lm", "coarse_lm"):
        condition = getattr(pipe.components, name).conditions["mulan"]
        assert condition.project.in_features == 32 and condition.codebook.shape == (12, 32, 32)
        assert next(s for s in getattr(pipe.config, name).conditions if s.name == "mulan").codebook_dim == 32
    pipe.show_progress = False
    out = pipe("a calm piano tune", duration_s=1.0, seed=0)
    assert out.audio.shape == (24_000,) and torch.isfinite(out.audio).all()
    assert out.tokens.mulan.shape[-1] == 12
    # fine-tuned on a token cache its own pipeline made, the LM goes on reading the ensemble's 32-d codes
    build_token_cache(TokenCacheConfig(out=str(tmp_path / "tokens"), pipeline=str(tmp_path / "o"), data=corpus))
    capsys.readouterr()
    tuned = train_lm(LMRunConfig(out=str(tmp_path / "sem"), stage="semantic", tokens=str(tmp_path / "tokens"),
                                 preset="tiny", steps=1, batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1,
                                 init_from=str(tmp_path / "o")))
    assert "conditions.mulan.project" not in capsys.readouterr().out  # loaded, not newly initialised
    assert torch.allclose(tuned.conditions["mulan"].codebook, ensemble.code_vectors())


def test_a_refitted_semantic_tokenizer_recomputes_only_the_semantic_stream(setup, tmp_path):
    from musiclm_studio.models.semantic_tokenizer import SemanticTokenizer
    from musiclm_studio import hub

    root, sets = setup
    config = MusicLMPipeline.from_config("tiny").config.semantic_tokenizer
    config.onset_bands, config.onset_weight = 2, 4.0
    tok = SemanticTokenizer(config)
    audio = torch.cat([torch.as_tensor(drum_loop(seconds=2, seed=9)).float(),
                       torch.as_tensor(hummed_melody(seed=9)[: 2 * SR]).float()])
    tok.fit(tok.features(audio[None], standardize=False)[0], iters=3, generator=torch.Generator().manual_seed(0))
    hub.save_component(str(tmp_path / "sem" / "last"), config, tok)
    new = build_token_cache(TokenCacheConfig(out=str(tmp_path / "tokens"), pipeline=str(root / "pipe"),
                                             semantic=str(tmp_path / "sem"), reuse=str(root / "tokens"),
                                             data=str(root / "corpus")))
    for split in ("train", "valid"):
        old, fresh = sets[split], new[split]
        for name in ("codes", "melody", "mulan", "lengths", "mulan_codebook"):
            assert torch.equal(getattr(old, name), getattr(fresh, name)), name
        assert fresh.semantic.shape == old.semantic.shape and not torch.equal(fresh.semantic, old.semantic)
    # the same result as building the cache from scratch with the refitted tokenizer
    scratch = build_token_cache(TokenCacheConfig(out=str(tmp_path / "t2"), pipeline=str(root / "pipe"),
                                                 semantic=str(tmp_path / "sem"), data=str(root / "corpus"),
                                                 mulan_windows=2))
    assert torch.equal(scratch["train"].semantic, new["train"].semantic)
    with pytest.raises(ValueError, match="same corpus"):
        build_token_cache(TokenCacheConfig(out=str(tmp_path / "t3"), pipeline=str(root / "pipe"),
                                           reuse=str(root / "tokens"), data=str(root / "corpus"), max_clips=2))
    # an LM trained on the new tokens ships only with the tokenizer that made them
    from musiclm_studio.train.assemble import assemble

    lm = train_lm(LMRunConfig(out=str(tmp_path / "lm"), stage="coarse", tokens=str(tmp_path / "tokens"), preset="tiny",
                              steps=1, batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1))
    assert lm.config.semantic_tokenizer_fingerprint == tok.probe_tokens() != sets["train"].semantic_probe.tolist()
    with pytest.raises(ValueError, match="another semantic tokenizer"):
        assemble(str(root / "pipe"), str(tmp_path / "o1"), {"coarse_lm": str(tmp_path / "lm")}, dtype="float32")
    assemble(str(root / "pipe"), str(tmp_path / "o2"),
             {"coarse_lm": str(tmp_path / "lm"), "semantic_tokenizer": str(tmp_path / "sem")}, dtype="bfloat16")
    assert MusicLMPipeline.from_pretrained(str(tmp_path / "o2")).components.semantic_tokenizer.probe_tokens() == \
        lm.config.semantic_tokenizer_fingerprint  # the identity survives bf16 storage


def test_cli_sub_command_fixes_the_stage(setup, tmp_path):
    from musiclm_studio import cli

    root, _ = setup
    assert cli.main(["train", "fine-lm", "--out", str(tmp_path), "--tokens", str(root / "tokens"), "--preset", "tiny",
                     "--steps", "1", "--batch-size", "2", "--crop-s", "1.0", "--log-every", "1", "--dropout", "0.05"]) == 0
    assert json.loads((tmp_path / "run.json").read_text())["stage"] == "fine"
    assert json.loads((tmp_path / "last" / "config.json").read_text())["dropout"] == 0.05  # typed flag
    with pytest.raises(SystemExit):  # the stage is the sub-command, not a flag
        cli.main(["train", "fine-lm", "--out", str(tmp_path), "--stage", "coarse"])


@pytest.mark.parametrize("source", ["run", "pipeline"])
def test_init_from_a_run_folder_or_a_whole_pipeline(setup, tmp_path, source):
    root, _ = setup
    first = LMRunConfig(out=str(tmp_path / "a"), stage="coarse", tokens=str(root / "tokens"), preset="tiny", steps=1,
                        batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1)
    trained = train_lm(first)
    if source == "pipeline":  # e.g. the committed assets/musiclm-small
        pipe = MusicLMPipeline.from_config("tiny", seed=0)
        pipe.components.coarse_lm.load_state_dict(trained.state_dict())
        pipe.save_pretrained(str(tmp_path / "pipe"))
    init = str(tmp_path / ("a" if source == "run" else "pipe"))
    second = LMRunConfig(out=str(tmp_path / "b"), stage="coarse", tokens=str(root / "tokens"), preset="tiny", steps=0,
                         init_from=init)
    again = train_lm(second)
    for a, b in zip(trained.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="No trained coarse_lm"):
        train_lm(LMRunConfig(out=str(tmp_path / "c"), stage="coarse", tokens=str(root / "tokens"), preset="tiny",
                             steps=0, init_from=str(tmp_path)))


def test_train_only_moves_the_named_weights_and_freezes_the_rest(setup, tmp_path):
    root, _ = setup
    base = LMRunConfig(out=str(tmp_path / "a"), stage="coarse", tokens=str(root / "tokens"), preset="tiny", steps=1,
                       batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1)
    before = train_lm(base).state_dict()
    after = train_lm(LMRunConfig(out=str(tmp_path / "b"), stage="coarse", tokens=str(root / "tokens"), preset="tiny",
                                 steps=3, batch_size=2, crop_s=1.0, log_every=1, save_every=100, warmup=1, lr=1e-2,
                                 init_from=str(tmp_path / "a"), train_only="conditions.mulan")).state_dict()
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all(name.startswith("conditions.mulan.") for name in moved)
    assert "conditions.mulan.project.weight" in moved
    with pytest.raises(ValueError, match="no weights under.*conditions.nope.*start with: .*conditions.mulan"):
        train_lm(LMRunConfig(out=str(tmp_path / "c"), stage="coarse", tokens=str(root / "tokens"), preset="tiny",
                             steps=1, train_only="conditions.mulan,conditions.nope"))


def test_a_cache_of_a_corpus_first_clips_is_told_those_clips_keys(setup, tmp_path):
    from musiclm_studio.config import preset
    from musiclm_studio.data.builder import read_metadata
    from musiclm_studio.train.lm import clip_streams

    root, sets = setup
    built = build_token_cache(TokenCacheConfig(out=str(tmp_path / "first3"), pipeline=str(root / "pipe"),
                                               data=str(root / "corpus"), mulan_windows=2, max_clips=3))
    assert built["train"].lengths.numel() == 3 and int(built["train"].max_clips) == 3
    assert torch.equal(built["train"].codes, sets["train"].codes[:, : 2 * 75 * 3])  # the corpus's first 3 clips
    rows = [r for r in read_metadata(str(root / "corpus")) if r["split"] == "train"]
    both = f"{root / 'tokens'},{tmp_path / 'first3'}"
    run = LMRunConfig(out="", stage="semantic", tokens=both, data=f"{root / 'corpus'},{root / 'corpus'}", key=True)
    told = clip_streams(run, "train", len(rows) + 3, preset("tiny").semantic_lm, 0.0)["key"].tokens.tolist()
    assert told[len(rows):] == told[:3]
    unmarked = TokenSet.load(str(tmp_path / "first3" / "train.safetensors"))
    unmarked.max_clips = None  # 3 clips that do not say which: refused, not guessed
    (tmp_path / "bare").mkdir()
    unmarked.save(str(tmp_path / "bare" / "train.safetensors"))
    run.tokens = f"{root / 'tokens'},{tmp_path / 'bare'}"
    with pytest.raises(ValueError, match="holds 10 clips and the token caches 8"):
        clip_streams(run, "train", len(rows) + 3, preset("tiny").semantic_lm, 0.0)


def test_lm_training_needs_the_mulan_code_vectors_and_init_from_older_weights(setup, tmp_path):
    from musiclm_studio import hub
    from musiclm_studio.config import preset
    from musiclm_studio.models.lm import StageLM

    root, sets = setup
    assert torch.equal(sets["train"].mulan_codebook, MusicLMPipeline.from_pretrained(str(root / "pipe"))
                       .components.mulan.code_vectors())
    old = tmp_path / "old"  # a cache built before the code vectors were stored
    old.mkdir()
    TokenSet(**{**sets["train"].__dict__, "mulan_codebook": None}).save(str(old / "train.safetensors"))
    with pytest.raises(ValueError, match="rebuild it"):
        train_lm(LMRunConfig(out=str(tmp_path / "a"), stage="semantic", tokens=str(old), preset="tiny", steps=1))
    # weights of an LM that embedded MuLan tokens with a free table initialise the rest
    config = preset("tiny").semantic_lm
    legacy = config.from_dict({**config.to_dict(), "conditions": [
        {**s.to_dict(), "codebook_dim": None, "broadcast": False} for s in config.conditions]})
    hub.save_component(str(tmp_path / "legacy"), legacy, StageLM(legacy))
    fresh = StageLM(config)
    missing = hub.load_matching(str(tmp_path / "legacy"), fresh)
    assert "conditions.mulan.project.weight" in missing and "conditions.mulan.broadcast.weight" in missing
    assert "transformer.blocks.0.attn.qkv.weight" not in missing and "conditions.mulan.tokens.weight" not in fresh.state_dict()


def test_bf16_autocast_only_where_the_hardware_has_bf16(tmp_path):
    from musiclm_studio.train.common import autocast, bf16_is_native

    avx2, amx = tmp_path / "avx2", tmp_path / "amx"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert not bf16_is_native("cpu", str(avx2)) and bf16_is_native("cpu", str(amx))
    with autocast(torch.device("cpu"), True):
        assert torch.is_autocast_enabled("cpu") == bf16_is_native("cpu")  # emulated bf16 is 10x slower: fp32 instead
    with autocast(torch.device("cpu"), False):
        assert not torch.is_autocast_enabled("cpu")
