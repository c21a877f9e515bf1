"""Building blocks: RVQ, Transformer + KV cache, sampling, delay pattern."""

import pytest
import torch

from musiclm_studio.modules.rvq import ResidualVectorQuantizer, kmeans
from musiclm_studio.modules.sampling import filter_logits, guided_logits, sample
from musiclm_studio.modules.token_layout import apply_delay, delay_mask, revert_delay
from musiclm_studio.modules.transformer import Transformer


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = kmeans(x, 3, generator=g)
    assert torch.cdist(centres, found).min(1).values.max() < 0.5


def test_rvq_more_levels_reconstruct_better_and_codes_in_range():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dim=8, num_quantizers=4, codebook_size=16)
    x = torch.randn(512, 8)
    rvq.fit(x)
    codes = rvq.encode(x.T[None])  # [1, 4, 512]
    assert codes.shape == (1, 4, 512) and codes.min() >= 0 and codes.max() < 16
    errors = [(rvq.decode(codes[:, :k]) - x.T[None]).pow(2).mean().item() for k in range(1, 5)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert rvq.usage(codes).min() > 0.5


def test_rvq_training_pass_has_straight_through_gradient_and_dead_code_refresh():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dim=4, num_quantizers=2, codebook_size=8).train()
    x = torch.randn(2, 4, 64, requires_grad=True)
    rvq(x)  # first batch: k-means initialisation
    q, codes, commit = rvq(x)
    q.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))
    assert codes.shape[0] == 2 and codes.shape[2] == 64 and commit.item() >= 0


def test_kv_cache_matches_full_recompute():
    torch.manual_seed(0)
    model = Transformer(d_model=32, n_layers=2, n_heads=4).eval()
    x = torch.randn(2, 10, 32)
    full = model(x)
    cache = model.new_cache(2, 10, x.device)
    prefill = model(x[:, :6], cache)
    steps = [model(x[:, t: t + 1], cache) for t in range(6, 10)]
    torch.testing.assert_close(torch.cat([prefill, *steps], 1), full, atol=1e-5, rtol=1e-5)


def test_sampling_filters_and_guidance():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).sum() == 2
    nucleus = filter_logits(logits, top_p=0.5)
    assert torch.isfinite(nucleus).sum() == 1 and nucleus.argmax() == 1
    cond, uncond = torch.randn(3, 16), torch.randn(3, 16)
    torch.testing.assert_close(guided_logits(cond, uncond, 1.0).softmax(-1), cond.softmax(-1))
    sharper = guided_logits(cond, uncond, 3.0).softmax(-1)
    assert not torch.allclose(sharper, cond.softmax(-1))
    assert sample(logits, temperature=0).item() == 1
    a = sample(logits.expand(100, -1), 1.0, generator=torch.Generator().manual_seed(3))
    b = sample(logits.expand(100, -1), 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_sampling_draws_follow_the_filtered_distribution():
    logits = torch.tensor([2.0, 0.0, 1.0, -1.0, 3.0, float("-inf")]).expand(20_000, -1)
    draws = sample(logits, 1.0, top_k=4, generator=torch.Generator().manual_seed(0))
    probs = filter_logits(logits[:1], top_k=4).softmax(-1)[0]
    counts = torch.bincount(draws, minlength=6) / draws.numel()
    assert counts[3] == 0 and counts[5] == 0  # outside the top 4, and impossible
    torch.testing.assert_close(counts, probs, atol=0.015, rtol=0)
    # ties at the k-th value are all kept, as with topk's threshold
    assert torch.isfinite(filter_logits(torch.tensor([[1.0, 1.0, 1.0, 0.0]]), top_k=2)).sum() == 3


def test_delay_pattern_round_trip():
    codes = torch.arange(24).view(1, 4, 6)
    delayed = apply_delay(codes, pad=-1)
    assert delayed.shape == (1, 4, 9)
    assert delayed[0, 3, 3].item() == codes[0, 3, 0].item() and delayed[0, 3, 0].item() == -1
    assert torch.equal(revert_delay(delayed), codes)
    assert delay_mask(4, 6).sum() == 24


def test_per_stage_settings_take_one_three_or_some_stages():
    from musiclm_studio.sampling_args import DEFAULT_GUIDANCE, check_sampling_args

    def guidance(value):
        return check_sampling_args(10.0, None, 250, None, value, 1, 60.0).guidance

    assert guidance(None) == DEFAULT_GUIDANCE == {"semantic": 3.0, "coarse": 1.0, "fine": 1.0}
    assert guidance(2) == {"semantic": 2.0, "coarse": 2.0, "fine": 2.0}
    assert guidance((4, 2, 1)) == {"semantic": 4.0, "coarse": 2.0, "fine": 1.0}
    assert guidance({"coarse": 2.5}) == {"semantic": 3.0, "coarse": 2.5, "fine": 1.0}
    args = check_sampling_args(10.0, (1.0, 0.9, 0.5), 250, None, (4, 2, 1), 1, 60.0)
    assert args.for_stage("coarse")["guidance_scale"] == 2.0 and args.for_stage("coarse")["temperature"] == 0.9
    for bad, message in (((1, 2), "one number or three"), ({"drums": 2}, "Unknown stage"), (11, "between")):
        with pytest.raises(ValueError, match=message):
            guidance(bad)
