"""The pipeline through its public API on the tiny preset: determinism, saving, long and
story generation, continuation, melody, candidates, progress events and bad input."""

import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from musiclm_studio.windowing import window_plan
from musiclm_studio.pipeline import MusicLMPipeline

SR = 24_000


def run(pipe, prompt="a calm piano piece, slow", **kw):
    kw.setdefault("duration_s", 2.0)
    kw.setdefault("seed", 0)
    return pipe(prompt, **kw)


def hum(seconds=1.0, sr=SR, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * 220 * t + 0.3 * np.sin(2 * np.pi * 5 * t))
    return np.stack([y] * channels, 1).astype(np.float32) if channels > 1 else y.astype(np.float32)


def test_output_is_audio_with_sane_token_streams(tiny_pipe):
    out = run(tiny_pipe)
    assert out.sample_rate == SR and out.audio.shape == (2 * SR,) and out.audio.dtype == torch.float32
    assert torch.isfinite(out.audio).all() and out.audio.abs().max() <= 1.0
    t = out.tokens
    assert t.mulan.shape == (1, 12) and t.semantic.shape == (1, 50)
    assert t.coarse.shape == (1, 4, 100) and t.fine.shape == (1, 8, 100)
    cfg = tiny_pipe.config
    assert t.semantic.max() < cfg.semantic_tokenizer.codebook_size and t.coarse.max() < cfg.codec.codebook_size
    assert set(out.timings) == {*tiny_pipe.stages, "critic", "total"} and out.seed == 0  # the same keys on every route


def test_same_seed_same_output_and_different_seed_differs(tiny_pipe):
    a, b, c = run(tiny_pipe), run(tiny_pipe), run(tiny_pipe, seed=1)
    assert torch.equal(a.tokens.fine, b.tokens.fine) and torch.equal(a.audio, b.audio)
    assert not torch.equal(a.tokens.semantic, c.tokens.semantic)
    g = run(tiny_pipe, seed=None, generator=torch.Generator().manual_seed(0))
    assert torch.equal(g.tokens.coarse, a.tokens.coarse)


@pytest.mark.parametrize("placeholder", [False, True])
def test_save_and_load_give_identical_outputs(tiny_pipe, tmp_path, placeholder):
    tiny_pipe.save_pretrained(tmp_path, placeholder_seed=0 if placeholder else None)
    has_weights = os.path.exists(tmp_path / "codec" / "model.safetensors")
    assert has_weights != placeholder
    loaded = MusicLMPipeline.from_pretrained(str(tmp_path), int8=False)
    loaded.show_progress = False
    assert torch.equal(run(loaded).audio, run(tiny_pipe).audio)
    assert not any(f.endswith((".pt", ".pkl", ".bin")) for _, _, files in os.walk(tmp_path) for f in files)


def test_int8_lms_on_a_cpu_stay_close_to_float_and_save_as_float(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path / "p")
    exact = MusicLMPipeline.from_pretrained(str(tmp_path / "p"), int8=False)
    fast = MusicLMPipeline.from_pretrained(str(tmp_path / "p"))  # on a CPU: int8 by default
    assert fast.int8 and not exact.int8
    assert fast.components.fine_lm.head[0].weight().dtype == torch.qint8  # one head per fine level
    coarse = torch.randint(0, 64, (2, 4, 30), generator=torch.Generator().manual_seed(0))
    fine = torch.randint(0, 64, (2, 8, 30), generator=torch.Generator().manual_seed(1))
    levels = torch.tensor([2, 5])
    with torch.no_grad():
        a, b = (p.components.fine_lm(fine, {"coarse": coarse}, levels=levels) for p in (exact, fast))
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.9
    fast.show_progress = False
    out = fast("a calm piano piece", duration_s=1.0, seed=0)
    assert out.audio.shape == (SR,) and torch.isfinite(out.audio).all()
    fast.save_pretrained(tmp_path / "q")  # writes the float weights it was quantized from
    again = MusicLMPipeline.from_pretrained(str(tmp_path / "q"), int8=False)
    for a, b in zip(exact.components.fine_lm.state_dict().values(), again.components.fine_lm.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="GPU"):
        fast.to("cuda")  # refused before anything moves (no GPU needed for the check)


