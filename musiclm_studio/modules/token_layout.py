"""The delay pattern that lets one Transformer step predict Q codec levels (MusicGen).

Level q of frame t is placed at step t + q, so at every step each level is predicted after
the coarser levels of the same frame were seen at earlier steps. Empty cells hold ``pad``.
A [B, Q, T] grid becomes [B, Q, T + Q - 1] and back.
"""

from __future__ import annotations

import torch


def apply_delay(codes: torch.Tensor, pad: int) -> torch.Tensor:
    """[B, Q, T] -> [B, Q, T + Q - 1] with level q shifted right by q steps."""
    B, Q, T = codes.shape
    out = codes.new_full((B, Q, T + Q - 1), pad)
    for q in range(Q):
        out[:, q, q:q + T] = codes[:, q]
    return out


def revert_delay(delayed: torch.Tensor) -> torch.Tensor:
    """[B, Q, T + Q - 1] -> [B, Q, T] (inverse of ``apply_delay``)."""
    B, Q, S = delayed.shape
    T = S - Q + 1
    return torch.stack([delayed[:, q, q:q + T] for q in range(Q)], 1)


def delay_mask(num_levels: int, num_frames: int, device=None) -> torch.Tensor:
    """[Q, T + Q - 1] bool: True where the delayed grid holds a real token."""
    steps = torch.arange(num_frames + num_levels - 1, device=device)[None]
    level = torch.arange(num_levels, device=device)[:, None]
    return (steps >= level) & (steps < level + num_frames)
