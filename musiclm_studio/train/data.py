"""Training audio held in memory, and random crops of it.

``load_clips`` reads one split of a built corpus (``metadata.jsonl`` with a ``split`` and a
relative audio path per line) or every audio file of a plain folder, as mono float16 at the
model's sample rate (10 s at 24 kHz is 480 kB, so a 1,000-clip corpus fits in ~0.5 GB).
``load_split`` can give a rank every ``world``-th clip; the trainers instead give every rank the
whole split and a slice of each global batch (``common.rank_rows``), and stream sharded corpora
(``data.shards``) when a split does not fit in memory. ``CropSampler`` draws random fixed-length
crops with its own generator, so a resumed run does not replay the same batches.
"""

from __future__ import annotations

import os
from typing import Optional

import torch

from ..audio import prepare_audio

from ..data.corpus_files import AUDIO_EXTENSIONS, PATH_KEYS, corpus_entries  # noqa: F401 (read here too)


def load_split(folder: str, split: Optional[str], sample_rate: int, limit: Optional[int] = None,
               rank: int = 0, world: int = 1) -> tuple[list[dict], list[torch.Tensor]]:
    """Metadata rows and mono float16 audio [S] of one split (of its first ``limit`` clips, every ``world``-th
    from ``rank``), from a corpus folder or a sharded corpus (``data.shards``, read shard by shard).

    Unreadable or silent files are skipped with a printed reason; rows and clips stay aligned.
    """
    from ..data import shards

    if shards.is_sharded(folder):
        if split not in shards.read_index(folder)["splits"]:
            raise ValueError(f"The sharded corpus {folder!r} has no split {split!r}.")
        return shards.load_split(folder, split, sample_rate, limit, rank, world)
    entries = corpus_entries(folder, split)
    if limit:
        entries = entries[:limit]
    entries = entries[rank::world]
    if not entries:
        raise ValueError(f"No training audio found in {folder!r} (split {split!r}). Build a corpus first: "
                         "musiclm-studio corpus build --out DIR --clips N")
    return load_rows(entries, sample_rate)


def load_rows(entries: list[dict], sample_rate: int) -> tuple[list[dict], list[torch.Tensor]]:
    """The audio of corpus rows (``corpus_entries``) as mono float16 [S]; unreadable or silent files are
    skipped with a printed reason (rows and clips stay aligned)."""
    rows, clips = [], []
    for row in entries:
        try:
            clips.append(prepare_audio(row["path"], target_sample_rate=sample_rate, allow_silent=False).audio.half())
            rows.append(row)
        except ValueError as error:
            print(f"skipping {row['path']}: {error}")
    return rows, clips


def load_clips(folder: str, split: Optional[str], sample_rate: int, limit: Optional[int] = None,
               rank: int = 0, world: int = 1) -> list[torch.Tensor]:
    """Mono float16 tensors [S] of one split (see ``load_split``)."""
    return load_split(folder, split, sample_rate, limit, rank, world)[1]


class CropSampler:
    """Random crops [B, crop] from a list of clips (short clips are zero-padded)."""

    def __init__(self, clips: list[torch.Tensor], crop: int, seed: int = 0):
        self.clips, self.crop = clips, crop
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self, size: int, rows: slice = slice(None)) -> torch.Tensor:
        """Crops [B, crop] of a batch of ``size``, or only its ``rows`` (a rank's slice: the draws are the same)."""
        picks = torch.randint(0, len(self.clips), (size,), generator=self.generator).tolist()
        starts = [int(torch.randint(0, max(1, self.clips[k].numel() - self.crop + 1), (1,), generator=self.generator))
                  for k in picks]
        chosen = list(zip(picks, starts))[rows]
        out = torch.zeros(len(chosen), self.crop)
        for i, (k, start) in enumerate(chosen):
            piece = self.clips[k][start: start + self.crop].float()
            out[i, : piece.numel()] = piece
        return out
