"""Weighted prompts (mixed in MuLan's embedding space) and negative prompts (guidance's unconditional branch,
and the prompt's MuLan embedding moved away from them)."""

import pytest
import torch

from musiclm_studio.conditioning.prompt_mix import MAX_PROMPTS, mix_label, parse_prompt
from musiclm_studio.conditioning.resolver import NEGATIVE_STEER


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip((a.audio, a.tokens.semantic, a.tokens.coarse, a.tokens.fine),
                                                 (b.audio, b.tokens.semantic, b.tokens.coarse, b.tokens.fine)))


def test_parse_prompt_reads_weights_and_leaves_plain_prompts_alone():
    mix = parse_prompt("jazz trio:0.7 | techno:0.3")
    assert mix.texts == ["jazz trio", "techno"] and mix.weights == pytest.approx([0.7, 0.3])
    assert parse_prompt("jazz:2 | techno").weights == pytest.approx([2 / 3, 1 / 3])  # no weight: 1, then normalised
    assert parse_prompt("a song, tempo: 120").texts == ["a song, tempo: 120"]  # no '|': never parsed
    assert parse_prompt("jazz:0 | techno:0.5").texts == ["techno"] and parse_prompt("jazz:0 | techno").single
    assert parse_prompt("a slow ballad:0.2 | fast techno:0.8").heaviest == "fast techno"
    assert mix_label({"jazz trio": 0.7, "techno": 0.3}) == "jazz trio:0.7 | techno:0.3"


@pytest.mark.parametrize("text, words", [
    (" | ".join(f"p{i}" for i in range(MAX_PROMPTS + 1)), "at most"),
    ("jazz:-0.5 | techno:1", ">= 0"),
    ("jazz:nan | techno:1", ">= 0"),
    ("jazz:0 | techno:0", "positive"),
    ("jazz:1 | :0.5", "empty"),
])
def test_bad_mixes_raise_saying_what_to_do(tiny_full_pipe, text, words):
    with pytest.raises(ValueError, match=words):
        tiny_full_pipe(text, duration_s=0.5, seed=0)


@pytest.mark.parametrize("kwargs, words", [
    (dict(prompts={"a": 1.0, "b": -1.0}), ">= 0"),
    (dict(prompts={"a|b": 1.0}), "cannot contain"),
    (dict(prompts={}), "dict of prompt"),
    (dict(prompts=["a", "b"]), "dict of prompt"),
    (dict(prompts={"a": "x"}), "must be a number"),
    (dict(prompt="a calm piano piece", prompts={"a": 1.0}), "either"),
    (dict(), "Describe the music"),
    (dict(prompt="a piano", negative_prompt=3), "negative_prompt must be text"),
    (dict(prompt="a piano", negative_prompt="x" * 10_000), "negative_prompt: The prompt has 10,000 characters"),
    (dict(prompt="a piano", negative_prompt="drums:0 | piano:0"), "negative_prompt: .*positive"),
])
def test_bad_prompt_arguments_raise(tiny_full_pipe, kwargs, words):
    with pytest.raises(ValueError, match=words):
        tiny_full_pipe(duration_s=0.5, seed=0, **kwargs)


def test_weights_one_and_zero_equal_the_single_prompt_and_dict_equals_text(tiny_full_pipe):
    pipe = tiny_full_pipe
    single = pipe("a calm piano piece", duration_s=1.0, seed=3)
    assert _same(pipe(prompts={"a calm piano piece": 1.0, "loud techno": 0.0}, duration_s=1.0, seed=3), single)
    assert _same(pipe("a calm piano piece:1 | loud techno:0", duration_s=1.0, seed=3), single)
    mixed = pipe("a calm piano piece:0.7 | loud techno:0.3", duration_s=1.0, seed=3)
    assert _same(pipe(prompts={"a calm piano piece": 0.7, "loud techno": 0.3}, duration_s=1.0, seed=3), mixed)
    assert isinstance(mixed.mulan_score, float)


def test_a_mix_lies_on_the_sphere_between_its_prompts_nearer_the_heavier(tiny_full_pipe):
    pipe = tiny_full_pipe
    a, b = (pipe.encode_conditioning(t).text_embeddings[0] for t in ("a calm piano piece", "loud techno"))
    for wa, wb in ((0.8, 0.2), (0.2, 0.8)):
        mix = pipe.encode_conditioning(f"a calm piano piece:{wa} | loud techno:{wb}").text_embeddings[0]
        assert mix.norm().item() == pytest.approx(1.0, abs=1e-5)
        assert (mix @ a > mix @ b) == (wa > wb)
        assert min(mix @ a, mix @ b) > a @ b - 1e-6  # between the two: nearer each than they are to each other


def test_the_prompt_reader_reads_the_heaviest_prompt(tiny_full_pipe):
    pipe = tiny_full_pipe

    def tempo(text):
        request = pipe.check_inputs(text, duration_s=1.0, seed=0)
        return pipe.resolve_conditioning(request).tempo_bpm[0]

    assert tempo("a slow piano ballad:0.7 | a fast techno track:0.3") == tempo("a slow piano ballad")
    assert tempo("a slow piano ballad:0.3 | a fast techno track:0.7") == tempo("a fast techno track")
    assert tempo("a slow piano ballad:0.3 | a fast techno track:0.7") > tempo("a slow piano ballad")


