"""Diversity report of a corpus: counts per attribute and a mel-spectrogram contact sheet.

``corpus_stats`` counts clips per genre, lead instrument, lead family, tempo bucket, mode,
metre, drums / no drums, energy, mood, section and split (and for corpus v2: world, the sound
sources of melodic and drum tracks, groove template and vocals), and sums the audio duration.
``contact_sheet`` draws log-mel spectrograms of a sample of clips in a grid, each titled with
its genre, tempo, key and drums, so a glance shows whether the corpus looks like music.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .builder import read_metadata

TEMPO_BUCKETS = ((0, 80, "<80"), (80, 100, "80-99"), (100, 120, "100-119"), (120, 140, "120-139"), (140, 999, ">=140"))
FIELDS = ("genre", "lead_name", "lead_family", "tempo", "mode", "metre", "drums", "energy", "mood", "section", "split",
          "world", "source", "drum source", "groove", "vocals")  # the last five: corpus v2 rows only


@dataclass
class CorpusStats:
    clips: int
    hours: float
    counts: dict = field(default_factory=dict)  # field -> Counter

    def table(self) -> str:
        lines = [f"{self.clips} clips, {self.hours:.2f} hours"]
        for name, counter in self.counts.items():
            items = ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))))
            lines.append(f"{name} ({len(counter)}): {items}")
        return "\n".join(lines)


def tempo_bucket(bpm: float) -> str:
    return next(label for lo, hi, label in TEMPO_BUCKETS if lo <= bpm < hi)


def corpus_stats(folder: str) -> CorpusStats:
    rows = read_metadata(folder)
    if not rows:
        raise ValueError(f"No metadata.jsonl rows in {folder!r}; is it a corpus folder?")
    counts = {}
    for name in FIELDS:
        if name == "tempo":
            values = [tempo_bucket(r["bpm"]) for r in rows if "bpm" in r]
        elif name == "drums":
            values = ["drums" if r["drums"] else "no drums" for r in rows if "drums" in r]
        elif name in ("source", "drum source"):  # melodic tracks' sources, the drum track's source
            values = [s for r in rows for role, s in r.get("sources", {}).items() if (role == "drums") == (name != "source")]
        elif name == "groove":
            values = [r["performance"]["groove"] for r in rows if "performance" in r]
        elif name == "vocals":
            values = [r["vocals"] or "none" for r in rows if "vocals" in r]
        else:
            values = [r[name] for r in rows if name in r]
        if values:
            counts[name] = Counter(values)
    hours = sum(r.get("seconds", 0) for r in rows) / 3600
    return CorpusStats(len(rows), hours, counts)


def contact_sheet(folder: str, png: str, n: int = 16, seed: int = 0) -> str:
    """Save a grid of log-mel spectrograms of ``n`` random clips to ``png``."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..audio import prepare_audio

    rows = read_metadata(folder)
    picks = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    cols = 4
    fig, axes = plt.subplots(int(np.ceil(len(picks) / cols)), cols, figsize=(16, 2.6 * np.ceil(len(picks) / cols)),
                             squeeze=False)
    for ax, k in zip(axes.flat, picks):
        row = rows[int(k)]
        audio = prepare_audio(os.path.join(folder, row["path"])).audio.numpy()
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=24_000, n_mels=64), ref=np.max)
        ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0)
        drums = "drums" if row.get("drums") else "no drums"
        ax.set_title(f"{row.get('genre')} {row.get('bpm')} bpm {row.get('tonic')} {row.get('mode')}, {drums}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(picks):]:
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png
