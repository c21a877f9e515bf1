"""The model components on tiny configs: codec, MuLan, melody and semantic tokenizers, stage LMs."""

import math

import pytest
import torch

from musiclm_studio.config import preset
from musiclm_studio.models.codec import SoundStreamCodec
from musiclm_studio.models.lm import StageLM
from musiclm_studio.models.melody_tokenizer import UNVOICED, MelodyTokenizer
from musiclm_studio.models.semantic_tokenizer import SemanticTokenizer

SR = 24_000


@pytest.fixture(scope="module")
def cfg():
    return preset("tiny")


def tone(freq, seconds=1.0, sr=SR, vibrato=0.0):
    t = torch.arange(int(seconds * sr)) / sr
    phase = 2 * math.pi * freq * t + vibrato * torch.sin(2 * math.pi * 5 * t)
    return 0.3 * torch.sin(phase)


def test_codec_frame_arithmetic_and_any_levels_decode(cfg):
    codec = SoundStreamCodec(cfg.codec).eval()
    assert codec.frame_rate == 50 and codec.sample_rate == SR and codec.num_quantizers == 12
    audio = torch.randn(2, 12_345) * 0.1
    codes = codec.encode(audio)
    assert codes.shape == (2, 12, math.ceil(12_345 / 480))
    assert codes.min() >= 0 and codes.max() < codec.codebook_size
    assert torch.equal(codes, codec.encode(audio))  # deterministic
    for k in (1, 4, 12):
        assert codec.decode(codes[:, :k]).shape == (2, codes.shape[-1] * 480)


