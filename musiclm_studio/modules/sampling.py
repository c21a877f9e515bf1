"""Sampling from logits: temperature, top-k, top-p (nucleus) and classifier-free guidance.

All randomness goes through an explicit ``torch.Generator`` so that one seed gives one
result. Temperature 0 means greedy decoding.
"""

from __future__ import annotations

import torch


def guided_logits(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance on log-probabilities: uncond + scale * (cond - uncond).

    At scale 1 this is the conditional distribution (the LMs then skip the unconditional pass).
    """
    cond, uncond = cond.log_softmax(-1), uncond.log_softmax(-1)
    return uncond + scale * (cond - uncond)


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Mask logits [..., V] outside the top-k and outside the top-p probability mass with -inf."""
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) > top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row of logits [..., V] -> [...] (long)."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = logits.softmax(-1).reshape(-1, logits.shape[-1])
    # the generator lives on the CPU so that results do not depend on the device
    draws = torch.multinomial(probs.cpu(), 1, generator=generator).to(logits.device)
    return draws.reshape(logits.shape[:-1])
