"""Editing what was made: variations keep their stream, repaint keeps the audio outside its region,
extend keeps the clip as its first part; bad edits raise ValueErrors that say what to do."""

import math

import pytest
import torch

from musiclm_studio import editing, seams

SEMANTIC_RATE, ACOUSTIC_RATE = 25, 50


@pytest.fixture(scope="module")
def clip(tiny_full_pipe):
    return tiny_full_pipe("a rock song with drums", duration_s=3.0, seed=0)


def test_vary_keeps_the_semantic_tokens_and_resamples_the_sound(tiny_full_pipe, clip):
    pipe = tiny_full_pipe
    out = pipe.vary(clip, keep="semantic", seed=1)
    assert torch.equal(out.tokens.semantic, clip.tokens.semantic)
    assert not torch.equal(out.tokens.coarse, clip.tokens.coarse)
    assert out.audio.shape == clip.audio.shape and torch.isfinite(out.audio).all()
    other = pipe.vary(clip, keep="semantic", prompt="a string quartet", seed=1)
    assert torch.equal(other.tokens.semantic, clip.tokens.semantic)
    assert not torch.equal(other.tokens.mulan, clip.tokens.mulan)  # the new prompt's MuLan tokens
    assert other.conditioning.prompts == ["a string quartet"]
    again = pipe.vary(clip, keep="semantic", prompt="a string quartet", seed=1)
    assert torch.equal(again.audio, other.audio)  # one seed, one result
    mixed = pipe.vary(clip, prompt="a string quartet:0.5 | a rock song with drums:0.5", seed=1, negative_prompt="drums")
    assert torch.equal(mixed.tokens.semantic, clip.tokens.semantic)
    assert mixed.conditioning.negative_attributes == ("drums",)  # the caller's negative prompt, as given


def test_a_variation_under_a_new_prompt_moves_away_from_the_old_one(tiny_full_pipe, clip):
    from musiclm_studio.conditioning.prompt_mix import embed

    pipe = tiny_full_pipe
    away = pipe.vary(clip, prompt="a string quartet", seed=1)
    _, old = embed(pipe.components.mulan, [clip.conditioning.prompts[0]])
    assert torch.allclose(away.conditioning.negative_text_embeddings, old)  # the clip's own prompt
    assert "moving away from 'a rock song with drums'" in away.notices[0]
    plain = pipe.vary(clip, prompt="a string quartet", seed=1, negative_prompt="")  # "": no negative prompt
    assert plain.conditioning.negative_text_embeddings is None and "moving away" not in plain.notices[0]
    assert not torch.equal(away.conditioning.mulan_tokens, plain.conditioning.mulan_tokens)
    # the critic avoids only what the new prompt changes: the drums both prompts ask for are not avoided
    kept_drums = pipe.vary(clip, prompt="a jazz tune with drums", seed=1)
    assert "drums" not in kept_drums.conditioning.negative_attributes
    # no new prompt (or the same one): nothing to move away from
    for same in (pipe.vary(clip, seed=1), pipe.vary(clip, prompt=clip.conditioning.prompts[0], seed=1)):
        assert same.conditioning.negative_text_embeddings is None


def test_vary_keeping_coarse_resamples_only_the_fine_tokens(tiny_full_pipe, clip):
    out = tiny_full_pipe.vary(clip, keep="coarse", seed=2)
    assert torch.equal(out.tokens.coarse, clip.tokens.coarse) and torch.equal(out.tokens.semantic, clip.tokens.semantic)
    assert not torch.equal(out.tokens.fine, clip.tokens.fine)
    with pytest.raises(ValueError, match="fine tokens, which do not hear the prompt"):
        tiny_full_pipe.vary(clip, keep="coarse", prompt="jazz")
    with pytest.raises(ValueError, match="keep must be one of"):
        tiny_full_pipe.vary(clip, keep="fine")


