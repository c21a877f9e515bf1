"""A user's own folder of music (wav / flac / ogg / mp3) with captions from a CSV or JSONL file.

Caption files may use MusicCaps column names (``ytid``, ``start_s``, ``end_s``, ``caption``,
``aspect_list``) or ``file`` / ``path`` / ``audio`` / ``filename`` with ``caption`` / ``text``; a row
matches an audio file by relative path, file name or file stem (``<ytid>.wav`` for MusicCaps). A
MusicCaps file longer than its clip (the whole video's audio) is cut to ``start_s``..``end_s``; a file
of the clip's length is taken as already cut. Every file is decoded once when the folder
is opened: unreadable, empty or silent files are skipped, files without a caption are kept with
an empty caption, and all of it is listed in ``report`` (never an exception for bad files).
``to_corpus`` writes the folder in the corpus layout (24 kHz mono WAV + ``metadata.jsonl``), or
with ``clips_per_shard`` as WebDataset shards that stream (``data.shards``).
"""

from __future__ import annotations

import ast
import csv
import glob
import json
import os
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..audio import is_silent, normalize_loudness, prepare_audio, save_audio

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
KEY_COLUMNS = ("file", "path", "audio", "filename", "audio_path", "ytid", "id")
CAPTION_COLUMNS = ("caption", "text", "description", "prompt")
ASPECT_COLUMNS = ("aspect_list", "aspects", "tags")
CAPTION_FILES = ("captions.csv", "captions.jsonl", "metadata.jsonl", "metadata.csv")


@dataclass
class FolderReport:
    """What opening a user folder found."""

    kept: int = 0
    skipped: list = field(default_factory=list)  # (file, reason)
    missing_captions: list = field(default_factory=list)
    unmatched_captions: list = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.kept} audio files usable, {len(self.skipped)} skipped, "
                 f"{len(self.missing_captions)} without a caption, {len(self.unmatched_captions)} captions without audio."]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        lines += [f"  no caption: {name}" for name in self.missing_captions[:20]]
        return "\n".join(lines)


def read_captions(path: str) -> dict[str, dict]:
    """Caption file (CSV or JSONL) -> {key: {"caption": str, "aspects": list}}."""
    if not os.path.isfile(path):
        raise ValueError(f"Caption file not found: {path!r}.")
    with open(path, encoding="utf-8") as f:
        if path.lower().endswith((".jsonl", ".json")):
            rows = [json.loads(line) for line in f if line.strip()]
        else:
            rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path!r} has no rows.")
    columns = {c.lower(): c for c in rows[0]}
    key = next((columns[c] for c in KEY_COLUMNS if c in columns), None)
    text = next((columns[c] for c in CAPTION_COLUMNS if c in columns), None)
    if key is None or text is None:
        raise ValueError(f"{path!r} needs a file column ({', '.join(KEY_COLUMNS)}) and a caption column "
                         f"({', '.join(CAPTION_COLUMNS)}); it has {list(rows[0])}.")
    aspects = next((columns[c] for c in ASPECT_COLUMNS if c in columns), None)
    return {str(r[key]).strip(): {"caption": str(r[text] or "").strip(), "aspects": _aspects(r.get(aspects)),
                                  **_clip_span(r, path)}
            for r in rows if r.get(key)}


def _clip_span(row: dict, path: str) -> dict:
    """MusicCaps's ``start_s`` / ``end_s`` of a row as floats ({} when the file has no such columns)."""
    if row.get("start_s") in (None, "") or row.get("end_s") in (None, ""):
        return {}
    try:
        start, end = float(row["start_s"]), float(row["end_s"])
    except (TypeError, ValueError):
        raise ValueError(f"{path!r}: start_s / end_s must be seconds, got {row['start_s']!r} / {row['end_s']!r}.") from None
    if not 0 <= start < end:
        raise ValueError(f"{path!r}: a row has start_s {start:g} and end_s {end:g}; it needs 0 <= start_s < end_s.")
    return {"start_s": start, "end_s": end}


def cut_to_span(audio: torch.Tensor, entry: dict, sample_rate: int) -> torch.Tensor:
    """The clip ``start_s``..``end_s`` of a file holding more than it (at least a second more); the audio
    as it is when it is the clip already or the row names no span."""
    if "start_s" not in entry:
        return audio
    span = entry["end_s"] - entry["start_s"]
    if audio.numel() < (span + 1.0) * sample_rate:
        return audio
    return audio[int(entry["start_s"] * sample_rate): int(entry["end_s"] * sample_rate)]


