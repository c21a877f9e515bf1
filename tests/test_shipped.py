"""The shipped default pipeline end to end: real 24 kHz audio, sane token streams, trained parts.

These tests load ``assets/musiclm-small`` exactly as ``MusicLMPipeline.from_pretrained()`` does
for a user (offline), so CI exercises the model that ships.
"""

import pytest
import torch

from musiclm_studio import hub
from musiclm_studio.eval.codec import Distances
from musiclm_studio.eval.synth import hummed_melody, karplus_strong

SR = 24_000


def test_default_generates_real_audio_with_sane_token_streams(default_pipe):
    out = default_pipe("a calm acoustic folk song with a gentle guitar, slow", duration_s=2.0, seed=0)
    assert out.sample_rate == SR and out.audio.shape == (2 * SR,)
    assert torch.isfinite(out.audio).all() and 1e-3 < out.audio.abs().max() <= 1.0
    t = out.tokens
    assert t.mulan.shape == (1, 12) and t.semantic.shape == (1, 50)
    assert t.coarse.shape == (1, 4, 100) and t.fine.shape == (1, 8, 100)
    for stream, vocab in ((t.mulan, 1024), (t.semantic, 1024), (t.coarse, 1024), (t.fine, 1024)):
        assert stream.min() >= 0 and stream.max() < vocab
    assert len(set(t.coarse[0, 0].tolist())) > 5  # not one repeated code
    assert out.timings["total"] > 0 and isinstance(out.mulan_score, float)
    # by default the shipped model samples 4 candidates and its attribute critic keeps one before
    # the fine stage (only the kept one is decoded and scored by MuLan)
    assert default_pipe.config.num_candidates == 4
    assert out.chosen_by == "critic" and len(out.scores) == 4 and out.candidates.coarse.shape == (4, 4, 100)
    assert torch.equal(out.tokens.coarse[0], out.candidates.coarse[out.chosen]) and out.candidates.fine is None
    one = default_pipe("a fast rock song with loud drums", duration_s=2.0, seed=0, num_candidates=1)
    assert one.chosen_by == "only candidate" and one.tokens.fine.shape == (1, 8, 100)  # one candidate: nothing to choose


def test_shipped_critic_reads_what_a_prompt_asks_and_hears_drums():
    """The attribute reader reads drums / no drums and a tempo word; the critic tells the codec
    tokens of a drum loop from those of a hummed melody (synthetic audio it never trained on)."""
    from musiclm_studio.components import load_trained
    from musiclm_studio.eval.synth import drum_loop
    from musiclm_studio.pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained(int8=False)
    critic, reader, mulan = pipe.components.critic, pipe.components.attribute_reader, pipe.components.mulan
    assert critic is not None and critic.config == load_trained("critic").config
    assert reader is not None and reader.config == load_trained("attribute_reader").config
    asked = reader.text_logits(mulan.text_features(["a rock song with loud drums, fast tempo",
                                                    "a slow solo piano piece with no drums"]))
    drums = asked["drums"].softmax(-1)[:, 1]
    assert drums[0] > 0.5 > drums[1], drums
    bpm = critic.bin_bpms()
    tempo = asked["tempo"].softmax(-1)[:, :-1]
    assert (tempo[0] * bpm).sum() / tempo[0].sum() > (tempo[1] * bpm).sum() / tempo[1].sum()
    loop = pipe.tokenize_audio(torch.from_numpy(drum_loop(seconds=4)), SR).coarse
    hum = pipe.tokenize_audio(torch.from_numpy(hummed_melody()[: 4 * SR]), SR).coarse
    with torch.no_grad():
        heard = critic.audio_logits(torch.cat([loop, hum]))["drums"].softmax(-1)[:, 1]
    assert heard[0] > heard[1], heard


def test_default_is_honest_about_what_is_trained(default_pipe):
    index = hub.read_json(f"{hub.DEFAULT_PIPELINE}/pipeline.json")
    assert set(default_pipe.untrained_components) == set(index["untrained"])
    out = default_pipe("techno", duration_s=1.0, seed=1)
    if default_pipe.untrained_components:
        assert any("untrained" in n.lower() for n in out.notices)
    else:
        assert not any("untrained" in n.lower() for n in out.notices)