def test_codec_rejects_bad_audio(cfg):
    codec = SoundStreamCodec(cfg.codec).eval()
    with pytest.raises(ValueError, match="empty"):
        codec.encode(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(torch.full((1, 960), float("nan")))
    with pytest.raises(ValueError, match="lie in"):
        codec.decode(torch.full((1, 12, 3), 10_000))
    stereo = torch.randn(1, 2, 960)
    assert torch.equal(codec.encode(stereo), codec.encode(stereo.mean(1)))


def test_codec_stft_is_perfect_reconstruction(cfg):
    codec = SoundStreamCodec(cfg.codec)
    x = torch.randn(1, 4800)
    torch.testing.assert_close(codec.frames.istft(codec.frames.stft(x)), x, atol=1e-4, rtol=1e-4)


def test_melody_tokens_follow_a_hummed_line():
    tokenizer = MelodyTokenizer(preset("tiny").melody)
    notes = [261.63, 329.63, 392.00]  # C E G with vibrato and breath noise
    audio = torch.cat([tone(f, 0.5, vibrato=0.3) + 0.01 * torch.randn(SR // 2) for f in notes])
    tokens = tokenizer(audio)
    assert tokens.shape == (tokenizer.num_frames(audio.numel()),)
    for i, pc in enumerate((0, 4, 7)):
        part = tokens[i * 12 + 3: (i + 1) * 12 - 3]
        assert (part == pc).float().mean() > 0.8, tokenizer.describe(tokens)
    assert (tokenizer(torch.zeros(SR)) == UNVOICED).all()
    with pytest.raises(ValueError, match="too short"):
        tokenizer(torch.zeros(10))


def test_semantic_tokenizer_fit_and_tokenize(cfg):
    tok = SemanticTokenizer(cfg.semantic_tokenizer)
    audio = torch.cat([tone(220.0), tone(330.0), torch.randn(SR) * 0.1])[None]
    feats = tok.features(audio, standardize=False)[0]
    assert feats.shape == (75, cfg.semantic_tokenizer.feature_dim)
    tok.fit(feats, generator=torch.Generator().manual_seed(0))
    tokens = tok(audio)
    assert tokens.shape == (1, 75) and tokens.max() < tok.codebook_size
    # a pure tone and noise land on different tokens
    assert tokens[0, 30] != tokens[0, 60]


def test_semantic_onset_bands_and_weight(cfg):
    from dataclasses import replace

    config = replace(cfg.semantic_tokenizer, n_mels=32, onset_bands=3, onset_weight=3.0)
    tok = SemanticTokenizer(config)
    thump, hiss = torch.zeros(SR), torch.zeros(SR)
    thump[SR // 2: SR // 2 + 2400] = torch.sin(2 * torch.pi * 60 * torch.arange(2400) / SR)  # kick-like
    burst = torch.randn(2400, generator=torch.Generator().manual_seed(0))
    hiss[SR // 2: SR // 2 + 2400] = burst - torch.nn.functional.avg_pool1d(burst[None, None], 9, 1, 4)[0, 0]  # high-passed
    low, high = (tok.frame_features(x[None])[0, :, -3:].amax(0) for x in (thump, hiss))
    assert low[0] > low[2] and high[2] > high[0]  # the onset lands in the band of its sound
    assert config.feature_dim == (12 + config.n_mfcc + 3) * (2 * config.context + 1)
    raw = tok.features(thump[None], standardize=False)[0]
    tok.fit(raw, iters=2, generator=torch.Generator().manual_seed(0))
    z = (raw - tok.mean) / tok.std
    onset = torch.zeros(config.frame_dim, dtype=torch.bool)
    onset[-3:] = True
    onset = onset.repeat(2 * config.context + 1)
    weighted = tok.features(thump[None])[0]
    assert torch.allclose(weighted[:, onset], 3.0 * z[:, onset], atol=1e-5)
    assert torch.allclose(weighted[:, ~onset], z[:, ~onset], atol=1e-5)


def test_mulan_embeddings_are_unit_and_tokenize(cfg):
    from musiclm_studio.models.mulan import MuLan

    mulan = MuLan(cfg.mulan).eval()
    text = mulan.embed_text(["a fast rock song", "a slow sad piano"])
    audio = mulan.embed_audio(torch.randn(2, int(3.5 * SR)) * 0.1)  # longer than the 2 s window
    assert text.shape == audio.shape == (2, cfg.mulan.embed_dim)
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(2))
    mulan.quantizer.fit(torch.nn.functional.normalize(torch.randn(256, cfg.mulan.embed_dim), dim=-1))
    assert mulan.tokenize(text).shape == (2, 12)
    loss = mulan.contrastive_loss(audio, text)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="empty"):
        mulan.embed_text(["   "])


def test_mulan_chroma_hears_the_pitch_class(cfg):
    from musiclm_studio.models.mulan import AudioTower

    tower = AudioTower(cfg.mulan)
    t = torch.arange(SR) / SR
    for midi in (57, 60, 64, 71):  # A3, C4, E4, B4
        tone = torch.sin(2 * math.pi * 440 * 2 ** ((midi - 69) / 12) * t)
        chroma = tower.chroma(tower.power(tone[None]))[0, :, 5:-5]
        assert int(chroma.mean(1).argmax()) == midi % 12


def test_mulan_chroma_branch_starts_as_the_tower_without_it(cfg, tmp_path):
    from dataclasses import replace

    from musiclm_studio import hub
    from musiclm_studio.models.mulan import MuLan

    without = MuLan(replace(cfg.mulan, chroma=False)).eval()
    hub.save_component(str(tmp_path), without.config, without)
    grown = MuLan(cfg.mulan).eval()
    assert cfg.mulan.chroma and hub.load_matching(str(tmp_path), grown) == ["audio_tower.chroma_in.bias",
                                                                           "audio_tower.chroma_in.weight"]
    audio = torch.randn(2, SR) * 0.1
    torch.testing.assert_close(grown.embed_audio(audio), without.embed_audio(audio))


@pytest.mark.parametrize("stage", ["semantic_lm", "coarse_lm", "fine_lm"])
def test_stage_lm_shapes_cache_and_cfg(cfg, stage):
    from dataclasses import replace

    c = replace(getattr(cfg, stage), layout="delay")  # the fine levels in a delay pattern too
    lm = StageLM(c).eval()
    conds = {s.name: torch.randint(0, s.vocab_size, (2, s.num_levels, s.fixed_length or 40)) for s in c.conditions}
    tokens = torch.randint(0, c.vocab_size, (2, c.num_levels, 16))
    assert lm(tokens, conds).shape == (2, c.num_levels, 16 + c.num_levels - 1, c.vocab_size)
    assert torch.isfinite(lm.loss(tokens, conds))
    run = lambda **kw: lm.generate(conds, 16, batch_size=2, generator=torch.Generator().manual_seed(0), **kw)  # noqa: E731
    cached = run(guidance_scale=2.0)
    assert cached.shape == (2, c.num_levels, 16) and cached.max() < c.vocab_size
    assert torch.equal(cached, run(guidance_scale=2.0, use_cache=False))  # KV cache == full recompute
    assert torch.equal(run(guidance_scale=1.0), run(guidance_scale=1.0, use_cache=False))
    forced = run(prompt=cached[..., :5])
    assert torch.equal(forced[..., :5], cached[..., :5])
    # every row hears the same conditioning and clip (an edit's candidates): the prefill runs once per
    # guidance group, and sampling goes on exactly as when every row is run
    same = {name: value[:1].expand_as(value) for name, value in conds.items()}
    clip = cached[:1, :, :9].expand(2, -1, -1)
    shared = lambda **kw: lm.generate(same, 16, batch_size=2, prompt=clip,  # noqa: E731
                                      generator=torch.Generator().manual_seed(1), **kw)
    assert torch.equal(shared(guidance_scale=2.0), shared(guidance_scale=2.0, use_cache=False))


def test_levelwise_lm_makes_one_level_per_pass_from_the_levels_below(cfg):
    from dataclasses import replace

    from musiclm_studio.models.lm import LevelwiseLM, build_stage_lm

    c = cfg.fine_lm  # the presets make the fine levels one pass per level
    lm = build_stage_lm(c).eval()
    assert isinstance(lm, LevelwiseLM) and type(build_stage_lm(replace(c, layout="delay"))) is StageLM
    coarse = torch.randint(0, 64, (2, 4, 24))
    tokens = torch.randint(0, c.vocab_size, (2, c.num_levels, 24))
    level = torch.tensor([0, 3])
    logits = lm(tokens, {"coarse": coarse}, levels=level)
    assert logits.shape == (2, 24, c.vocab_size)
    # level q reads only levels below q: changing level 3 and above leaves row 1's logits alone,
    # changing level 2 moves them
    above, below = tokens.clone(), tokens.clone()
    above[:, 3:] = (above[:, 3:] + 1) % c.vocab_size
    below[:, 2] = (below[:, 2] + 1) % c.vocab_size
    torch.testing.assert_close(lm(above, {"coarse": coarse}, levels=level), logits)
    assert not torch.allclose(lm(below, {"coarse": coarse}, levels=level)[1], logits[1])
    # bidirectional: the last frame's conditioning reaches the first frame
    later = coarse.clone()
    later[..., -1] = (later[..., -1] + 1) % 64
    assert not torch.allclose(lm(tokens, {"coarse": later}, levels=level)[:, 0], logits[:, 0])
    # the evaluation loss averages every level, so it does not depend on a draw
    assert lm.loss(tokens, {"coarse": coarse}, condition_dropout=False) == lm.loss(tokens, {"coarse": coarse},
                                                                                   condition_dropout=False)
    out = lm.generate({"coarse": coarse}, 24, batch_size=2, prompt=tokens[..., :7],
                      generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, c.num_levels, 24) and out.max() < c.vocab_size
    assert torch.equal(out[..., :7], tokens[..., :7])  # the prompt's frames are kept at every level
    again = lm.generate({"coarse": coarse}, 24, batch_size=2, prompt=tokens[..., :7],
                        generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="unknown layout"):
        replace(cfg.fine_lm, layout="diagonal")


def test_mulan_tokens_are_embedded_through_the_code_vectors(cfg):
    from musiclm_studio.models.mulan import MuLan

    c = cfg.semantic_lm
    stream = next(s for s in c.conditions if s.name == "mulan")
    assert stream.codebook_dim == cfg.mulan.embed_dim and stream.broadcast
    mulan, lm = MuLan(cfg.mulan), StageLM(c).eval()
    lm.set_codebook("mulan", mulan.code_vectors())
    embedding = lm.conditions["mulan"]
    tokens = torch.randint(0, stream.vocab_size, (2, 1, stream.fixed_length))
    # position p of the prefix reads level p's code vector; the broadcast reads their sum
    vectors = mulan.code_vectors()[torch.arange(stream.fixed_length), tokens[:, 0]]
    expect = embedding.project(vectors) + embedding.positions.weight[None]
    assert torch.allclose(embedding(tokens, None, 2, stream.fixed_length), expect, atol=1e-6)
    assert torch.allclose(embedding.pooled(tokens, None, 2), embedding.broadcast(vectors.sum(1)), atol=1e-6)
    # one code changed at the last level moves the broadcast vector; dropped rows read the null
    other = tokens.clone()
    other[:, 0, -1] = (other[:, 0, -1] + 1) % stream.vocab_size
    assert not torch.allclose(embedding.pooled(tokens, None, 2), embedding.pooled(other, None, 2))
    dropped = embedding.pooled(tokens, torch.tensor([True, False]), 2)
    assert torch.equal(dropped[0], embedding.broadcast_null) and torch.allclose(dropped[1], expect.new_tensor(
        embedding.broadcast(vectors.sum(1))[1]))
    # training noise only while training
    embedding.train()
    assert not torch.allclose(embedding.pooled(tokens, None, 2), embedding.pooled(tokens, None, 2))
    with pytest.raises(ValueError, match="different quantizer"):
        lm.set_codebook("mulan", torch.zeros(3, 4, 5))


def test_condition_stream_options_are_checked():
    from musiclm_studio.config import ConditionStream

    with pytest.raises(ValueError, match="prefix stream of fixed length"):
        ConditionStream("semantic", 32, mode="aligned", codebook_dim=16)
    with pytest.raises(ValueError, match="prefix stream of fixed length"):
        ConditionStream("attributes", 32, broadcast=True)


def test_a_stream_of_free_tokens_broadcasts_the_sum_of_its_rows_to_every_step():
    from musiclm_studio.config import ConditionStream
    from musiclm_studio.models.lm import ConditionEmbedding

    embedding = ConditionEmbedding(ConditionStream("attributes", 10, fixed_length=4, broadcast=True), 8)
    tokens = torch.tensor([[[0, 3, 5, 9]], [[1, 3, 5, 9]]])
    pooled = embedding.pooled(tokens, torch.tensor([False, True]), 2)
    assert torch.allclose(pooled[0], embedding.broadcast_tokens.weight[[0, 3, 5, 9]].sum(0))
    assert torch.equal(pooled[1], embedding.broadcast_null)  # dropped: the null vector
    assert embedding(tokens, None, 2, 4).shape == (2, 4, 8)  # and the four prefix positions
