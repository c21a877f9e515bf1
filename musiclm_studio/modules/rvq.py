"""Residual vector quantization (SoundStream / EnCodec style) with EMA codebooks.

Each level quantizes the residual the previous levels left. Codebooks are initialised by
k-means on the first training batch, updated by exponential moving averages (no codebook
gradient), and kept alive by replacing dead codes with random vectors from the batch.
Quantizer dropout trains with a random number of levels so that any first k levels decode.
``fit`` builds the whole RVQ by residual k-means on a fixed set of vectors (MuLan's RVQ).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def kmeans(x: torch.Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None) -> torch.Tensor:
    """Plain k-means on [N, D] vectors; returns [k, D] centroids (N < k repeats samples)."""
    n = x.shape[0]
    index = torch.randperm(n, generator=generator, device="cpu")[:k].to(x.device)
    if n < k:
        extra = torch.randint(0, n, (k - n,), generator=generator, device="cpu").to(x.device)
        index = torch.cat([index, extra])
    centroids = x[index].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(-1)  # [N]
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)[:, None]
        filled = counts.squeeze(1) > 0
        centroids[filled] = sums[filled] / counts[filled]
    return centroids


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(tensor)
    return tensor


def _all_gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's [N, D] rows, in rank order (one process: ``x``)."""
    if not _distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def _from_rank0(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (what must agree between ranks: codebooks, the number of levels)."""
    if _distributed():
        dist.broadcast(tensor, 0)
    return tensor


class VectorQuantizer(nn.Module):
    """One codebook of ``codebook_size`` vectors of size ``dim``, updated by EMA."""

    def __init__(self, dim: int, codebook_size: int, decay: float = 0.99, dead_threshold: float = 1.0):
        super().__init__()
        self.codebook_size, self.decay, self.dead_threshold = codebook_size, decay, dead_threshold
        self.register_buffer("codebook", torch.randn(codebook_size, dim) * 0.1)
        self.register_buffer("initialized", torch.tensor(False))
        # EMA statistics are training state, not weights: rebuilt from the codebook on load
        self.register_buffer("ema_count", torch.ones(codebook_size), persistent=False)
        self.register_buffer("ema_sum", self.codebook.clone(), persistent=False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        with torch.no_grad():
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, D] -> [N] nearest code indices."""
        distance = (
            x.pow(2).sum(-1, keepdim=True) - 2 * x @ self.codebook.T + self.codebook.pow(2).sum(-1)[None]
        )
        return distance.argmin(-1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.codebook)

    @torch.no_grad()
    def update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """EMA step on a batch [N, D] with its codes [N]; replaces dead codes from the batch."""
        if not bool(self.initialized):  # under DDP: k-means on every rank's batch, rank 0's result
            self.codebook.copy_(_from_rank0(kmeans(_all_gather(x.float()), self.codebook_size, iters=10)))
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)
            self.initialized.fill_(True)
            return
        onehot_count = _all_reduce(torch.bincount(codes, minlength=self.codebook_size).float())
        batch_sum = _all_reduce(torch.zeros_like(self.ema_sum).index_add_(0, codes, x.float()))
        self.ema_count.mul_(self.decay).add_(onehot_count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(batch_sum, alpha=1 - self.decay)
        count = self.ema_count + 1e-5
        self.codebook.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < self.dead_threshold * (1 - self.decay)
        if dead.any():
            pick = torch.randint(0, x.shape[0], (int(dead.sum()),), device=x.device)
            fresh = _from_rank0(x[pick].float().contiguous())
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh
            self.ema_count[dead] = 1.0


class ResidualVectorQuantizer(nn.Module):
    """``num_quantizers`` levels of ``codebook_size`` codes over ``dim``-d vectors.

    forward(x [B, D, T]) -> (quantized [B, D, T], codes [B, Q, T], commitment loss).
    """

    def __init__(self, dim: int, num_quantizers: int, codebook_size: int, quantizer_dropout: float = 0.0):
        super().__init__()
        self.num_quantizers, self.codebook_size = num_quantizers, codebook_size
        self.quantizer_dropout = quantizer_dropout
        self.levels = nn.ModuleList(VectorQuantizer(dim, codebook_size) for _ in range(num_quantizers))

    def draw_levels(self, levels: int) -> int:
        """Quantizer dropout: ``levels``, or with probability ``quantizer_dropout`` a random prefix length
        (under DDP rank 0's draw: every rank must update as many codebooks)."""
        if self.quantizer_dropout <= 0:
            return levels
        drawn = levels
        if torch.rand(()) < self.quantizer_dropout:
            drawn = int(torch.randint(1, self.num_quantizers + 1, ()))
        return int(_from_rank0(torch.tensor([drawn], device=self.levels[0].codebook.device)))

    def forward(self, x: torch.Tensor, num_levels: int | None = None):
        # x: [B, D, T]; nearest-code search in fp32 even under bf16 autocast
        B, D, T = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._quantize(x.float().permute(0, 2, 1).reshape(-1, D), num_levels, (B, T, D))

    def _quantize(self, flat: torch.Tensor, num_levels: int | None, shape: tuple[int, int, int]):
        B, T, D = shape  # flat: [B*T, D]
        n_q = num_levels or self.num_quantizers
        if self.training:
            n_q = self.draw_levels(n_q)
        residual, quantized, codes = flat, torch.zeros_like(flat), []
        for level in self.levels[:n_q]:
            idx = level.encode(residual.detach())
            if self.training:
                level.update(residual.detach(), idx)
                idx = level.encode(residual.detach())
            q = level.decode(idx)
            quantized = quantized + q
            residual = residual - q.detach()
            codes.append(idx)
        commit = F.mse_loss(flat, quantized.detach())
        quantized = flat + (quantized - flat).detach()  # straight-through estimator
        quantized = quantized.reshape(B, T, D).permute(0, 2, 1)
        codes = torch.stack(codes, 1).reshape(B, T, n_q).permute(0, 2, 1)  # [B, Q, T]
        return quantized, codes, commit

    @torch.no_grad()
    def encode(self, x: torch.Tensor, num_levels: int | None = None) -> torch.Tensor:
        """[B, D, T] -> codes [B, Q, T] (no codebook update)."""
        B, D, T = x.shape
        residual = x.float().permute(0, 2, 1).reshape(-1, D)
        codes = []
        for level in self.levels[: num_levels or self.num_quantizers]:
            idx = level.encode(residual)
            residual = residual - level.decode(idx)
            codes.append(idx)
        return torch.stack(codes, 1).reshape(B, T, -1).permute(0, 2, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, Q', T] with any Q' <= num_quantizers first levels -> [B, D, T]."""
        if codes.shape[1] > self.num_quantizers:
            raise ValueError(f"Got {codes.shape[1]} levels; this quantizer has {self.num_quantizers}.")
        out = sum(self.levels[q].decode(codes[:, q]) for q in range(codes.shape[1]))  # [B, T, D]
        return out.permute(0, 2, 1)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, iters: int = 25, generator: torch.Generator | None = None) -> None:
        """Residual k-means on [N, D] vectors: level q clusters what levels < q left."""
        residual = x.float()
        for level in self.levels:
            centroids = kmeans(residual, self.codebook_size, iters=iters, generator=generator)
            level.codebook.copy_(centroids)
            level.ema_sum.copy_(centroids)
            level.initialized.fill_(True)
            residual = residual - level.decode(level.encode(residual))

    @torch.no_grad()
    def usage(self, codes: torch.Tensor) -> torch.Tensor:
        """Share of each level's codes used in codes [B, Q, T] -> [Q] in [0, 1]."""
        return torch.stack([
            torch.unique(codes[:, q]).numel() / torch.tensor(float(self.codebook_size))
            for q in range(codes.shape[1])
        ])
