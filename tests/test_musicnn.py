"""The musicnn taggers in torch, and MuLan's branch of them."""

import numpy as np
import pytest
import torch

from musiclm_studio.eval.synth import drum_loop, realistic_hum
from musiclm_studio.models.musicnn import MTT_TAGS, Musicnn

# TensorFlow's logits (musicnn 0.1.0, its own graph and checkpoints, run by scripts/convert_musicnn.py's
# tensorflow_reference) for one patch drawn by np.random.default_rng(0).uniform(0, 3, (1, 187, 96))
TENSORFLOW = {"MTT": ([-8.484, -5.118, -6.49, -1.636, -3.889, -2.146, -2.618, -6.774], [8, 3, 5, 6, 45]),
              "MSD": ([-2.63, -4.049, -3.581, -7.13, -2.968, -6.079, -3.668, -4.899], [11, 0, 21, 4, 30])}


@pytest.fixture(scope="module")
def taggers():
    return {name: Musicnn.pretrained(name) for name in TENSORFLOW}


@pytest.mark.parametrize("name", sorted(TENSORFLOW))
def test_the_converted_taggers_give_tensorflows_logits(taggers, name):
    patch = torch.tensor(np.random.default_rng(0).uniform(0, 3, (1, 187, 96)), dtype=torch.float32)
    with torch.no_grad():
        logits = taggers[name].head(Musicnn.pool(taggers[name].frames(patch)))[0][0]
    first, top = TENSORFLOW[name]
    torch.testing.assert_close(logits[:8], torch.tensor(first), atol=2e-3, rtol=0)
    assert logits.argsort(descending=True)[:5].tolist() == top


def test_the_tagger_hears_drums_and_a_breathy_voice_apart(taggers):
    drums = torch.tensor(drum_loop(seconds=4.0), dtype=torch.float32)
    hum = torch.tensor(realistic_hum(seconds=4.0), dtype=torch.float32)
    with torch.no_grad():
        tags = taggers["MTT"].tags(torch.stack([drums, hum]))
    drum, flute = MTT_TAGS.index("drums"), MTT_TAGS.index("flute")
    assert tags[0, drum] > 2 * tags[1, drum] and tags[1, flute] > 4 * tags[0, flute]
    assert tags.shape == (2, 50) and ((0 < tags) & (tags < 1)).all()


def test_segments_pool_back_to_the_whole_clip(taggers):
    tagger = taggers["MSD"]
    audio = torch.tensor(drum_loop(seconds=3.0, seed=2), dtype=torch.float32)[None]
    with torch.no_grad():
        whole = tagger(audio)
        maxes, means = tagger.segments(audio, 12_000)
    assert maxes.shape == means.shape == (1, 6, 753)
    combined = Musicnn.combine(maxes, means)
    torch.testing.assert_close(combined[:, 0::2], whole[:, 0::2])  # the max over segments is the max over frames
    assert (combined[:, 1::2] - whole[:, 1::2]).abs().max() < 0.02  # the mean weighs segments of 31 or 32 frames alike


def test_unknown_or_missing_taggers_say_what_to_do(tmp_path):
    from musiclm_studio.config import preset
    from musiclm_studio.models.mulan import MuLan

    with pytest.raises(ValueError, match="MTT, MSD"):
        Musicnn.pretrained("VGG")
    with pytest.raises(ValueError, match="MTT or MSD"):
        MuLan(type(preset("tiny").mulan)(**{**preset("tiny").mulan.__dict__, "musicnn": "MTT+VGG"}))
    with pytest.raises(FileNotFoundError, match="convert_musicnn.py"):
        Musicnn.pretrained("MTT", folder=str(tmp_path))