def test_repaint_changes_the_region_and_leaves_every_other_sample(tiny_full_pipe, clip):
    pipe = tiny_full_pipe
    hop = pipe.config.codec.hop_length
    start_s, end_s = 1.0, 1.8
    out = pipe.repaint(clip, start_s, end_s, prompt="a calm flute solo", seed=3)
    assert out.audio.shape == clip.audio.shape
    fade = round(editing.CROSSFADE_S * ACOUSTIC_RATE)
    first = int(start_s * SEMANTIC_RATE) * 2  # the region starts on a semantic frame
    end = math.ceil(end_s * ACOUSTIC_RATE)
    frames = clip.tokens.coarse.shape[-1]
    seam = round(out.edit["end_s"] * ACOUSTIC_RATE)
    offered = seams.seam_frames(pipe, out.conditioning, end_s, frames, fade, clip.audio)
    assert seam >= end and seam in offered and 1 <= len(offered) <= seams.SEAM_BEATS
    assert set(offered) <= set(seams.beat_frames(pipe, out.conditioning, frames))  # on beats of the grid
    assert out.edit == {"edit": "repaint", "start_s": first / ACOUSTIC_RATE, "end_s": seam / ACOUSTIC_RATE,
                        "fade_s": fade / ACOUSTIC_RATE}
    assert torch.equal(out.audio[: (first - fade) * hop], clip.audio[: (first - fade) * hop])
    assert torch.equal(out.audio[(seam + fade) * hop:], clip.audio[(seam + fade) * hop:])
    assert not torch.equal(out.audio[first * hop: end * hop], clip.audio[first * hop: end * hop])
    # tokens: the prefix kept, the region new, the original's again after the seam
    assert torch.equal(out.tokens.semantic[:, : first // 2], clip.tokens.semantic[:, : first // 2])
    assert torch.equal(out.tokens.coarse[..., :first], clip.tokens.coarse[..., :first])
    assert torch.equal(out.tokens.coarse[..., seam:], clip.tokens.coarse[..., seam:])
    assert not torch.equal(out.tokens.coarse[..., first:end], clip.tokens.coarse[..., first:end])
    assert out.conditioning.prompts == ["a rock song with drums", "a calm flute solo", "a rock song with drums"]
    # of the critic's best few candidates, the one whose new audio steps least in loudness where it starts
    best = sorted(range(len(out.scores)), key=lambda b: -out.scores[b])[: editing.START_CANDIDATES]
    steps = seams.start_steps(pipe, out.candidates.coarse[best], first, round(seams.SEAM_WINDOW_S * pipe.sample_rate))
    assert len(best) == 2 and out.chosen == best[min(range(2), key=steps.__getitem__)]
    # MuLan scores the new audio alone against the new prompt
    new_audio = out.audio[None, first * hop: seam * hop]
    assert out.mulan_score == pytest.approx(pipe.score("a calm flute solo", new_audio).item())
    # a repaint to the clip's end has no seam after it; one from the start no prefix
    tail = pipe.repaint(out, 2.0, 3.0, seed=4)
    assert torch.equal(tail.audio[: (100 - fade) * hop], out.audio[: (100 - fade) * hop])
    head = pipe.repaint(clip, 0.0, 1.0, seed=5)
    assert torch.equal(head.tokens.coarse[..., 120:], clip.tokens.coarse[..., 120:])


def test_the_seam_is_the_offered_one_whose_loudness_steps_least():
    original = torch.full((1, 1000), 0.1)
    new = torch.full((1, 1000), 0.4)
    new[:, 600:] = 0.1  # the new audio comes back to the original's level from sample 600 on
    seam, audio = seams.quietest_seam(original, new, 100, [300, 650, 800], 20, 50)
    assert seam == 650  # 300 steps 12 dB down; 650 and 800 none: the first of those
    assert torch.equal(audio, seams.splice(original.clone(), new, 100, 650, 20))
    assert seams.level_jump_db(audio, 670, 50) == pytest.approx(0.0, abs=1e-6)
    assert seams.level_jump_db(seams.splice(original.clone(), new, 100, 300, 20), 320, 50) > 10  # 4x down


def test_without_a_beat_grid_the_seam_is_on_a_tracked_beat(tiny_pipe):
    out = tiny_pipe("a rock song", duration_s=3.0, seed=0)
    assert out.conditioning.tempo_bpm is None  # the tiny LMs hear no grid
    repainted = tiny_pipe.repaint(out, 0.5, 1.5, seed=1)
    hop, fade, frames = tiny_pipe.config.codec.hop_length, round(editing.CROSSFADE_S * ACOUSTIC_RATE), 150
    beats = seams.beat_frames(tiny_pipe, repainted.conditioning, frames, out.audio)
    seam = round(repainted.edit["end_s"] * ACOUSTIC_RATE)
    assert seam in seams.seam_frames(tiny_pipe, repainted.conditioning, 1.5, frames, fade, out.audio)
    assert seam in beats or (seam == 75 and not [b for b in beats if 75 <= b <= frames - fade])
    assert torch.equal(repainted.audio[(seam + fade) * hop:], out.audio[(seam + fade) * hop:])


def test_extend_keeps_the_clip_and_continues_its_tokens(tiny_full_pipe, clip):
    pipe = tiny_full_pipe
    out = pipe.extend(clip, 1.6, seed=6)
    assert out.audio.shape[-1] == clip.audio.shape[-1] + int(1.6 * pipe.sample_rate)
    assert torch.equal(out.audio[: clip.audio.numel()], clip.audio)
    for name in ("semantic", "coarse", "fine"):
        kept = getattr(clip.tokens, name)
        assert torch.equal(getattr(out.tokens, name)[..., : kept.shape[-1]], kept)
    story = pipe.extend(clip, 1.0, prompt="a jazz piano", seed=6)
    assert story.conditioning.prompts == ["a rock song with drums", "a jazz piano"]
    assert story.tokens.mulan.shape == (1, 2, 12)
    again = pipe.extend(story, 1.0, seed=7)  # an edit's output is edited again
    assert torch.equal(again.audio[: story.audio.numel()], story.audio)


def test_an_edits_fine_stage_hears_the_last_second_of_the_kept_fine_tokens(tiny_full_pipe, clip, monkeypatch):
    """The fine LM barely uses older context (docs/experiments/editing.md): an edit's fine stage is given the
    last ``FINE_CONTEXT_S`` of the kept fine tokens, not the pipeline's overlap; its progress still spans the clip."""
    pipe, asked, events = tiny_full_pipe, [], []
    generate_fine = pipe.generate_fine

    def spy(coarse, prompt_tokens=None, **kwargs):
        asked.append((coarse.shape[-1], prompt_tokens.shape[-1]))
        return generate_fine(coarse, prompt_tokens=prompt_tokens, **kwargs)

    monkeypatch.setattr(pipe, "generate_fine", spy)
    out = pipe.extend(clip, 1.0, seed=6, callback=events.append)
    heard, new = round(editing.FINE_CONTEXT_S * ACOUSTIC_RATE), round(1.0 * ACOUSTIC_RATE)
    assert asked == [(heard + new, heard)]
    assert torch.equal(out.tokens.fine[..., :150], clip.tokens.fine)
    last = [e for e in events if e.stage == "fine"][-1]
    assert (last.step, last.total) == (150 + new, 150 + new) and torch.equal(last.tokens, out.tokens.fine)


@pytest.mark.parametrize("call, words", [
    (lambda p, c: p.repaint(c, 2.0, 4.0), "outside the clip"),
    (lambda p, c: p.repaint(c, -1.0, 1.0), "outside the clip"),
    (lambda p, c: p.repaint(c, 1.0, 1.0), "empty"),
    (lambda p, c: p.repaint(c, 1.0, 1.2), "too short"),
    (lambda p, c: p.repaint(c, "a", 1.2), "numbers of seconds"),
    (lambda p, c: p.extend(c, 0.0), "at least"),
    (lambda p, c: p.extend(c, -2.0), "at least"),
    (lambda p, c: p.extend(c, 58.0), "passes the cap"),
    (lambda p, c: p.vary(c.audio), "MusicLMOutput"),
    (lambda p, c: p.extend("song.wav", 2.0), "MusicLMOutput"),
    (lambda p, c: p.vary(c, seed=-1), "seed"),
    (lambda p, c: p.vary(c, prompt=""), "prompt is empty"),
    (lambda p, c: p.vary(c, prompt="a:-1 | b"), ">= 0"),
])
def test_bad_edits_raise_saying_what_to_do(tiny_full_pipe, clip, call, words):
    with pytest.raises(ValueError, match=words):
        call(tiny_full_pipe, clip)


def test_a_saved_output_loads_back_bit_for_bit_and_edits_alike(tiny_full_pipe, clip, tmp_path):
    from musiclm_studio.output_io import load_output, save_output

    wav, tokens = save_output(tmp_path / "song.wav", clip)
    assert tokens.endswith("song.tokens.safetensors")
    back = load_output(wav)
    assert torch.equal(back.audio, clip.audio) and back.seed == clip.seed and back.sample_rate == clip.sample_rate
    for name in ("mulan", "semantic", "coarse", "fine"):
        assert torch.equal(getattr(back.tokens, name), getattr(clip.tokens, name))
    assert back.conditioning.prompts == clip.conditioning.prompts
    assert back.conditioning.tempo_bpm == clip.conditioning.tempo_bpm
    a, b = tiny_full_pipe.extend(clip, 1.0, seed=8), tiny_full_pipe.extend(back, 1.0, seed=8)
    assert torch.equal(a.audio, b.audio)
    edited = tiny_full_pipe.repaint(clip, 1.0, 1.6, seed=2, negative_prompt="drums")
    again = load_output(save_output(tmp_path / "edited.wav", edited)[0])
    assert again.edit == edited.edit and again.conditioning.negative_attributes == ("drums",)
    assert torch.equal(again.conditioning.negative_text_features, edited.conditioning.negative_text_features)
    assert torch.equal(again.conditioning.negative_text_embeddings, edited.conditioning.negative_text_embeddings)
    # the edit's MuLan tokens move away from its negative prompt; an edit without one hears the prompt's own
    assert not torch.equal(edited.conditioning.mulan_tokens, clip.conditioning.mulan_tokens)
    plain_again = tiny_full_pipe.repaint(again, 1.0, 1.6, seed=2)
    assert torch.equal(plain_again.conditioning.mulan_tokens, clip.conditioning.mulan_tokens)
    (tmp_path / "lone.wav").write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="tokens file"):
        load_output(tmp_path / "lone.wav")


def test_extend_puts_first_a_candidate_heard_in_the_clips_own_key(tiny_full_pipe, clip, monkeypatch):
    from musiclm_studio import candidates

    pipe, spans = tiny_full_pipe, []
    monkeypatch.setattr(candidates, "clip_key", lambda pipe, audio: (9, "minor"))

    def heard(pipe, coarse, start):  # the new part only: its frames after the clip's
        spans.append(coarse.shape[-1])
        return [(0, "major"), (9, "minor"), (9, "major"), (None, None)][: len(coarse)]
    monkeypatch.setattr(candidates, "keys_heard", heard)
    out = pipe.extend(clip, 1.6, seed=6, num_candidates=4)
    assert out.chosen == 1 and spans == [out.tokens.coarse.shape[-1] - clip.tokens.coarse.shape[-1]]
    off = pipe.extend(clip, 1.6, seed=6, num_candidates=4, key_lock=False)  # the critic alone
    assert off.chosen == max(range(4), key=off.scores.__getitem__) != 1 and len(spans) == 1


def test_cli_generates_then_varies_repaints_and_extends_a_saved_output(tiny_full_pipe, tmp_path):
    from musiclm_studio.cli import main
    from musiclm_studio.output_io import load_output

    folder = str(tmp_path / "pipe")
    tiny_full_pipe.save_pretrained(folder)
    common = ["--pipeline", folder, "--quiet", "--no-png", "--candidates", "1"]
    song = str(tmp_path / "song.wav")
    assert main(["generate", "jazz trio:0.7 | techno:0.3", "--duration", "2", "--seed", "0", "--out", song,
                 "--negative-prompt", "drums", *common]) == 0
    assert main(["vary", song, "--keep", "semantic", "--prompt", "a string quartet", "--seed", "1",
                 "--out", str(tmp_path / "v.wav"), *common]) == 0
    assert main(["repaint", song, "--start", "0.5", "--end", "1.2", "--seed", "2", "--out", str(tmp_path / "r.wav"),
                 *common]) == 0
    assert main(["extend", str(tmp_path / "r.wav"), "--seconds", "1", "--seed", "3", "--out", str(tmp_path / "e.wav"),
                 *common]) == 0
    original, varied = load_output(song), load_output(tmp_path / "v.wav")
    assert torch.equal(varied.tokens.semantic, original.tokens.semantic)
    extended, repainted = load_output(tmp_path / "e.wav"), load_output(tmp_path / "r.wav")
    assert torch.equal(extended.audio[: repainted.audio.numel()], repainted.audio)
    assert extended.duration_s == pytest.approx(3.0)
    assert main(["extend", song, "--seconds", "-1", "--out", str(tmp_path / "x.wav"), *common]) == 2
    assert main(["vary", str(tmp_path / "missing.wav"), *common]) == 2


@pytest.mark.slow
def test_edits_on_the_shipped_model(default_pipe):
    """The shipped model end to end: kept tokens, untouched samples outside a repaint, an extension's
    first part, and a negative prompt that changes what guidance steers from."""
    pipe = default_pipe
    out = pipe("a rock song with drums", duration_s=4.0, seed=0)
    varied = pipe.vary(out, prompt="a string quartet", seed=1)
    assert torch.equal(varied.tokens.semantic, out.tokens.semantic)
    assert not torch.equal(varied.tokens.coarse, out.tokens.coarse)
    hop, fade = pipe.config.codec.hop_length, round(editing.CROSSFADE_S * ACOUSTIC_RATE)
    repainted = pipe.repaint(out, 1.0, 2.0, prompt="a calm piano", seed=2)
    seam = round(repainted.edit["end_s"] * ACOUSTIC_RATE)
    assert torch.equal(repainted.audio[: (50 - fade) * hop], out.audio[: (50 - fade) * hop])
    assert torch.equal(repainted.audio[(seam + fade) * hop:], out.audio[(seam + fade) * hop:])
    extended = pipe.extend(out, 2.0, seed=3)
    assert torch.equal(extended.audio[: out.audio.numel()], out.audio) and extended.duration_s == pytest.approx(6.0)
    negative = pipe("a rock song with drums", duration_s=4.0, seed=0, negative_prompt="drums")
    assert not torch.equal(negative.tokens.semantic, out.tokens.semantic)

