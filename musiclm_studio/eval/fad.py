"""Fréchet distance between two sets of embeddings (FAD when the embeddings come from audio).

Each set [N, D] is summarised by a Gaussian (mean, covariance); the distance between
N(m1, S1) and N(m2, S2) is ``|m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`` (Heusel et
al., 2017; Kilgour et al., 2019 for audio). The matrix square root is taken with symmetric
eigendecompositions, which stay real and stable when a covariance is singular (fewer clips
than dimensions, common in quick runs); tiny negative eigenvalues from round-off are clipped.
Here the embeddings are MuLan audio-tower embeddings (unit vectors, 128-d in the shipped
model), so values are on a different scale from the VGGish FAD reported in papers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class GaussianStats:
    """Mean [D] and covariance [D, D] of a set of embeddings."""

    mean: np.ndarray
    cov: np.ndarray
    count: int


def _as_matrix(embeddings) -> np.ndarray:
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().cpu().double().numpy()
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"FAD needs at least 2 embeddings as an [N, D] array; got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError("FAD embeddings contain NaN or infinite values.")
    return array


def gaussian_stats(embeddings) -> GaussianStats:
    """Mean and (unbiased) covariance of embeddings [N, D]."""
    array = _as_matrix(embeddings)
    return GaussianStats(array.mean(0), np.cov(array, rowvar=False).reshape(array.shape[1], -1), array.shape[0])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two Gaussians (0 for identical statistics)."""
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"Embedding sizes differ: {a.mean.shape[0]} vs {b.mean.shape[0]}.")
    root_a = _sqrt_psd(a.cov)
    middle = root_a @ b.cov @ root_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def fad(embeddings_a, embeddings_b) -> float:
    """Fréchet distance between two sets of embeddings [N, D] and [M, D]."""
    return frechet_distance(gaussian_stats(embeddings_a), gaussian_stats(embeddings_b))