def test_mulan_with_the_branch_trains_caches_and_reloads(tmp_path):
    from musiclm_studio.components import load_trained
    from musiclm_studio.config import preset
    from musiclm_studio.eval.synth import hummed_melody
    from musiclm_studio.models.mulan import MuLan
    from musiclm_studio.train.mulan import MuLanRunConfig, TagSegments, train_mulan
    from conftest import write_corpus

    clips = []
    for i in range(8):
        hum = i % 2 == 0
        audio = hummed_melody(seed=i)[: 48_000] if hum else drum_loop(seconds=2, seed=i, bpm=90 + i)
        clips.append((f"{i:03d}.wav", audio, {"caption": "a hummed tune" if hum else "a drum loop",
                                              "split": "valid" if i >= 6 else "train"}))
    corpus = write_corpus(tmp_path / "corpus", clips)
    run = MuLanRunConfig(out=str(tmp_path / "run"), data=str(corpus), preset="tiny", steps=2, batch_size=4, crop_s=1.0,
                         log_every=2, save_every=100, warmup=1, rvq_crops=1, musicnn="MTT+MSD")
    trained = train_mulan(run).eval()
    tower = trained.audio_tower
    assert (tmp_path / "run" / "musicnn_segments.safetensors").is_file()
    assert tower.tag_std.shape == (2 * 1506,) and not torch.equal(tower.tag_std, torch.ones(2 * 1506))
    audio = torch.stack([torch.tensor(c[1][:48_000], dtype=torch.float32) for c in clips[:2]])
    with torch.no_grad():
        live = trained.embed_audio(audio)
        given = trained.embed_audio(audio, tower.tag_features(audio))
        plain = MuLan(preset("tiny").mulan).eval()
        plain.load_state_dict(trained.state_dict(), strict=False)
    torch.testing.assert_close(live, given)
    assert (plain.embed_audio(audio) - live).abs().max() > 1e-3  # the branch weighs in
    reloaded = load_trained("mulan", str(tmp_path / "run" / "last")).eval()
    assert reloaded.config.musicnn == "MTT+MSD"
    with torch.no_grad():
        torch.testing.assert_close(reloaded.embed_audio(audio), live)
    # a clip longer than a window: the taggers run once over it, and each window pools its own segments
    long = torch.tensor(np.concatenate([drum_loop(seconds=2.5, seed=9, bpm=100), hummed_melody(seed=9)[:60_000]]),
                        dtype=torch.float32)[None]
    window, stride = int(trained.config.window_s * 24_000), int(trained.config.stride_s * 24_000)
    with torch.no_grad():
        windowed = trained.embed_audio(long)
        features = tower.tag_windows(long, window, stride)[0]
    assert windowed.shape == (1, trained.config.embed_dim) and torch.isclose(windowed.norm(), torch.tensor(1.0))
    as_trained = TagSegments(tower, [long[0]], 24_000)  # a window is heard as a training crop at its start was
    crops = torch.stack([as_trained.crop(0, s, window) for s in range(0, long.shape[-1] - window + 1, stride)])
    assert features.shape == crops.shape == (4, 2 * 1506)
    torch.testing.assert_close(features[:, 0::2], crops[:, 0::2], atol=0.01, rtol=0.01)  # maxes: fp16 cache
    # means: of 1-s segments here, of 0.5-s ones (31 or 32 frames, weighed alike) there
    torch.testing.assert_close(features[:, 1::2], crops[:, 1::2], atol=0.02, rtol=0.03)
    train_mulan(MuLanRunConfig(**{**run.__dict__, "steps": 3}))  # resumes: the cached features are reused


def test_a_mulan_ensemble_hears_with_one_pass_of_shared_taggers():
    from musiclm_studio.config import preset
    from musiclm_studio.models.mulan import MuLan, MuLanEnsemble

    configs = [type(preset("tiny").mulan)(**{**preset("tiny").mulan.__dict__, "musicnn": "MTT"}) for _ in range(2)]
    members = []
    for seed, config in enumerate(configs):
        torch.manual_seed(seed)
        member = MuLan(config).eval()
        member.audio_tower.load_taggers()
        members.append(member)
    joined = type(configs[0])(**{**configs[0].__dict__, "musicnn": "", "embed_dim": 2 * configs[0].embed_dim,
                                 "members": configs})
    ensemble = MuLanEnsemble(joined).eval()
    for mine, member in zip(ensemble.members, members):
        mine.load_state_dict(member.state_dict(), strict=False)
    assert ensemble.members[1].audio_tower.taggers is None  # the first member's taggers hear for both
    assert not any(k.startswith("members.1.audio_tower.taggers") for k in ensemble.state_dict())
    short = torch.tensor(drum_loop(seconds=1.5, seed=2, bpm=120), dtype=torch.float32)[None]
    long = torch.tensor(np.concatenate([drum_loop(seconds=2.5, seed=9, bpm=100), realistic_hum(seed=9)[:36_000]]),
                        dtype=torch.float32)[None]
    assert long.shape[-1] > configs[0].window_s * 24_000  # windowed
    with torch.no_grad():
        for audio in (short, long):
            alone = torch.cat([m.embed_audio(audio) for m in members], -1) / 2 ** 0.5
            torch.testing.assert_close(ensemble.embed_audio(audio), alone, atol=1e-5, rtol=1e-4)
