"""MuLan's descriptor score: the key and tempo a prompt states, matched against what the analysers hear."""

import math

import numpy as np
import pytest
import torch

from musiclm_studio import analysis
from musiclm_studio.eval.synth import cadence
from musiclm_studio.models.descriptors import (FACT_DIM, FACT_TEMPI, AudioFacts, DescriptorWeights, agreement,
                                               choose_weights, fact_vectors, fit_key_profiles, key_agreement, key_logits,
                                               read_audio, read_texts, tempo_agreement)

SR = 24_000
WEIGHTS = DescriptorWeights(key=0.1, tempo=0.3)


def test_texts_state_keys_spelt_any_way_and_tempi_as_numbers_or_words():
    facts = read_texts(["a waltz in B flat major at 94 bpm", "a slow, sad tune in minor", "an ambient pad",
                        "bossa nova in the key of f# minor, 120 beats per minute"])
    assert facts.key_mask[0].tolist() == [float(i == 10) for i in range(24)]  # major Bb only
    assert facts.key_mask[1, 12:].tolist() == [1.0] * 12 and not facts.key_mask[1, :12].any()  # any minor key
    assert not facts.key_mask[2].any() and math.isnan(facts.tempo_centre[2])
    assert facts.key_mask[3, 12 + 6] == 1 and facts.key_mask[3].sum() == 1
    bpm = np.exp(facts.tempo_centre)
    assert bpm[0] == pytest.approx(94) and bpm[3] == pytest.approx(120)
    band = np.exp(facts.tempo_centre[1] + np.array([-1, 1]) * facts.tempo_halfwidth[1])
    assert band.tolist() == pytest.approx([62, 84])  # the prompt reader's band for 'slow'


def test_fact_vectors_put_the_stated_key_and_tempo_where_a_network_can_read_them():
    vectors = fact_vectors(read_texts(["a waltz in B flat major at 94 bpm", "a slow, sad tune in minor",
                                       "an ambient pad", "a tune at 200 bpm"]))
    assert vectors.shape == (4, FACT_DIM)
    key, tempo = vectors[:, :24], vectors[:, 24:]
    assert key[0].argmax() == 10 and key[0].sum() == pytest.approx(1)  # Bb major alone
    assert key[1, 12:].tolist() == pytest.approx([1 / 12] * 12) and not key[1, :12].any()  # a minor key, any tonic
    assert not vectors[2].any()  # nothing stated: nothing read
    assert tempo[0].sum() == pytest.approx(1) and tempo[3].sum() == pytest.approx(1)
    assert FACT_TEMPI[tempo[0].argmax()] == pytest.approx(94, rel=0.08)
    assert FACT_TEMPI[tempo[3].argmax()] == pytest.approx(200, rel=0.08)
    slow = FACT_TEMPI[tempo[1] > 0.1]  # the prompt reader's band for 'slow': 62-84 bpm
    assert slow.min() > 50 and slow.max() < 100


def test_each_prompt_scores_its_own_key_and_tempo_highest():
    clips = [cadence(0, "major", bpm=120), cadence(9, "minor", bpm=80), cadence(7, "major", bpm=150)]
    heard = read_audio(clips, SR)
    assert heard.tempo[0] == pytest.approx(120, rel=0.08) and heard.tempo[1] == pytest.approx(80, rel=0.08)
    texts = ["a cheerful tune in C major at 120 bpm", "an A minor lament, 80 bpm", "G major, fast, 150 bpm"]
    score = agreement(read_texts(texts), heard, WEIGHTS)
    assert score.shape == (3, 3)
    assert (score.argmax(1) == torch.arange(3)).all(), score
    # each half alone tells the clips apart too
    assert (torch.from_numpy(key_agreement(read_texts(texts), heard)).argmax(1) == torch.arange(3)).all()
    assert (torch.from_numpy(tempo_agreement(read_texts(texts), heard)).argmax(1) == torch.arange(3)).all()


