"""The key lock (key_lock.py): which requests it acts on, what it reads, and that transposition lands
in the asked key."""

import numpy as np
import pytest
import torch

from musiclm_studio.analysis import estimate_key_mode
from musiclm_studio.eval.synth import cadence, midi_to_hz
from musiclm_studio.key_lock import asked_key, lock_key, transpose, transposition
from musiclm_studio.vocab.musical_key import NO_KEY, key_token

SR = 24_000


def test_transposition_moves_the_tonic_by_the_fewest_semitones():
    audio = cadence(0, "major")
    assert estimate_key_mode(audio, SR) == ("C", "major")
    assert transposition(audio, SR, 2, "major") == ((0, "major"), 2)
    assert transposition(audio, SR, 7, "major") == ((0, "major"), -5)  # down a fourth, not up a fifth
    assert transposition(audio, SR, 0, "major") == ((0, "major"), 0)


def test_another_mode_and_no_key_are_left_alone():
    assert transposition(cadence(0, "major"), SR, 9, "minor") == ((0, "major"), 0)
    noise = np.random.default_rng(0).normal(0, 0.1, 4 * SR).astype(np.float32)
    assert transposition(noise, SR, 2, "major") == (None, 0)


def test_lock_key_lands_in_the_asked_key_and_keeps_the_length():
    audio = cadence(9, "minor")
    moved, lock = lock_key(audio, SR, 11, "minor")
    assert lock.read == (9, "minor") and lock.semitones == 2 and "B minor" in lock.notice()
    assert moved.shape == audio.shape
    assert estimate_key_mode(moved, SR) == ("B", "minor")
    same, kept = lock_key(audio, SR, 9, "minor")
    assert kept.semitones == 0 and kept.notice() is None and same is audio
    assert transpose(audio, SR, -3).shape == audio.shape