def _aspects(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if not value:
        return []
    try:
        parsed = ast.literal_eval(value)
        return [str(v) for v in parsed] if isinstance(parsed, (list, tuple)) else [str(parsed)]
    except (ValueError, SyntaxError):
        return [v.strip() for v in str(value).split(",") if v.strip()]


class UserAudioFolder(torch.utils.data.Dataset):
    """Items {audio [S] float32 at 24 kHz, caption, row} of a user's folder of music."""

    def __init__(self, folder: str, captions: Optional[str] = None, sample_rate: int = 24_000):
        if not os.path.isdir(folder):
            raise ValueError(f"Folder not found: {folder!r}.")
        self.folder, self.sample_rate = folder, sample_rate
        self.report = FolderReport()
        table = read_captions(captions or self._find_captions()) if captions or self._find_captions() else {}
        self.items, used = [], set()
        for path in sorted(glob.glob(os.path.join(folder, "**", "*"), recursive=True)):
            if path.lower().endswith(AUDIO_EXTENSIONS):
                self._add(path, table, used)
        self.report.kept = len(self.items)
        self.report.unmatched_captions = sorted(set(table) - used)

    def _find_captions(self) -> Optional[str]:
        return next((os.path.join(self.folder, n) for n in CAPTION_FILES
                     if os.path.isfile(os.path.join(self.folder, n))), None)

    def _add(self, path: str, table: dict, used: set) -> None:
        rel = os.path.relpath(path, self.folder)
        stem = os.path.splitext(os.path.basename(path))[0]
        key = next((k for k in (rel, os.path.basename(path), stem) if k in table), None)
        entry = table.get(key, {"caption": "", "aspects": []})
        try:
            audio = cut_to_span(prepare_audio(path, target_sample_rate=self.sample_rate, name=rel).audio, entry,
                                self.sample_rate)
        except ValueError as error:
            self.report.skipped.append((rel, str(error)))
            return
        if is_silent(audio):
            self.report.skipped.append((rel, "silent"))
            return
        if key is None or not entry["caption"]:
            self.report.missing_captions.append(rel)
        else:
            used.add(key)
        self.items.append({"source": rel, "caption": entry["caption"], "aspects": entry["aspects"],
                           "seconds": audio.numel() / self.sample_rate,
                           **{k: entry[k] for k in ("start_s", "end_s") if k in entry}})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        row = self.items[i]
        audio = prepare_audio(os.path.join(self.folder, row["source"]), target_sample_rate=self.sample_rate).audio
        return {"audio": cut_to_span(audio, row, self.sample_rate), "caption": row["caption"], "row": row}


def folder_clips(data: UserAudioFolder, seconds: Optional[float] = None):
    """(corpus row, loudness-normalised clip) of every usable piece of a user folder, cut into
    ``seconds``-long clips when given (pieces under a second, or silent, are dropped)."""
    from .builder import split_of

    index = 0
    for item in data:
        audio, step = item["audio"], int((seconds or 0) * data.sample_rate) or item["audio"].numel()
        for start in range(0, audio.numel(), step):
            piece = audio[start: start + step]
            if piece.numel() < data.sample_rate or is_silent(piece):
                continue
            row = item["row"]
            yield ({"caption": item["caption"], "aspects": row["aspects"], "split": split_of(index), "index": index,
                    "source": row["source"], "offset_s": row.get("start_s", 0.0) + start / data.sample_rate},
                   normalize_loudness(piece))
            index += 1


def to_corpus(folder: str, out: str, captions: Optional[str] = None, seconds: Optional[float] = None,
              clips_per_shard: Optional[int] = None) -> FolderReport:
    """Write a user folder as a corpus (optionally cut into ``seconds``-long clips): WAV files and
    ``metadata.jsonl``, or with ``clips_per_shard`` WebDataset shards (``data.shards``)."""
    from .builder import METADATA

    data = UserAudioFolder(folder, captions)
    if clips_per_shard is not None:
        from .shards import write_shards

        write_shards(folder_clips(data, seconds), out, data.sample_rate, clips_per_shard)
        return data.report
    if os.path.isfile(os.path.join(out, METADATA)):
        raise ValueError(f"{out!r} already holds a metadata.jsonl; choose a new folder.")
    rows = []
    for row, piece in folder_clips(data, seconds):
        rel = f"audio/{row['index']:06d}.wav"
        save_audio(os.path.join(out, rel), piece, data.sample_rate)
        rows.append({"path": rel, **row})
    with open(os.path.join(out, METADATA), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return data.report