def test_a_prompt_stating_neither_leaves_the_ranking_to_the_cosine():
    heard = AudioFacts(key_logits=np.random.default_rng(0).normal(size=(4, 24)), tempo=np.array([90.0, 120, 0, 60]))
    score = agreement(read_texts(["lush strings and a harp", "drums in 120 bpm"]), heard, WEIGHTS)
    assert torch.equal(score[0], torch.zeros(4))
    assert score[1, 1] > score[1, 0] and score[1, 2] == 0  # a silent clip has no tempo to match
    assert score[1, 3] == pytest.approx(WEIGHTS.tempo * 0.5)  # half time earns half
    off = agreement(read_texts(["in C major at 120 bpm"]), heard, DescriptorWeights(0, 0))
    assert torch.equal(off, torch.zeros(1, 4))


def test_mulan_similarity_adds_the_descriptor_score_to_the_cosine(tiny_pipe):
    mulan = tiny_pipe.components.mulan
    clips = torch.from_numpy(np.stack([cadence(0, "major", bpm=120), cadence(9, "minor", bpm=80)]))
    texts = ["a tune in C major at 120 bpm", "an A minor lament, 80 bpm"]
    cosine = mulan.similarity(texts, clips, descriptors=False)
    assert torch.allclose(cosine, mulan.embed_text(texts) @ mulan.embed_audio(clips).T)
    both = mulan.similarity(texts, clips)
    assert not mulan.descriptor_weights.off
    assert torch.allclose(both - cosine, agreement(read_texts(texts), read_audio(clips, SR), mulan.descriptor_weights),
                          atol=1e-6)
    assert (both.argmax(1) == torch.arange(2)).all()  # the untrained tiny MuLan alone ranks both the other way
    assert mulan.similarity("an A minor lament, 80 bpm", clips[1]).shape == (1, 1)


def test_key_profiles_fitted_on_some_keys_read_the_others():
    fit_keys = [(0, "major"), (9, "minor"), (7, "major"), (4, "minor"), (5, "major"), (2, "minor")]
    other_keys = [(2, "major"), (11, "minor"), (10, "major")]

    def chroma(keys):
        profiles = [analysis.chroma_profiles(cadence(tonic, mode, 4.8, bpm=100), SR) for tonic, mode in keys]
        index = np.array([(mode == "minor") * 12 + tonic for tonic, mode in keys])
        return np.array([t for t, _ in profiles]), np.array([b for _, b in profiles]), index

    treble, bass, truth = chroma(fit_keys)
    profiles = fit_key_profiles(treble, bass, truth, steps=300)
    assert set(profiles) == {"treble", "bass", "bias"} and np.shape(profiles["treble"]) == (2, 12)
    treble, bass, truth = chroma(other_keys)  # keys it never saw: the profiles are rolled onto every tonic
    assert key_logits(treble, bass, profiles).argmax(1).tolist() == truth.tolist()
    with pytest.raises(ValueError, match="one key index"):
        fit_key_profiles(treble, bass, np.array([0, 24, 3]))


def test_weights_are_picked_where_the_descriptors_help_and_left_off_where_the_cosine_knows():
    texts = read_texts([f"a tune in {name} at {bpm} bpm" for name, bpm in (("C major", 90), ("A minor", 120),
                                                                              ("G major", 150), ("E minor", 70))])
    logits = np.full((4, 24), -5.0)
    logits[[0, 1, 2, 3], [0, 12 + 9, 7, 12 + 4]] = 5.0  # each clip plays the key its own text states
    heard = AudioFacts(logits, np.array([90.0, 120.0, 150.0, 70.0]))
    confused = torch.tensor([[0.5, 0.6, 0.2, 0.1]] * 4)  # a cosine that ranks clip 1 first for every text
    weights, measures = choose_weights(confused, texts, heard)
    assert not weights.off and measures["MRR"] == 1.0 and measures["cosine MRR"] < 1.0
    weights, measures = choose_weights(torch.eye(4), texts, heard)  # a cosine that already knows
    assert weights.off and measures["MRR"] == measures["cosine MRR"] == 1.0