@pytest.fixture
def shipped_codec():
    """The shipped codec; skipped where it is untrained (nothing trained to measure)."""
    from musiclm_studio.eval.codec_cli import load_codec

    if "codec" in hub.read_json(f"{hub.DEFAULT_PIPELINE}/pipeline.json")["untrained"]:
        pytest.skip("the shipped codec is untrained: there is no trained reconstruction to measure")
    return load_codec(None)


@pytest.mark.slow
def test_shipped_codec_reconstructs_music_it_never_saw(shipped_codec):
    """The trained codec (12 levels) is far closer to the input than an untrained one.
    Slow: its 0.5x / 0.6x mel-distance margins were measured on one CPU's kernels."""
    from musiclm_studio.config import CodecConfig
    from musiclm_studio.models.codec import SoundStreamCodec

    clip = torch.from_numpy(karplus_strong()[: 2 * SR])
    trained = shipped_codec
    torch.manual_seed(0)
    untrained = SoundStreamCodec(CodecConfig()).eval()
    distance = Distances(SR)
    ours = distance(trained.decode(trained.encode(clip[None]))[0], clip)["mel"]
    baseline = distance(untrained.decode(untrained.encode(clip[None]))[0], clip)["mel"]
    coarse_only = distance(trained.decode(trained.encode(clip[None], num_levels=4))[0], clip)["mel"]
    assert ours < 0.5 * baseline and ours <= coarse_only < 0.6 * baseline, (ours, coarse_only, baseline)


def test_shipped_decoder_leaves_no_frame_rate_buzz(shipped_codec):
    """The decoder before session 43 put about half of a hummed tune's decoded energy within 1 Hz of a
    multiple of 50 Hz (the frame rate; the tune itself 0.07, the retrained decoder 0.07)."""
    from musiclm_studio.eval.codec import comb_share

    clip = torch.from_numpy(hummed_melody()[: 2 * SR])
    codec = shipped_codec
    with torch.no_grad():
        decoded = codec.decode(codec.encode(clip[None]))[0].numpy()
    assert comb_share(decoded, SR, codec.frame_rate) < 0.2


@pytest.mark.slow
def test_no_drums_prompt_is_measurably_less_percussive_than_a_drum_heavy_one(default_pipe):
    """The trained LMs follow the prompt: HPSS percussive share, averaged over seeds.
    Slow: the 0.8 share ratio was measured on one CPU's int8 kernels (and it generates 60 s of audio)."""
    import numpy as np

    from musiclm_studio.analysis import percussive_ratio

    if {"semantic_lm", "coarse_lm"} & set(default_pipe.untrained_components):
        pytest.skip("the shipped LMs are untrained")
    drums = "energetic rock song with electric guitar and a driving rock drum beat, 140 bpm"
    calm = "calm ambient piece with a soft string pad, no drums, no percussion"

    def share(prompt):
        # 10 s: the LMs' training window (4-s clips of the calm prompt read 0.059, noisier)
        return np.mean([percussive_ratio(default_pipe(prompt, duration_s=10.0, seed=s).audio, SR) for s in range(3)])

    with_drums, without = share(drums), share(calm)
    # measured on the shipped model (4 candidates, the critic keeping one): 0.016 vs 0.064 (ratio 0.26);
    # real corpus clips 0.025 vs 0.101
    assert without < 0.8 * with_drums, (without, with_drums)


