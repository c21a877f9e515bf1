"""Fit the semantic tokenizer: ``musiclm-studio train semantic --data CORPUS --out RUN``.

HuBERT's first iteration, on our features: context-stacked chroma + MFCC + onset frames of
the training clips are standardised and clustered by k-means into ``codebook_size`` centroids.
A random subset of frames (``max_frames``) keeps the fit to a minute on a CPU. Under torchrun
each rank computes the features of every ``world``-th clip and the ranks exchange them (in clip
order, so the fit is the one process's), then every rank fits alike and rank 0 writes. The result lands
in ``RUN/last`` (config.json + model.safetensors), and codebook usage on the valid split is
printed and written to ``RUN/metrics.jsonl``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Optional

import torch

from .. import hub
from ..config import preset
from ..models.semantic_tokenizer import SemanticTokenizer
from .common import setup_distributed
from .data import corpus_entries, load_clips, load_split


@dataclass
class SemanticFitConfig:
    out: str
    data: str = "corpus/v1"
    preset: str = "small"
    max_frames: int = 120_000
    iters: int = 25
    seed: int = 0
    max_clips: Optional[int] = None
    device: Optional[str] = None
    onset_bands: Optional[int] = None  # None: the preset's
    onset_weight: Optional[float] = None  # None: the preset's


@torch.no_grad()
def _features(tokenizer: SemanticTokenizer, clips: list[torch.Tensor], device, standardize: bool) -> torch.Tensor:
    return torch.cat([tokenizer.features(c.float().to(device)[None], standardize=standardize)[0] for c in clips])


def _clip_id(row: dict) -> str:
    return row.get("path") or row["key"]  # a folder corpus's file, or a sharded corpus's key


@torch.no_grad()
def _all_features(tokenizer: SemanticTokenizer, run: SemanticFitConfig, device, rank: int, world: int) -> torch.Tensor:
    """Unstandardised feature frames of the training clips, in clip order; under torchrun each rank
    computes every ``world``-th clip's and all ranks receive all of them."""
    rows, clips = load_split(run.data, "train", tokenizer.config.sample_rate, limit=run.max_clips, rank=rank,
                             world=world)
    mine = [(_clip_id(row), _features(tokenizer, [clip], device, False).cpu()) for row, clip in zip(rows, clips)]
    if world == 1:
        return torch.cat([f for _, f in mine]).to(device)
    import torch.distributed as dist

    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    order = {_clip_id(row): n for n, row in enumerate(corpus_entries(run.data, "train"))}
    found = sorted((pair for part in everyone for pair in part), key=lambda pair: order[pair[0]])
    return torch.cat([f for _, f in found]).to(device)


@torch.no_grad()
def fit_semantic(run: SemanticFitConfig) -> SemanticTokenizer:
    device, rank, world = setup_distributed(run.device)
    config = preset(run.preset).semantic_tokenizer
    if run.onset_bands is not None:
        config.onset_bands = run.onset_bands
    if run.onset_weight is not None:
        config.onset_weight = run.onset_weight
    tokenizer = SemanticTokenizer(config).to(device)
    generator = torch.Generator().manual_seed(run.seed)
    start = time.perf_counter()
    frames = _all_features(tokenizer, run, device, rank, world)
    pick = torch.randperm(frames.shape[0], generator=generator)[: run.max_frames].to(device)
    tokenizer.fit(frames[pick], iters=run.iters, generator=generator)
    metrics = {"train_frames": int(frames.shape[0]), "fit_frames": int(pick.numel()),
               "minutes": round((time.perf_counter() - start) / 60, 2)}
    if rank != 0:  # every rank fitted alike; rank 0 writes
        return tokenizer.eval()
    if corpus_entries(run.data, "valid"):
        valid = load_clips(run.data, "valid", config.sample_rate, limit=200)
        tokens = torch.cat([tokenizer(c.float().to(device)[None])[0] for c in valid])
        counts = torch.bincount(tokens.cpu(), minlength=config.codebook_size).float()
        p = counts / counts.sum()
        metrics.update(valid_usage=float((counts > 0).float().mean()),
                       valid_perplexity=float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum())))
    last = os.path.join(run.out, "last")
    hub.save_component(last, config, tokenizer)
    hub.write_json(os.path.join(run.out, "run.json"), asdict(run))
    with open(os.path.join(run.out, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(metrics) + "\n")
    print(f"semantic tokenizer: {metrics}")
    return tokenizer.eval()