def test_a_move_heard_in_another_key_is_undone():
    """A low A under C major chords reads A minor; moved up 3 semitones onto C minor, the bass note crosses
    the analyser's bass/treble border (C3) and the moved audio reads B minor: the clip is kept as it came."""
    t = np.arange(SR * 3 // 2) / SR
    tone = lambda midi, harmonics: sum(np.sin(2 * np.pi * midi_to_hz(midi) * t * h) / h for h in harmonics)
    chords = [(60, 64, 67), (69, 72, 76), (60, 64, 67), (59, 62, 67)]
    audio = np.concatenate([(sum(tone(m, (1, 2, 3)) for m in chord) + 1.5 * tone(45, (1,)))
                            * np.minimum(1, 20 * t) * np.exp(-t) for chord in chords])
    audio = (0.1 * audio).astype(np.float32)
    assert estimate_key_mode(audio, SR) == ("A", "minor")
    assert estimate_key_mode(transpose(audio, SR, 3), SR) == ("B", "minor")  # not C minor
    same, lock = lock_key(audio, SR, 0, "minor")
    assert same is audio and lock.semitones == 0 and lock.read == (9, "minor") and lock.landed == (11, "minor")
    assert "left as it came out" in lock.notice() and "B minor" in lock.notice()
    moved, landed = lock_key(audio, SR, 6, "minor")  # down 3: the bass stays below the border
    assert landed.semitones == -3 and landed.landed is None and estimate_key_mode(moved, SR) == ("F#", "minor")


def test_only_a_named_tonic_in_one_segment_is_locked():
    told = [key_token(3, "major")]
    assert asked_key("a calm piano piece in E flat major", None, told) == (3, "major")
    assert asked_key("a calm piano piece", (3, "major"), told) == (3, "major")  # key= names it
    assert asked_key("a calm piano piece in a major key", None, told) is None  # the mode alone: tonic drawn
    assert asked_key("a calm piano piece", (None, "major"), told) is None
    assert asked_key("in E flat major", None, told * 2) is None  # a story
    assert asked_key("in E flat major", None, None) is None  # LMs that hear no key
    assert asked_key("in E flat major", None, [NO_KEY]) is None


def test_pipeline_locks_a_named_key_and_reports_it(tiny_full_pipe):
    out = tiny_full_pipe("a piano piece in D major", duration_s=2.0, seed=0, num_candidates=2)
    assert out.key_lock is not None and out.key_lock.asked == (2, "major")
    assert out.tokens.coarse.shape[-1] == out.candidates.coarse.shape[-1]
    assert (out.key_lock.notice() is not None) == any("Key lock" in n for n in out.notices)
    assert (out.key_lock.notice() is not None) == (out.key_lock.semitones != 0 or out.key_lock.landed is not None)
    raw = tiny_full_pipe("a piano piece in D major", duration_s=2.0, seed=0, num_candidates=2, key_lock=False)
    assert raw.key_lock is None and not any("Key lock" in n for n in raw.notices)
    assert tiny_full_pipe("a piano piece", duration_s=2.0, seed=0, num_candidates=1).key_lock is None
    with pytest.raises(ValueError, match="key_lock"):
        tiny_full_pipe("a piano piece", duration_s=2.0, key_lock="yes")


def test_a_candidate_heard_in_the_asked_mode_is_kept_first(tiny_full_pipe):
    from musiclm_studio import candidates

    pipe, prompt = tiny_full_pipe, "a piano piece in A minor"
    out = pipe(prompt, duration_s=2.0, seed=5, num_candidates=4)
    heard = [mode for _, mode in candidates.keys_heard(pipe, out.candidates.coarse)]
    assert heard.count("minor") == 1 and out.chosen_by == "critic"  # (the tiny models' noise: mostly no key)
    assert heard[out.chosen] == "minor"
    # without the key lock (or a named mode) the critic alone chooses: here another candidate
    raw = pipe(prompt, duration_s=2.0, seed=5, num_candidates=4, key_lock=False)
    assert raw.chosen == max(range(4), key=raw.scores.__getitem__) != out.chosen
    plain = pipe("a piano piece", duration_s=2.0, seed=5, num_candidates=4)
    assert plain.chosen == max(range(4), key=plain.scores.__getitem__)


def test_a_mode_none_of_the_candidates_is_heard_in_gets_as_many_candidates_again(tiny_full_pipe, monkeypatch):
    from musiclm_studio import candidates

    pipe, prompt, events = tiny_full_pipe, "a piano piece in A minor", []
    out = pipe(prompt, duration_s=2.0, seed=0, num_candidates=2, callback=events.append)  # the tiny models: neither
    assert out.candidates.semantic.shape[0] == 4  # heard in minor
    # the progress shows the stages starting again, and why
    said = [e.stage for e in events if e.message]
    assert said and set(said) == {"semantic", "coarse"} and events[-1].stage == "decode" and not events[-1].message
    again = next(e for e in events if e.message)
    assert again.label == f"semantic: {again.step}/{again.total} (2 more candidates: none of the first is in minor)"
    assert out.chosen == max(range(4), key=out.scores.__getitem__)  # none heard in it: the critic's best of all
    assert pipe("a piano piece", duration_s=2.0, seed=0, num_candidates=2).candidates.semantic.shape[0] == 2
    # one of the first heard in the mode: no more, and the first batch is the one above
    monkeypatch.setattr(candidates, "keys_heard",
                        lambda pipe, coarse, start: [(9, "minor")] + [(None, None)] * (len(coarse) - 1))
    first = pipe(prompt, duration_s=2.0, seed=0, num_candidates=2)
    assert first.candidates.semantic.shape[0] == 2 and first.chosen == 0
    assert torch.equal(out.candidates.semantic[:2], first.candidates.semantic)
    assert torch.equal(out.candidates.coarse[:2], first.candidates.coarse)
    # a candidate of the second batch heard in the mode goes before the critic's favourite
    heard = iter([[(0, "major"), (2, "major")], [(None, None), (4, "minor")]])
    monkeypatch.setattr(candidates, "keys_heard", lambda pipe, coarse, start: next(heard))
    assert pipe(prompt, duration_s=2.0, seed=0, num_candidates=2).chosen == 3


def test_key_guidance_pushes_along_what_the_key_changes_and_nothing_else():
    from musiclm_studio.models.lm import StageLM

    g = torch.Generator().manual_seed(0)
    cond, uncond, keyless = (torch.randn(2, 3, 7, generator=g) for _ in range(3))
    ls = lambda x: x.log_softmax(-1)  # noqa: E731
    plain = StageLM.guide(torch.cat([cond, uncond]), ["cond", "uncond"], 3.0, 0.0)
    torch.testing.assert_close(plain, ls(uncond) + 3.0 * (ls(cond) - ls(uncond)))
    keyed = StageLM.guide(torch.cat([cond, uncond, keyless]), ["cond", "uncond", "keyless"], 3.0, 2.0)
    torch.testing.assert_close(keyed.softmax(-1), (plain + 2.0 * (ls(cond) - ls(keyless))).softmax(-1))
    # where "no key" reads as the key does, nothing moves; without guidance rows, the conditional alone
    same = StageLM.guide(torch.cat([cond, uncond, cond]), ["cond", "uncond", "keyless"], 3.0, 2.0)
    torch.testing.assert_close(same.softmax(-1), plain.softmax(-1))
    alone = StageLM.guide(torch.cat([cond, keyless]), ["cond", "keyless"], 1.0, 1.0)
    torch.testing.assert_close(alone.softmax(-1), (2 * ls(cond) - ls(keyless)).softmax(-1))


def test_a_named_key_or_mode_is_guided_and_other_prompts_are_not(tiny_full_pipe):
    pipe = tiny_full_pipe
    kwargs = dict(duration_s=1.0, seed=5, num_candidates=1)
    for prompt, key in (("a rock song in E minor", None), ("a rock song", "F major"), ("a sad song in a minor key", None)):
        assert pipe.check_inputs(prompt, key=key, **kwargs).sampling.key_guidance["coarse"] > 0
        assert pipe.check_inputs(prompt, key=key, key_lock=False, **kwargs).sampling.key_guidance["coarse"] == 0
    assert pipe.check_inputs("a rock song", **kwargs).sampling.key_guidance == {"semantic": 0, "coarse": 0, "fine": 0}
    # nothing named: the same tokens with the lock on or off; a named key: its guidance changes the draw
    plain = [pipe("a calm rock song", key_lock=lock, **kwargs).tokens.coarse for lock in (True, False)]
    assert torch.equal(*plain)
    named = [pipe("a calm rock song in E minor", key_lock=lock, **kwargs).tokens.coarse for lock in (True, False)]
    assert not torch.equal(*named)


def test_a_continuation_candidate_heard_in_its_openings_key_goes_first(tiny_full_pipe, monkeypatch):
    from musiclm_studio import candidates

    pipe, opening = tiny_full_pipe, torch.from_numpy(cadence(9, "minor", seconds=3.0))
    kwargs = dict(continuation=opening, continuation_sample_rate=SR, duration_s=1.0, seed=0, num_candidates=2)
    request = pipe.check_inputs("a piano piece", **kwargs)
    cond = pipe.resolve_conditioning(request)
    assert cond.key_tokens == [key_token(9, "minor")] and request.sampling.key_guidance["coarse"] == 0
    assert candidates.wanted_key(request, cond) == (9, "minor")  # tonic and mode: a continuation is not moved
    off = pipe.check_inputs("a piano piece", key_lock=False, **kwargs)
    assert candidates.wanted_key(off, pipe.resolve_conditioning(off)) is None
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, 3 * SR).astype(np.float32))
    plain = pipe.check_inputs("a piano piece", **{**kwargs, "continuation": noise})
    assert candidates.wanted_key(plain, pipe.resolve_conditioning(plain)) is None  # no key stands out: no pick
    # the key is heard after the opening; A minor goes first, a candidate in C major (the relative) does not count
    starts = []

    def heard(pipe, coarse, start):
        starts.append(start)
        return [(0, "major"), (9, "minor")][: len(coarse)]
    monkeypatch.setattr(candidates, "keys_heard", heard)
    out = pipe("a piano piece", **kwargs)
    assert out.chosen == 1 and starts == [cond.opening.coarse.shape[-1]]
    # none of the first in the key: as many again, each continuing the same opening
    monkeypatch.setattr(candidates, "keys_heard", lambda pipe, coarse, start: [(0, "major")] * len(coarse))
    again = pipe("a piano piece", **kwargs)
    frames = cond.opening.semantic.shape[-1]
    assert again.candidates.semantic.shape[0] == 4
    assert (again.candidates.semantic[:, :frames] == cond.opening.semantic.cpu()).all()