@pytest.mark.slow
def test_shipped_lms_play_on_the_beat_grid_of_the_asked_tempo(default_pipe):
    """The shipped semantic and coarse LMs hear a beat grid: a bpm stated in the prompt or passed as
    ``bpm`` is laid as it is, and the audio's tempo (read as ``eval`` does) moves with it.
    Slow: the tempi read at 80 / 120 bpm were measured on one CPU's int8 kernels (and it generates 60 s)."""
    import numpy as np

    from musiclm_studio.analysis import estimate_tempo, tempo_agrees

    for lm in (default_pipe.components.semantic_lm, default_pipe.components.coarse_lm):
        assert "beat" in lm.conditions
    prompt = "energetic funk groove with slap bass and a tight drum beat"
    assert default_pipe.asked(default_pipe.encode_conditioning(f"{prompt}, 96 BPM"))[0]["tempo"] == 96
    read = {bpm: np.median([estimate_tempo(default_pipe(prompt, duration_s=10.0, seed=s, bpm=bpm).audio, SR)
                            for s in range(3)]) for bpm in (80, 120)}
    # measured on the shipped model (session 15): 165.4 (double time) and 122.3 bpm in all 3 seeds; over
    # 200 test captions the asked tempo is followed in 0.848 of prompts, real clips 0.808. As eval reads
    # it (half / double allowed), each agrees with its own grid and not the other's (1.5x apart).
    assert tempo_agrees(read[80], 80) and tempo_agrees(read[120], 120), read
    assert not tempo_agrees(read[80], 120) and not tempo_agrees(read[120], 80), read


@pytest.mark.slow
def test_shipped_lms_play_in_the_key_asked(default_pipe):
    """The shipped semantic and coarse LMs hear a key: one the prompt names (or ``key=``) is laid as
    it is, and the audio's pitch classes lean to it (read as ``eval`` reads a key).
    Slow: the 0.5 key-lean margin was measured on one CPU's int8 kernels (and it generates 48 s)."""
    import numpy as np

    from musiclm_studio.analysis import chroma_profiles, key_scores

    for lm in (default_pipe.components.semantic_lm, default_pipe.components.coarse_lm):
        assert "key" in lm.conditions
    prompt = "a gentle piano piece with soft strings"
    assert default_pipe.asked(default_pipe.encode_conditioning(f"{prompt}, in F# minor"))[0]["key"] == "F# minor"

    def lean(key: str) -> float:  # how much better C major fits the audio than F# major does, over 3 seeds
        fits = []
        for seed in range(3):
            scores = key_scores(chroma_profiles(default_pipe(prompt, duration_s=8.0, seed=seed, key=key).audio, SR)[0])[2]
            fits.append(scores[0, 0] - scores[0, 6])
        return float(np.mean(fits))

    # measured on the shipped model (session 15): 0.79 when asked for C major, -0.49 for F# major
    toward_c, toward_f_sharp = lean("C major"), lean("F# major")
    assert toward_c > toward_f_sharp + 0.5, (toward_c, toward_f_sharp)


def test_shipped_pipeline_tells_the_lms_the_tempo_and_mode_the_words_say(default_pipe):
    """What 'Heard in the prompt' shows (and the beat grid is laid from) follows the tempo words,
    not the genre's typical tempo: before the prompt reader these prompts were read as 156-200 bpm."""
    def asked(prompt: str) -> dict:
        return default_pipe.asked(default_pipe.encode_conditioning(prompt))[0]

    for prompt in ("A mellow jazz trio with brushed drums, upright bass and a warm piano, slow",
                   "a slow jazz ballad with piano", "a relaxed bossa nova, slow tempo", "a slow rock"):
        assert asked(prompt)["tempo"] <= 95, (prompt, asked(prompt))
    for prompt in ("a fast ambient piece", "an upbeat lo-fi beat", "a classical piece, allegro"):
        assert asked(prompt)["tempo"] >= 120, (prompt, asked(prompt))
    assert asked("a slow rock song at 140 bpm")["tempo"] == 140  # a number beats a word
    assert asked("a happy pop song")["mode"] == "major" and asked("a sad piano piece")["mode"] == "minor"


def test_shipped_outputs_for_a_fixed_seed_stay_bit_identical(default_pipe):
    """Refactors of the pipeline leave the shipped model's fixed-seed outputs bit-identical on every
    route (plain, one candidate, bpm and key, story, continuation, stream, melody): digests of the
    audio and every token stream, recorded by ``tests/reference_outputs.py``. Float kernels differ
    between CPU instruction sets and torch versions, so the digests hold where they were recorded."""
    import json

    from reference_outputs import PATH, environment, routes

    recorded = json.loads(open(PATH).read())
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        if environment() != recorded["environment"]:
            pytest.skip(f"digests recorded on {recorded['environment']}; this is {environment()}")
        assert routes(default_pipe) == recorded["digests"]
    finally:
        torch.set_num_threads(threads)
