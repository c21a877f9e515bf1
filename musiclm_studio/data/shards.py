"""Sharded corpora: WebDataset tar shards that stream, split per rank and per worker.

A corpus too big to list or hold in memory is written as tar shards (the WebDataset layout: one
``<key>.flac`` of 16-bit mono audio and one ``<key>.json`` of its metadata row per clip, a few
hundred clips a shard) next to an index that names the shards of every split and their clip
counts, so a reader never lists a folder::

    <corpus>/shards/index.json          {"format": "webdataset", "sample_rate": 24000,
                                          "splits": {"train": [{"url": "train-000000.tar", "clips": 256}, ...]}}
    <corpus>/shards/train-000000.tar    000000.flac, 000000.json, 000001.flac, ...

Why WebDataset and not Hugging Face ``datasets``: the shards are plain tar files that any tool
reads and a trainer streams sequentially from local disk, object storage or HTTP; the
``webdataset`` package is pure Python (braceexpand, numpy, pyyaml) and installs offline next to
any torch, while ``datasets`` brings pyarrow, pandas and fsspec and wants its own cache layout.

``stream`` reads one split: the shards are dealt to ranks first (``rank::world``), then to the
workers of a ``DataLoader`` (``webdataset.split_by_worker``), so every clip is read by exactly one
worker of one rank per epoch. ``StreamingCropSampler`` turns such a stream into random training
crops for the codec trainer.
"""

from __future__ import annotations

import io
import json
import os
import random
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

SHARD_DIR = "shards"
INDEX = "index.json"


def index_path(folder: str) -> str:
    return os.path.join(folder, SHARD_DIR, INDEX)


def is_sharded(folder: str) -> bool:
    """Whether ``folder`` holds a sharded corpus (``shards/index.json``)."""
    return os.path.isfile(index_path(folder))


def read_index(folder: str) -> dict:
    if not is_sharded(folder):
        raise ValueError(f"{folder!r} holds no sharded corpus (no {SHARD_DIR}/{INDEX}): write one with "
                         "musiclm-studio corpus shard --data CORPUS --out DIR")
    with open(index_path(folder), encoding="utf-8") as f:
        return json.load(f)


