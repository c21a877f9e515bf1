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

import glob
import json
import os
from typing import Optional

import torch

from ..audio import prepare_audio

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
PATH_KEYS = ("path", "audio", "file", "audio_path")


def corpus_entries(folder: str, split: Optional[str] = None) -> list[dict]:
    """Metadata rows of a corpus (with an absolute ``path``), or one row per audio file; for a sharded
    corpus (``data.shards``) the rows of ``split`` with their shard ``key`` instead of a path."""
    from ..data.shards import is_sharded, read_index, split_rows

    if is_sharded(folder):
        splits = [split] if split is not None else list(read_index(folder)["splits"])
        return [row for name in splits for row in split_rows(folder, name)]
    meta = os.path.join(folder, "metadata.jsonl")
    if not os.path.isfile(meta):
        files = sorted(f for f in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                       if f.lower().endswith(AUDIO_EXTENSIONS))
        return [{"path": f} for f in files]
    rows = []
    with open(meta, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if split is not None and row.get("split") != split:
                continue
            key = next((k for k in PATH_KEYS if k in row), None)
            if key is None:
                raise ValueError(f"{meta}: a row has none of the audio path keys {PATH_KEYS}")
            row["path"] = os.path.join(folder, row[key])
            rows.append(row)
    return rows


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
