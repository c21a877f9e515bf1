"""PyTorch datasets over a built corpus and over a user's own folder of music.

``CorpusDataset`` reads one split of a corpus folder (``metadata.jsonl`` layout) and yields
``{"audio": [S] float32, "caption": str, "row": dict}``; with ``seconds`` set it returns random
crops (zero-padded when a clip is shorter) drawn from its own seeded generator, and with
``cache=True`` it keeps decoded audio in memory. An optional ``transform`` (e.g. a feature or
tokenizer function) is applied to the crop and cached per clip when ``seconds`` is None.
``UserAudioFolder`` (from ``user_data``) covers arbitrary user folders with caption files.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import torch

from ..audio import prepare_audio
from .builder import read_metadata
from .user_data import UserAudioFolder, to_corpus  # noqa: F401 - re-exported

SPLITS = ("train", "valid", "test", "heldout")  # heldout: corpus v2's held-out world, never trained on


class CorpusDataset(torch.utils.data.Dataset):
    """One split of a built corpus."""

    def __init__(self, folder: str, split: Optional[str] = "train", seconds: Optional[float] = None,
                 sample_rate: int = 24_000, seed: int = 0, cache: bool = False,
                 transform: Optional[Callable[[torch.Tensor], object]] = None):
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}.")
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be positive (or None for whole clips).")
        self.rows = [r for r in read_metadata(folder) if split is None or r.get("split") == split]
        if not self.rows:
            raise ValueError(f"No clips of split {split!r} in {folder!r}. Build one with: "
                             "musiclm-studio corpus build --out DIR --clips N")
        self.folder, self.seconds, self.sample_rate = folder, seconds, sample_rate
        self.cache, self.transform = cache, transform
        self.generator = torch.Generator().manual_seed(seed)
        self._audio: dict[int, torch.Tensor] = {}
        self._features: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def load(self, i: int) -> torch.Tensor:
        """The whole clip ``i`` as float32 [S] at ``sample_rate``."""
        if i in self._audio:
            return self._audio[i]
        path = os.path.join(self.folder, self.rows[i]["path"])
        audio = prepare_audio(path, target_sample_rate=self.sample_rate, name=self.rows[i]["path"]).audio
        if self.cache:
            self._audio[i] = audio
        return audio

    def crop(self, audio: torch.Tensor) -> torch.Tensor:
        """A random ``seconds``-long crop [S] (zero-padded if the clip is shorter)."""
        size = int(round(self.seconds * self.sample_rate))
        start = int(torch.randint(0, max(1, audio.numel() - size + 1), (1,), generator=self.generator))
        piece = audio[start: start + size]
        return torch.nn.functional.pad(piece, (0, size - piece.numel()))

    def __getitem__(self, i: int) -> dict:
        row = self.rows[i]
        if self.seconds is None and self.transform is not None and i in self._features:
            return {"audio": self.load(i), "caption": row["caption"], "row": row, "features": self._features[i]}
        audio = self.load(i)
        if self.seconds is not None:
            audio = self.crop(audio)
        item = {"audio": audio, "caption": row["caption"], "row": row}
        if self.transform is not None:
            item["features"] = self.transform(audio)
            if self.seconds is None:
                self._features[i] = item["features"]
        return item


def collate(items: list[dict]) -> dict:
    """Stack equal-length crops into a batch {audio [B, S], caption [B], row [B]}."""
    return {"audio": torch.stack([it["audio"] for it in items]), "caption": [it["caption"] for it in items],
            "row": [it["row"] for it in items]}