def test_broken_checkpoints_give_clear_errors(tiny_pipe, tmp_path):
    with pytest.raises(ValueError, match="No pipeline"):
        MusicLMPipeline.from_pretrained(str(tmp_path / "missing"))
    tiny_pipe.save_pretrained(tmp_path)
    (tmp_path / "codec" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt"):
        MusicLMPipeline.from_pretrained(str(tmp_path))
    (tmp_path / "pipeline.json").write_text("{ broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        MusicLMPipeline.from_pretrained(str(tmp_path))


def test_lms_must_share_the_pipelines_mulan_quantizer(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    from musiclm_studio import hub

    pipe = MusicLMPipeline.from_config("tiny", seed=0)
    pipe.save_pretrained(tmp_path)
    loaded = MusicLMPipeline.from_pretrained(str(tmp_path), int8=False)  # built together: the code vectors agree
    # the LMs save no copy of MuLan's code vectors: they read the pipeline MuLan's on loading
    weights = tmp_path / "semantic_lm" / "model.safetensors"
    assert not any("codebook" in name for name in load_file(weights))
    assert torch.equal(loaded.components.semantic_lm.conditions["mulan"].codebook,
                       loaded.components.mulan.code_vectors())
    # weights saved before that carry the copy, and their config no fingerprint: they load, and are checked
    old = load_file(weights) | {"conditions.mulan.codebook": pipe.components.mulan.code_vectors().clone()}
    save_file(old, weights)
    config = json.loads((tmp_path / "semantic_lm" / "config.json").read_text())
    for stream in config["conditions"]:
        stream.pop("codebook_fingerprint")
    (tmp_path / "semantic_lm" / "config.json").write_text(json.dumps(config))
    MusicLMPipeline.from_pretrained(str(tmp_path))
    with torch.no_grad():
        pipe.components.mulan.quantizer.levels[0].codebook.add_(0.5)  # a re-fitted MuLan RVQ
    hub.save_component(str(tmp_path / "mulan"), pipe.config.mulan, pipe.components.mulan)  # beside the old LM
    with pytest.raises(ValueError, match="semantic LM was trained on another MuLan quantizer"):
        MusicLMPipeline.from_pretrained(str(tmp_path))
    pipe.save_pretrained(tmp_path)  # the LMs saved again still name the quantizer they were built with
    with pytest.raises(ValueError, match="another MuLan quantizer"):
        MusicLMPipeline.from_pretrained(str(tmp_path))


def test_long_generation_stitches_windows_without_gaps(tiny_pipe):
    frames = []
    out = run(tiny_pipe, duration_s=5.0, callback=lambda e: frames.append((e.stage, e.step, e.total)))
    assert out.tokens.semantic.shape == (1, 125) and out.tokens.fine.shape == (1, 8, 250)
    pad = tiny_pipe.config.codec.codebook_size
    assert out.tokens.fine.max() < pad and out.audio.shape == (5 * SR,)
    semantic = [step for stage, step, _ in frames if stage == "semantic"]
    assert semantic == sorted(semantic) and semantic[-1] == 125
    assert [s for s in tiny_pipe.stages if any(f[0] == s for f in frames)] == list(tiny_pipe.stages)


def test_window_plan_respects_segments_and_overlap():
    plan = window_plan(total=250, start=0, segment_ends=[100, 250], window=100, overlap=50, align=2)
    assert plan[0] == (0, 0, 100)
    assert all(new_end <= 100 or new_start >= 100 for _, new_start, new_end in plan)  # never crosses 100
    assert all(new_start - ctx <= 50 and ctx % 2 == 0 for ctx, new_start, _ in plan)
    assert [p[1] for p in plan[1:]] == [p[2] for p in plan[:-1]] and plan[-1][2] == 250


def test_story_mode_changes_conditioning_at_segment_frames(tiny_pipe, monkeypatch):
    lm = tiny_pipe.components.semantic_lm
    seen, original = [], lm.generate

    def spy(conditions, num_frames, **kw):
        seen.append((conditions["mulan"][0].clone(), num_frames, kw.get("prompt")))
        return original(conditions, num_frames, **kw)

    monkeypatch.setattr(lm, "generate", spy)
    story = [("calm piano intro", 1.0), ("loud drums and distorted guitar", 2.0)]
    out = tiny_pipe(story, seed=0)
    assert out.audio.shape == (3 * SR,) and out.tokens.mulan.shape == (1, 2, 12)
    first, second = out.tokens.mulan[0]
    assert torch.equal(seen[0][0], first) and seen[0][1] == 25  # segment 1: frames 0..25
    assert all(torch.equal(m, second) for m, _, _ in seen[1:])
    assert seen[1][2] is not None  # the next segment continues from the previous music


def test_continuation_keeps_the_prompt_audio_tokens(tiny_pipe):
    opening = torch.from_numpy(hum(1.0))
    out = run(tiny_pipe, continuation=opening, continuation_sample_rate=SR, duration_s=1.0)
    ref = tiny_pipe.tokenize_audio(opening, SR)
    assert out.audio.shape == (2 * SR,)
    assert torch.equal(out.tokens.semantic[:, :25], ref.semantic[:, :25])
    assert torch.equal(out.tokens.coarse[..., :50], ref.coarse[..., :50])
    assert torch.equal(out.tokens.fine[..., :50], ref.fine[..., :50])


def test_melody_and_candidates(tiny_pipe, tmp_path):
    path = tmp_path / "hum.wav"
    sf.write(path, hum(2.0, sr=96_000, channels=2), 96_000)
    out = run(tiny_pipe, melody=str(path), num_candidates=3)
    assert out.tokens.melody is not None and (out.tokens.melody[0, 5:40] == 9).float().mean() > 0.8  # A3
    assert out.chosen_by == "mulan" and len(out.scores) == 3 and out.chosen == int(np.argmax(out.scores))
    assert out.mulan_score == out.scores[out.chosen] and out.candidates.coarse.shape[0] == 3
    assert any("downmixed" in n for n in out.notices) and any("resampled" in n for n in out.notices)


def test_a_pipeline_saves_how_many_candidates_it_samples_by_default(tiny_pipe, tmp_path):
    from dataclasses import replace

    from musiclm_studio.config import PipelineConfig
    from musiclm_studio.train.assemble import assemble

    tiny_pipe.save_pretrained(tmp_path / "one")
    two = assemble(str(tmp_path / "one"), str(tmp_path / "two"), {}, num_candidates=2)
    loaded = MusicLMPipeline.from_pretrained(str(tmp_path / "two"))
    assert two.config.num_candidates == loaded.config.num_candidates == 2
    loaded.show_progress = False
    assert len(run(loaded).scores) == 2  # no critic here: MuLan keeps one of the two
    assert len(run(loaded, num_candidates=1).scores) == 1
    with pytest.raises(ValueError, match="num_candidates"):
        replace(PipelineConfig(), num_candidates=0)


def test_auto_gain_levels_slowly_causally_and_leaves_silence_quiet():
    from musiclm_studio.audio import auto_gain

    t = torch.arange(60 * SR) / SR
    drifting = torch.sin(2 * math.pi * 220 * t) * 0.03 * 10 ** (t / 120)  # -33 dBFS rising 10 dB a minute
    out = auto_gain(drifting, SR, target_db=-21.0)
    window_db = [20 * math.log10(float(w.pow(2).mean().sqrt())) for w in out.split(10 * SR)]
    # it starts from 0 dB (as if at the target) and takes a few seconds to lift a quiet opening
    assert -25.0 < window_db[0] < -21.0 and all(abs(db + 21.0) < 1.0 for db in window_db[1:]), window_db
    assert float(out.abs().max()) < 1.0
    torch.testing.assert_close(auto_gain(drifting[: 7 * SR + 11], SR), out[: 7 * SR + 11])  # a prefix never changes
    loud = auto_gain(torch.ones(2, SR) * 0.99, SR, target_db=-6.0)
    assert loud.shape == (2, SR) and float(loud.abs().max()) < 1.0  # peaks bend below full scale
    hiss = torch.randn(SR) * 1e-5  # -100 dBFS: boosted by at most 12 dB, not to the target
    assert float(auto_gain(hiss, SR).pow(2).mean().sqrt()) < 1e-5 * 10 ** (12.5 / 20)
    assert torch.equal(auto_gain(torch.zeros(SR), SR), torch.zeros(SR))


def test_output_level_comes_from_the_config(tiny_pipe, tmp_path):
    from dataclasses import replace

    from musiclm_studio.config import PipelineConfig

    tiny_pipe.save_pretrained(tmp_path / "p")
    loaded = MusicLMPipeline.from_pretrained(str(tmp_path / "p"))
    assert loaded.config.output_level_db == tiny_pipe.config.output_level_db == -21.0
    loaded.show_progress = False
    levelled = run(loaded, duration_s=4.0).audio
    loaded.config.output_level_db = None  # the codec's own level, as decoded
    raw = run(loaded, duration_s=4.0).audio
    assert levelled.shape == raw.shape and not torch.allclose(levelled, raw)
    off = [abs(20 * math.log10(float(a[2 * SR:].pow(2).mean().sqrt())) + 21.0) for a in (levelled, raw)]
    assert off[0] < off[1] - 3.0, off  # the untrained codec is quiet: lifted toward -21 dBFS (by at most 12 dB)
    with pytest.raises(ValueError, match="output_level_db"):
        replace(PipelineConfig(), output_level_db=0.0)


def test_long_melody_is_trimmed_with_a_notice(tiny_pipe):
    long_melody = np.tile(hum(1.0, sr=8_000), 3600)  # one hour at 8 kHz
    out = run(tiny_pipe, melody=long_melody, melody_sample_rate=8_000, duration_s=1.0)
    assert any("only the first" in n for n in out.notices)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt=""), "empty"),
    (dict(prompt="   \n "), "empty"),
    (dict(prompt="x" * 10_000), "characters"),
    (dict(duration_s=0), "duration_s"),
    (dict(duration_s=-3), "duration_s"),
    (dict(duration_s=10_000), "duration_s"),
    (dict(duration_s=float("nan")), "duration_s"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=(1.0, 0.5)), "three"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(top_k=-5), "top_k"),
    (dict(num_candidates=0), "num_candidates"),
    (dict(guidance_scale=float("inf")), "guidance_scale"),
    (dict(melody=np.zeros(SR, np.float32), melody_sample_rate=SR), "silent"),
    (dict(melody=np.full(SR, np.nan, np.float32), melody_sample_rate=SR), "NaN"),
    (dict(melody=np.zeros(SR, np.float32)), "sample rate"),
])
def test_bad_input_raises_clear_value_errors(tiny_pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(tiny_pipe, **kwargs)


def test_bad_melody_files(tiny_pipe, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage")
    text = tmp_path / "notes.txt"
    text.write_text("not audio at all")
    for path in (corrupt, text, tmp_path / "absent.wav"):
        with pytest.raises(ValueError, match="audio|not found"):
            run(tiny_pipe, melody=str(path))


def test_non_latin_prompts_work(tiny_pipe):
    for prompt in ("平静的钢琴曲", "спокойная музыка", "موسيقى هادئة", "🎹🎶"):
        assert run(tiny_pipe, prompt=prompt, duration_s=1.0).audio.numel() == SR


def test_untrained_pipeline_says_so(tiny_pipe):
    out = run(tiny_pipe, duration_s=1.0)
    assert not tiny_pipe.trained and any("untrained" in n.lower() for n in out.notices)
    assert math.isfinite(out.mulan_score)


def test_a_prompt_asking_for_a_voice_is_told_what_the_model_cannot_sing(tiny_pipe):
    from musiclm_studio.lyrics import NO_VOICES, NOTICE, voice_notice

    # the shipped model was trained without voices (config.sings False): a singer gets a notice
    assert not tiny_pipe.config.sings
    assert NO_VOICES in tiny_pipe.encode_conditioning("a pop song with a female vocalist").notices
    assert NO_VOICES not in tiny_pipe.encode_conditioning("an instrumental pop song, no vocals").notices
    # a model that sings wordless vowels is silent about voices and says so only of words
    assert voice_notice("a choir singing softly", sings=True) is None
    assert voice_notice("a rapper with clever lyrics", sings=True) == NOTICE
