"""Conditioning resolved once, on the ``tiny-full`` debug pipeline (critic, beat grid, key): what the
LMs are told, checked before any model runs, and one output shape on every route."""

import dataclasses

import numpy as np
import pytest
import torch

SR = 24_000


def asked(pipe, prompt, **kwargs):
    return pipe.asked(pipe.encode_conditioning(prompt, **kwargs))[0]


def test_the_tempo_told_is_the_callers_else_the_prompts_number_or_words(tiny_full_pipe):
    assert asked(tiny_full_pipe, "a slow rock song", bpm=150)["tempo"] == 150
    assert asked(tiny_full_pipe, "a slow rock song at 140 bpm")["tempo"] == 140
    assert asked(tiny_full_pipe, "a slow rock song")["tempo"] <= 95
    assert asked(tiny_full_pipe, "a very fast metal song")["tempo"] >= 160


def test_the_key_told_is_the_callers_else_the_prompts_else_its_mood(tiny_full_pipe):
    assert asked(tiny_full_pipe, "a piano piece in F# minor")["key"] == "F# minor"
    assert asked(tiny_full_pipe, "a piano piece in F# minor", key="C major")["key"] == "C major"
    assert asked(tiny_full_pipe, "a happy pop song")["mode"] == "major"


def test_a_continuation_keeps_its_own_beat_and_key(tiny_full_pipe):
    opening = np.random.default_rng(0).standard_normal(SR).astype("float32") * 0.1
    request = tiny_full_pipe.check_inputs("a fast techno track in A minor", duration_s=1.0, seed=0,
                                          continuation=opening, continuation_sample_rate=SR)
    cond = tiny_full_pipe.resolve_conditioning(request)
    assert cond.tempo_bpm == [None] and cond.key_tokens == [24] and cond.opening is not None
    assert cond.duration_s == pytest.approx(2.0, abs=0.05)  # the opening's second and one more


@pytest.mark.parametrize("kwargs, message", [
    (dict(bpm=120, continuation=np.zeros(SR, "float32")), "leave bpm out"),
    (dict(key="A minor", continuation=np.zeros(SR, "float32")), "leave key out"),
    (dict(bpm=500), "bpm must be between"),
    (dict(key="H minor"), "key must name a mode"),
    (dict(duration_s=0.1), "duration_s"),
])
def test_bad_input_is_refused_before_any_model_runs(tiny_full_pipe, kwargs, message, monkeypatch):
    def must_not_run(*args, **kw):
        raise AssertionError("a model ran before the inputs were checked")

    monkeypatch.setattr(tiny_full_pipe.components.mulan, "text_features", must_not_run)
    with pytest.raises(ValueError, match=message):
        tiny_full_pipe("a song", **{"duration_s": 1.0, **kwargs})


def test_one_output_shape_on_every_route(tiny_full_pipe):
    routes = {
        "critic": tiny_full_pipe("a rock song", duration_s=1.0, seed=0),
        "one candidate": tiny_full_pipe("a rock song", duration_s=1.0, seed=0, num_candidates=1),
        "story": tiny_full_pipe([("a rock song", 1.0), ("a piano piece", 1.0)], seed=0),
    }
    for name, out in routes.items():
        assert set(out.timings) == {*tiny_full_pipe.stages, "critic", "total"}, name
        assert out.candidates.fine is None and out.tokens.fine.shape[0] == 1, name
        assert len(out.scores) == out.candidates.coarse.shape[0] and isinstance(out.mulan_score, float), name
        assert torch.equal(out.tokens.coarse[0], out.candidates.coarse[out.chosen]), name
        assert [f.name for f in dataclasses.fields(out)] == [f.name for f in dataclasses.fields(routes["critic"])]
    assert routes["critic"].chosen_by == "critic" and routes["one candidate"].chosen_by == "only candidate"


def test_the_same_seed_gives_the_same_music_and_the_callers_rng_is_untouched(tiny_full_pipe):
    from musiclm_studio.pipeline import MusicLMPipeline

    a = tiny_full_pipe("a jazz trio", duration_s=1.0, seed=3)
    b = tiny_full_pipe("a jazz trio", duration_s=1.0, seed=3)
    assert torch.equal(a.audio, b.audio) and torch.equal(a.tokens.semantic, b.tokens.semantic)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MusicLMPipeline.from_config("tiny", seed=5)  # building (or loading) a pipeline leaves the global RNG as it was
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("story, message", [([], "at least one"), ([("a song", 0.1)], "each segment must last")])
def test_the_stage_methods_check_a_story_as_a_call_does(tiny_full_pipe, story, message, monkeypatch):
    def must_not_run(*args, **kw):
        raise AssertionError("a model ran before the story was checked")

    monkeypatch.setattr(tiny_full_pipe.components.mulan, "text_features", must_not_run)
    for entry in (tiny_full_pipe, tiny_full_pipe.encode_conditioning):  # one check serves both
        with pytest.raises(ValueError, match=message):
            entry(story)


def test_a_batch_of_one_prompt_is_the_call_with_the_same_seed(tiny_full_pipe):
    from musiclm_studio.batch import generate_batch

    alone = tiny_full_pipe("a fast rock song in A minor", duration_s=1.0, seed=3)
    batched = generate_batch(tiny_full_pipe, ["a fast rock song in A minor"], duration_s=1.0, seed=3)[0]
    assert torch.equal(batched.audio, alone.audio) and batched.scores == alone.scores  # the same steps
    assert torch.equal(batched.candidates.coarse, alone.candidates.coarse) and batched.chosen == alone.chosen
    assert batched.asked == alone.asked and batched.seed is None and alone.seed == 3


def test_key_guidance_in_a_batch_only_where_every_prompt_names_a_key(tiny_full_pipe, monkeypatch):
    from musiclm_studio import batch

    seen = []
    real = tiny_full_pipe.generate_resolved
    monkeypatch.setattr(tiny_full_pipe, "generate_resolved",
                        lambda conds, request, *a: seen.append(request.sampling.key_guidance["coarse"]) or real(conds, request, *a))
    for prompts, key in ((["a rock song in A minor", "a sad waltz in E minor"], None), (["a rock song", "a waltz"], "D major"),
                         (["a rock song in A minor", "a waltz"], None)):
        batch.generate_batch(tiny_full_pipe, prompts, duration_s=0.5, seed=1, key=key, num_candidates=1)
    assert seen[0] > 0 and seen[1] > 0 and seen[2] == 0  # a mixed batch: none guided