def _flac_bytes(audio: torch.Tensor, sample_rate: int) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    clipped = np.clip(audio.detach().float().cpu().numpy(), -1.0, 1.0)
    sf.write(buffer, clipped, sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_shards(clips: Iterable[tuple[dict, torch.Tensor]], out: str, sample_rate: int,
                 clips_per_shard: int = 256) -> dict:
    """Write (row, mono audio [S]) pairs as shards of each row's ``split`` (default "train") under
    ``out/shards``; returns the index. Rows keep their fields, less any audio path."""
    import webdataset as wds

    if clips_per_shard < 1:
        raise ValueError(f"--clips-per-shard must be at least 1 (got {clips_per_shard}).")
    folder = os.path.join(out, SHARD_DIR)
    if os.path.isfile(os.path.join(folder, INDEX)):
        raise ValueError(f"{folder!r} already holds shards; choose a new --out.")
    os.makedirs(folder, exist_ok=True)
    writers: dict[str, "wds.TarWriter"] = {}
    splits: dict[str, list[dict]] = {}
    count = 0
    for row, audio in clips:
        split = row.get("split") or "train"
        shards = splits.setdefault(split, [])
        if not shards or shards[-1]["clips"] >= clips_per_shard:
            if split in writers:
                writers[split].close()
            shards.append({"url": f"{split}-{len(shards):06d}.tar", "clips": 0})
            writers[split] = wds.TarWriter(os.path.join(folder, shards[-1]["url"]))
        key = f"{count:09d}"
        meta = {k: v for k, v in row.items() if k not in ("path", "audio", "file", "audio_path")}
        writers[split].write({"__key__": key, "flac": _flac_bytes(audio, sample_rate), "json": meta})
        shards[-1]["clips"] += 1
        count += 1
    for writer in writers.values():
        writer.close()
    if not count:
        raise ValueError("No clips to write: the corpus or folder holds no usable audio.")
    index = {"format": "webdataset", "sample_rate": sample_rate, "clips": count, "splits": splits}
    with open(os.path.join(folder, INDEX), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1)
    return index


def shard_corpus(corpus: str, out: str, clips_per_shard: int = 256, sample_rate: int = 24_000) -> dict:
    """Write a corpus folder (``metadata.jsonl`` + audio, or a folder of audio files) as shards."""
    from ..audio import prepare_audio
    from .corpus_files import corpus_entries

    def clips() -> Iterator[tuple[dict, torch.Tensor]]:
        for row in corpus_entries(corpus):
            try:
                yield row, prepare_audio(row["path"], target_sample_rate=sample_rate, allow_silent=False).audio
            except ValueError as error:
                print(f"skipping {row['path']}: {error}")

    return write_shards(clips(), out, sample_rate, clips_per_shard)


def shard_urls(folder: str, split: str) -> list[str]:
    """Paths of the shards of ``split``, in index order."""
    index = read_index(folder)
    if split not in index["splits"]:
        raise ValueError(f"The sharded corpus {folder!r} has no split {split!r}; it has {sorted(index['splits'])}.")
    return [os.path.join(folder, SHARD_DIR, shard["url"]) for shard in index["splits"][split]]


def split_clips(folder: str, split: str) -> int:
    """How many clips ``split`` holds (from the index: nothing is listed or read)."""
    return sum(shard["clips"] for shard in read_index(folder)["splits"].get(split, []))


def rank_shards(urls: list[str], rank: int, world: int) -> list[str]:
    """This rank's shards: every ``world``-th from ``rank`` (each rank needs at least one)."""
    if len(urls) < world:
        raise ValueError(f"{len(urls)} shards cannot feed {world} ranks: write the corpus with a smaller "
                         "--clips-per-shard so that every rank gets at least one shard.")
    return urls[rank::world]


def _decode(sample: dict, sample_rate: int) -> dict:
    import soundfile as sf

    from ..audio import prepare_audio

    audio, rate = sf.read(io.BytesIO(sample["flac"]), dtype="float32")
    row = {**json.loads(sample["json"]), "key": sample["__key__"]}
    return {"key": sample["__key__"], "row": row,
            "audio": prepare_audio(audio, rate, target_sample_rate=sample_rate, name=sample["__key__"]).audio}


def stream(folder: str, split: str, sample_rate: int, rank: int = 0, world: int = 1, epoch: Optional[int] = None,
           shuffle_buffer: int = 0, seed: int = 0):
    """An iterable dataset of {"key", "audio" [S] float32, "row"} over this rank's shards of ``split``,
    split again between the workers of a ``DataLoader``. With ``epoch`` the rank's shards are visited
    in an order drawn from (seed, epoch), and ``shuffle_buffer`` > 0 shuffles clips within a buffer."""
    import webdataset as wds

    urls = rank_shards(shard_urls(folder, split), rank, world)
    if epoch is not None:
        random.Random(seed * 1_000_003 + epoch).shuffle(urls)
    stages = [wds.SimpleShardList(urls), wds.split_by_worker, wds.tarfile_to_samples()]
    if shuffle_buffer:
        stages.append(wds.shuffle(shuffle_buffer, rng=random.Random(seed + 7 * (epoch or 0))))
    stages.append(wds.map(lambda sample: _decode(sample, sample_rate)))
    return wds.DataPipeline(*stages)


def read_shard(url: str, sample_rate: int) -> tuple[list[dict], list[torch.Tensor]]:
    """The rows and mono float16 clips [S] of one shard, in order."""
    import webdataset as wds

    items = list(wds.DataPipeline(wds.SimpleShardList([url]), wds.tarfile_to_samples(),
                                  wds.map(lambda sample: _decode(sample, sample_rate))))
    return [item["row"] for item in items], [item["audio"].half() for item in items]


def load_split(folder: str, split: str, sample_rate: int, limit: Optional[int] = None, rank: int = 0,
               world: int = 1) -> tuple[list[dict], list[torch.Tensor]]:
    """A sharded split held in memory, as ``train.data.load_split`` holds a folder's: the rows and clips of
    its first ``limit`` clips (shards read in order until there are enough), every ``world``-th from ``rank``."""
    rows, clips = [], []
    for url in shard_urls(folder, split):
        if limit and len(rows) >= limit:
            break
        more_rows, more_clips = read_shard(url, sample_rate)
        rows, clips = rows + more_rows, clips + more_clips
    rows, clips = rows[: limit or None], clips[: limit or None]
    return rows[rank::world], clips[rank::world]


def split_rows(folder: str, split: str) -> list[dict]:
    """The metadata rows of a sharded split, in order (the audio is read past, not decoded)."""
    import webdataset as wds

    if split not in read_index(folder)["splits"]:
        return []
    samples = wds.DataPipeline(wds.SimpleShardList(shard_urls(folder, split)), wds.tarfile_to_samples())
    return [{**json.loads(sample["json"]), "key": sample["__key__"]} for sample in samples]


class StreamingCropSampler:
    """Random crops [B, crop] of a sharded split, streamed by this rank (epoch after epoch, shards
    reshuffled each time) through ``workers`` DataLoader workers; one crop per streamed clip, short
    clips zero-padded. Only a shuffle buffer of clips is in memory."""

    def __init__(self, folder: str, split: str, sample_rate: int, crop: int, seed: int = 0, rank: int = 0,
                 world: int = 1, workers: int = 0, shuffle_buffer: int = 64):
        self.folder, self.split, self.sample_rate, self.crop = folder, split, sample_rate, crop
        self.rank, self.world, self.workers, self.shuffle_buffer = rank, world, workers, shuffle_buffer
        self.seed, self.epoch = seed, 0
        self.generator = torch.Generator().manual_seed(seed + 1000 * rank)
        self._clips = self._epochs()

    def _epochs(self) -> Iterator[torch.Tensor]:
        while True:
            data = stream(self.folder, self.split, self.sample_rate, self.rank, self.world, self.epoch,
                          self.shuffle_buffer, self.seed)
            loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=self.workers)
            empty = True
            for item in loader:
                empty = False
                yield item["audio"]
            if empty:
                raise ValueError(f"The {self.split} shards of {self.folder!r} hold no clips for rank {self.rank}.")
            self.epoch += 1

    def batch(self, size: int, rows: slice = slice(None)) -> torch.Tensor:
        """Crops [len(rows of size), crop]: this rank's rows of a global batch of ``size``."""
        count = len(range(size)[rows])
        out = torch.zeros(count, self.crop)
        for i in range(count):
            clip = next(self._clips)
            start = int(torch.randint(0, max(1, clip.numel() - self.crop + 1), (1,), generator=self.generator))
            piece = clip[start: start + self.crop].float()
            out[i, : piece.numel()] = piece
        return out
