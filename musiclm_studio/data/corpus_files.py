"""The rows of a corpus folder: ``metadata.jsonl`` (a split and an audio path per line), a folder of
audio files, or a sharded corpus (``data.shards``). Light on purpose: trainers and evaluations read it."""

from __future__ import annotations

import glob
import json
import os
from typing import Optional

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
PATH_KEYS = ("path", "audio", "file", "audio_path")


def corpus_entries(folder: str, split: Optional[str] = None) -> list[dict]:
    """Metadata rows of a corpus (with an absolute ``path``), or one row per audio file; for a sharded
    corpus (``data.shards``) the rows of ``split`` with their shard ``key`` instead of a path."""
    from .shards import is_sharded, read_index, split_rows

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