def test_negative_prompt_replaces_the_null_conditioning_of_guidance(tiny_full_pipe):
    pipe = tiny_full_pipe
    plain = pipe("a rock song", duration_s=1.0, seed=4)
    assert _same(pipe("a rock song", duration_s=1.0, seed=4, negative_prompt=""), plain)  # empty: plain CFG
    negative = pipe("a rock song", duration_s=1.0, seed=4, negative_prompt="drums")
    assert not torch.equal(negative.tokens.semantic, plain.tokens.semantic)
    unguided = dict(duration_s=1.0, seed=4, guidance_scale=1.0)
    assert _same(pipe("a rock song", negative_prompt="", **unguided), pipe("a rock song", **unguided))


def test_negative_prompt_moves_the_prompts_mulan_tokens_away_from_it(tiny_full_pipe):
    pipe, mulan = tiny_full_pipe, tiny_full_pipe.components.mulan

    def cond(**kwargs):
        return pipe.resolve_conditioning(pipe.check_inputs("a rock song", duration_s=1.0, seed=4, **kwargs))

    plain, negative = cond(), cond(negative_prompt="drums")
    assert torch.equal(negative.text_embeddings, plain.text_embeddings)  # the prompt's own (its MuLan score)
    assert torch.equal(plain.mulan_tokens, mulan.tokenize(plain.text_embeddings))
    e, e_neg = plain.text_embeddings, mulan.embed_text(["drums"])
    away = torch.nn.functional.normalize(e - NEGATIVE_STEER * e_neg, dim=-1)
    assert (away @ e_neg.T).item() < (e @ e_neg.T).item()
    assert torch.equal(negative.mulan_tokens, mulan.tokenize(away))
    assert not torch.equal(negative.mulan_tokens, plain.mulan_tokens)
    # so it acts without guidance too, on every stage that hears MuLan (the coarse one as well)
    unguided = dict(duration_s=1.0, seed=4, guidance_scale=1.0, num_candidates=1)
    kept = pipe("a rock song", **unguided)
    assert not torch.equal(pipe("a rock song", negative_prompt="drums", **unguided).tokens.coarse, kept.tokens.coarse)


def test_stream_takes_weights_and_a_negative_prompt(tiny_full_pipe):
    pipe = tiny_full_pipe
    kwargs = dict(duration_s=1.0, chunk_s=0.5, seed=2, negative_prompt="drums")
    by_dict = list(pipe.stream(prompts={"jazz trio": 0.7, "techno": 0.3}, **kwargs))
    by_text = list(pipe.stream("jazz trio:0.7 | techno:0.3", **kwargs))
    assert torch.equal(torch.cat([c.audio for c in by_dict]), torch.cat([c.audio for c in by_text]))
    plain = list(pipe.stream("jazz trio:0.7 | techno:0.3", **{**kwargs, "negative_prompt": None}))
    assert not torch.equal(by_text[-1].tokens.semantic, plain[-1].tokens.semantic)


def test_the_critic_avoids_what_a_negative_prompt_names():
    from musiclm_studio.candidates import avoiding

    sizes = {"drums": 2, "lead_family": 3, "mode": 2}
    asked = {"drums": torch.tensor([0.1, 0.9]), "lead_family": torch.tensor([0.8, 0.2, 0.0]),
             "mode": torch.tensor([0.3, 0.3, 0.4])}  # mode: + unstated
    avoid = {"drums": torch.tensor([0.0, 1.0]), "lead_family": torch.tensor([1.0, 0.0, 0.0]),
             "mode": torch.tensor([0.0, 1.0, 0.0])}
    out = avoiding(asked, avoid, ("drums",), sizes)
    assert torch.allclose(out["drums"], torch.tensor([1.0, 0.0]))  # drums asked, 'drums' negative: none
    assert out["lead_family"] is asked["lead_family"] and out["mode"] is asked["mode"]  # not named: unchanged
    family = avoiding(asked, avoid, ("lead_family",), sizes)["lead_family"]
    assert torch.allclose(family, torch.tensor([0.0, 1.0, 0.0]))  # the prompt's other family
    only = avoiding({**asked, "lead_family": torch.tensor([1.0, 0.0, 0.0])}, avoid, ("lead_family",), sizes)
    assert torch.allclose(only["lead_family"], torch.tensor([0.0, 0.5, 0.5]))  # asked just that: any other
    mode = avoiding(asked, avoid, ("mode",), sizes)["mode"]
    assert torch.allclose(mode, torch.tensor([1.0, 0.0, 0.0]))  # stated now: the unstated slot is emptied


def test_a_negative_prompt_carries_what_it_names_to_the_critic(tiny_full_pipe):
    out = tiny_full_pipe("a rock song", duration_s=1.0, seed=4, num_candidates=2, negative_prompt="drums")
    assert out.conditioning.negative_attributes == ("drums",) and out.chosen_by == "critic"
    assert out.conditioning.negative_text_features.shape[0] == 1
    plain = tiny_full_pipe("a rock song", duration_s=1.0, seed=4, num_candidates=2)
    assert plain.conditioning.negative_attributes == () and plain.conditioning.negative_text_features is None
