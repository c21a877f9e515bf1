"""A decoder-only Transformer (nanoGPT style) with rotary positions and a KV cache.

Pre-norm blocks of causal self-attention and a GELU MLP. Rotary position embeddings keep
the model free of a fixed maximum length, and the KV cache is preallocated so that one
sampling step costs one token's worth of compute. ``forward(x, cache)`` runs on embeddings:
the stage LMs own their token embeddings and output heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Preallocated keys and values for every layer: [B, H, T_max, Dh] each."""

    def __init__(self, n_layers: int, batch: int, n_heads: int, head_dim: int, max_len: int, device, dtype):
        shape = (batch, n_heads, max_len, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.length = 0  # tokens already stored
        self.max_len = max_len

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v [B, H, T, Dh] after the cached tokens; return everything so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise RuntimeError(f"KV cache overflow: {end} > {self.max_len} tokens")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def fill_repeated(self, source: "KVCache", times: int) -> None:
        """Take ``source``'s tokens, each of its rows ``times`` times in a row (row r here is source row
        r // times): a prefix shared by groups of rows is run once per group and copied."""
        n = source.length
        for mine, theirs in ((self.keys, source.keys), (self.values, source.values)):
            for layer, stored in enumerate(theirs):
                mine[layer][:, :, :n] = stored[:, :, :n].repeat_interleave(times, 0)
        self.length = n


def rotary_tables(positions: torch.Tensor, head_dim: int, base: float = 10_000.0):
    """cos / sin tables [T, Dh/2] for integer positions [T]."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim))
    angles = positions.float()[:, None] * inv_freq[None]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: [B, H, T, Dh]; rotate channel pairs (x1, x2) by the position's angle
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float, causal: bool = True):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads, self.head_dim, self.dropout, self.causal = n_heads, d_model // n_heads, dropout, causal
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, cos, sin, cache: KVCache | None = None, layer: int = 0):
        # x: [B, T, D] -> [B, T, D]
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)  # [B, H, T, Dh]
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                               dropout_p=self.dropout if self.training else 0.0)
        elif T == 1:  # one new query (a sampling step) sees every key: no mask to build
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            # new queries see every cached key plus the causal part of their own block
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float, dropout: float, causal: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout, causal)
        self.norm2 = nn.LayerNorm(d_model)
        hidden = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, d_model), nn.Dropout(dropout))

    def forward(self, x, cos, sin, cache=None, layer=0):
        x = x + self.attn(self.norm1(x), cos, sin, cache, layer)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """Stack of blocks over embeddings [B, T, D]; returns normalised hidden states.

    ``causal=False`` makes a bidirectional encoder (MuLan's audio tower); only causal stacks
    take a KV cache.
    """

    def __init__(self, d_model: int, n_layers: int, n_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 causal: bool = True):
        super().__init__()
        self.d_model, self.n_layers, self.n_heads = d_model, n_layers, n_heads
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio, dropout, causal) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def new_cache(self, batch: int, max_len: int, device, dtype=torch.float32) -> KVCache:
        return KVCache(self.n_layers, batch, self.n_heads, self.d_model // self.n_heads, max_len, device, dtype)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        # x: [B, T, D] embeddings of the new tokens (all tokens when there is no cache)
        start = cache.length if cache is not None else 0
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        cos, sin = rotary_tables(positions, self.d_model // self.n_heads)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i)
        if cache is not None:
            cache.length += x.shape[1]
        return self.norm(x)
