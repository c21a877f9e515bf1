"""Signal-level metrics of generated music: melody chroma cosine and diversity.

``chroma_cosine`` compares per-frame chroma of a conditioning melody and an output over the
melody's voiced frames, taking the best of small time lags (MusicGen's melody metric, made
tolerant to a fraction of a second of misalignment); ``melody_set`` synthesises hummed and
whistled test melodies; ``diversity_report`` measures MuLan-embedding spread across seeds and
prompts. Used by ``eval/harness.py``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..analysis import to_mono_numpy
from .mulan import embed_clips
from .synth import DEFAULT_TUNE, hummed_melody

MELODY_TRANSPOSE = (0, 6, 3, 9, 1)  # semitones: each melody of the set differs in pitch classes


def rotate(items: list, k: int = 1) -> list:
    """The list shifted by ``k``: with distinct items, a shuffle in which nothing keeps its partner."""
    return items[k:] + items[:k]


def chroma(audio, sample_rate: int, hop: int = 2048) -> np.ndarray:
    """Chroma [12, T] from a constant-Q transform, hop ~85 ms at 24 kHz."""
    import warnings

    import librosa

    with warnings.catch_warnings():  # the CQT's octave downsampling warns on short clips; harmless
        warnings.simplefilter("ignore", UserWarning)
        return librosa.feature.chroma_cqt(y=to_mono_numpy(audio), sr=sample_rate, hop_length=hop)


def chroma_cosine(reference, generated, sample_rate: int, max_shift_s: float = 0.5, hop: int = 2048) -> float:
    """Per-frame chroma cosine over the reference's voiced frames, best over lags of +-``max_shift_s``."""
    import librosa

    a, b = chroma(reference, sample_rate, hop), chroma(generated, sample_rate, hop)
    a, b = a / (np.linalg.norm(a, axis=0) + 1e-9), b / (np.linalg.norm(b, axis=0) + 1e-9)
    loud = librosa.feature.rms(y=to_mono_numpy(reference), hop_length=hop)[0][: a.shape[1]]
    voiced = np.zeros(a.shape[1], bool)
    voiced[: loud.size] = loud > 0.1 * loud.max() if loud.size and loud.max() > 0 else False
    best, max_lag = 0.0, int(round(max_shift_s * sample_rate / hop))
    for lag in range(-max_lag, max_lag + 1):  # reference frame i against generated frame i + lag
        idx = np.arange(max(0, -lag), min(a.shape[1], b.shape[1] - lag))
        idx = idx[voiced[idx]]
        if idx.size:
            best = max(best, float((a[:, idx] * b[:, idx + lag]).sum(0).mean()))
    return best


def melody_set(count: int, seconds: float, sample_rate: int) -> list[np.ndarray]:
    """Synthetic hummed / whistled melodies, each a different transposition of the default tune."""
    notes, total = [], 0.0
    while total < seconds:
        for pitch, sec in DEFAULT_TUNE:
            notes.append((pitch, sec))
            total += sec
    out = []
    for i in range(count):
        shift = MELODY_TRANSPOSE[i % len(MELODY_TRANSPOSE)]
        voice = "hum" if i % 2 == 0 else "whistle"
        audio = hummed_melody([(p + shift, s) for p, s in notes], sample_rate=sample_rate, voice=voice, seed=i)
        out.append(audio[: int(seconds * sample_rate)])
    return out


def melody_report(melodies: list[np.ndarray], outputs: list[torch.Tensor], sample_rate: int) -> dict:
    """Chroma cosine of each output with its melody, and with another melody (the floor)."""
    if not outputs:
        return {"matched": None, "mismatched": None, "count": 0}
    matched = [chroma_cosine(m, o, sample_rate) for m, o in zip(melodies, outputs)]
    other = [chroma_cosine(m, o, sample_rate) for m, o in zip(rotate(melodies), outputs)] if len(outputs) > 1 else []
    return {"matched": float(np.mean(matched)), "mismatched": float(np.mean(other)) if other else None,
            "count": len(outputs)}


def diversity_report(mulan, groups: list[list[torch.Tensor]]) -> dict:
    """Mean pairwise embedding distance (1 - cosine) across seeds of one prompt, and across prompts."""
    def spread(clips):
        emb = embed_clips(mulan, clips)
        sims = emb @ emb.T
        n = len(clips)
        return float((1 - sims)[~torch.eye(n, dtype=torch.bool)].mean()) if n > 1 else None
    within = [spread(g) for g in groups if len(g) > 1]
    firsts = [g[0] for g in groups if g]
    return {"across_seeds": float(np.mean(within)) if within else None,
            "across_prompts": spread(firsts) if len(firsts) > 1 else None}


def stability_report(long_clips: list, reference_clips: list, sample_rate: int, window_s: float = 10.0) -> dict:
    """Per-``window_s`` loudness / centroid / flatness of long generations against the range of real clips.

    The range of a statistic is the 2nd-98th percentile over the reference windows; ``in_range``
    is the share of generated windows whose every statistic lies inside it (1.0 = no window
    drifted to silence or noise).
    """
    from ..analysis import WINDOW_STATS, window_stats

    reference = [s for clip in reference_clips for s in window_stats(clip, sample_rate, window_s)]
    windows = [window_stats(clip, sample_rate, window_s) for clip in long_clips]
    out = {"window_s": window_s, "windows": windows, "range": None, "in_range": None}
    if len(reference) < 2 or not any(windows):
        return out
    bounds = {k: (float(np.percentile([r[k] for r in reference], 2)), float(np.percentile([r[k] for r in reference], 98)))
              for k in WINDOW_STATS}
    inside = [all(lo <= w[k] <= hi for k, (lo, hi) in bounds.items()) for clip in windows for w in clip]
    out["range"], out["in_range"] = bounds, float(np.mean(inside))
    return out
