"""Audio analysers that check what a caption claims: tempo, key and mode, percussiveness.

Used by the corpus truth checks and by the evaluation of generated music. Every function takes
a mono waveform (numpy array or torch tensor, [S] or [C, S]) and its sample rate.
``estimate_tempo`` is librosa's beat tracker; ``tempo_agrees`` accepts half / double time;
``estimate_key_mode`` correlates the clip's
mean chroma with the Krumhansl-Schmuckler major and minor profiles in all twelve keys (with a
bass-register tonic cue); ``percussive_ratio`` is the share of spectral energy that
harmonic-percussive source separation assigns to the percussive part.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .vocab.musical_key import NOTE_NAMES  # re-exported: the analysers name keys as the corpus does
KS_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KS_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def to_mono_numpy(audio) -> np.ndarray:
    """Tensor or array, [S] or [C, S] / [S, C] -> float32 numpy [S]."""
    if hasattr(audio, "detach"):
        audio = audio.detach().cpu().float().numpy()
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 2:
        array = array.mean(axis=0 if array.shape[0] < array.shape[1] else 1)
    return np.ascontiguousarray(array.reshape(-1))


def estimate_tempo(audio, sr: int) -> float:
    """Tempo in bpm from librosa's onset-envelope beat tracker (0.0 for silence)."""
    import librosa

    y = to_mono_numpy(audio)
    if not np.any(y):
        return 0.0
    return envelope_tempo(librosa.onset.onset_strength(y=y, sr=sr), sr / 512)


def envelope_tempo(envelope, frame_rate: float) -> float:
    """Tempo in bpm that librosa's beat tracker reads in an onset envelope at ``frame_rate`` Hz
    (0.0 for an all-zero envelope)."""
    import librosa

    envelope = np.asarray(envelope)
    if not np.any(envelope):
        return 0.0
    tempo, _ = librosa.beat.beat_track(onset_envelope=envelope, sr=512 * frame_rate, hop_length=512)
    return float(np.atleast_1d(tempo)[0])


def beat_times(audio, sr: int) -> np.ndarray:
    """Beat times in seconds, from librosa's beat tracker ([] for silence)."""
    import librosa

    y = to_mono_numpy(audio)
    if not np.any(y):
        return np.zeros(0)
    _, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=512, units="time")
    return np.asarray(beats, dtype=np.float64)


def steady_bpm(beats: np.ndarray, max_spread: float = 0.08, min_beats: int = 6) -> float:
    """The tempo of a run of beat times (60 / median interval), or 0.0 where there are fewer than
    ``min_beats`` or their intervals spread more than ``max_spread`` (std / mean): not steady."""
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < min_beats:
        return 0.0
    intervals = np.diff(beats)
    if intervals.mean() <= 0 or intervals.std() / intervals.mean() > max_spread:
        return 0.0
    return float(60.0 / np.median(intervals))


def read_beat_grid(audio, sr: int, min_beats: int = 4) -> tuple[float, float]:
    """(bpm, first beat in s) of a steady beat in ``audio``; (0.0, 0.0) where none is steady."""
    beats = beat_times(audio, sr)
    bpm = steady_bpm(beats, min_beats=min_beats)
    return (bpm, float(beats[0])) if bpm > 0 else (0.0, 0.0)


def read_key(audio, sr: int, min_fit: float = 0.5, min_contrast: float = 0.4,
             min_seconds: float = 2.0) -> tuple[Optional[int], Optional[str], float]:
    """(tonic index, mode, fit): ``estimate_key_mode``'s key where the pitch classes stand out
    (treble chroma contrast (max - min) / max at least ``min_contrast``: noise has about 0.1-0.2,
    tonal music 0.7-1.0) and the Krumhansl-Schmuckler profile fits at least ``min_fit``
    (correlation) over at least ``min_seconds``; else (None, None, fit): no key read with confidence."""
    if to_mono_numpy(audio).size < min_seconds * sr:
        return None, None, float("nan")
    treble, bass = chroma_profiles(audio, sr)
    tonic, mode, fit = best_key(treble, bass)
    contrast = float((treble.max() - treble.min()) / max(treble.max(), 1e-12))
    if fit < min_fit or contrast < min_contrast:
        return None, None, fit
    return tonic, mode, fit


def tempo_agrees(estimated: float, stated: float, tol: float = 0.08,
                 ratios: tuple[float, ...] = (0.5, 1.0, 2.0)) -> bool:
    """True when ``estimated`` is within ``tol`` (relative) of ``stated`` times one of ``ratios``."""
    if estimated <= 0 or stated <= 0:
        return False
    return any(abs(estimated - stated * r) <= tol * stated * r for r in ratios)


def chroma_profiles(audio, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(treble chroma, bass chroma): 12-bin pitch-class profiles, C first, from one CQT.

    Treble: C3 and up, each frame scaled to max 1, averaged (below C3 the overtones of a loud
    bass, whose 5th harmonic is a major third, blur the third that tells major from minor).
    Bass: energy from C1 to B2 per pitch class, summing to 1 (where the chord roots are).
    """
    import librosa

    y = to_mono_numpy(audio)
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=1024, fmin=librosa.note_to_hz("C1"), n_bins=84)) ** 2
    treble = cqt[24:].reshape(5, 12, -1).sum(0)
    treble = (treble / (treble.max(0, keepdims=True) + 1e-12)).mean(1)
    bass = cqt[:24].reshape(2, 12, -1).sum((0, 2))
    return treble, bass / (bass.sum() + 1e-12)


def estimate_key_mode(audio, sr: int, bass_weight: float = 1.0) -> tuple[str, str]:
    """(tonic name, 'major' or 'minor'): the Krumhansl-Schmuckler key that fits the treble
    chroma best, plus ``bass_weight`` times the bass energy share on its tonic (0 = plain KS)."""
    return key_from_profiles(*chroma_profiles(audio, sr), bass_weight=bass_weight)


def key_from_profiles(treble: np.ndarray, bass: np.ndarray, bass_weight: float = 1.0) -> tuple[str, str]:
    """``estimate_key_mode`` on profiles already computed by ``chroma_profiles``."""
    tonic, mode, _ = best_key(treble, bass, bass_weight)
    return NOTE_NAMES[tonic], mode


def best_key(treble: np.ndarray, bass: np.ndarray, bass_weight: float = 1.0) -> tuple[int, str, float]:
    """(tonic index, mode, fit): the key whose Krumhansl-Schmuckler correlation with the treble chroma,
    plus ``bass_weight`` times the bass energy share on its tonic, is highest; fit = that correlation."""
    _, _, fits = key_scores(treble)
    mode, tonic = np.unravel_index(int(np.argmax(fits + bass_weight * bass[None, :])), fits.shape)
    return int(tonic), ("major", "minor")[int(mode)], float(fits[mode, tonic])


def key_scores(chroma: np.ndarray) -> tuple[int, str, np.ndarray]:
    """Best (tonic index, mode) and the [2, 12] correlations (row 0 major, row 1 minor)."""
    scores = np.zeros((2, 12))
    for tonic in range(12):
        rolled = np.roll(chroma, -tonic)
        scores[0, tonic] = np.corrcoef(rolled, KS_MAJOR)[0, 1]
        scores[1, tonic] = np.corrcoef(rolled, KS_MINOR)[0, 1]
    scores = np.nan_to_num(scores, nan=-1.0)
    mode, tonic = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(tonic), ("major", "minor")[mode], scores


def percussive_ratio(audio, sr: int, margin: float = 2.0) -> float:
    """Share (0-1) of STFT energy in the percussive part of a median-filter HPSS."""
    import librosa

    y = to_mono_numpy(audio)
    spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** 2
    if spec.sum() <= 0:
        return 0.0
    harmonic, percussive = librosa.decompose.hpss(spec, margin=margin)
    total = harmonic.sum() + percussive.sum()
    return float(percussive.sum() / total) if total > 0 else 0.0


def compile_analysers(sr: int = 24_000) -> None:
    """Run the analysers once on 4 s of clicks and a tone, so that librosa's compiled (numba,
    ``cache=True``) kernels are in numba's cache before worker processes start. Workers that fill an
    empty cache at the same time can mix up its files and crash with a segmentation fault
    (numba/numba#10128); workers that only read a full cache cannot."""
    t = np.arange(4 * sr) / sr
    audio = 0.3 * np.sin(2 * np.pi * 220.0 * t)
    audio[:: sr // 2] += 1.0
    beats = beat_times(audio, sr)
    steady_bpm(beats)
    read_key(audio, sr)
    percussive_ratio(audio, sr)


def auc(positives, negatives) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    if not pos.size or not neg.size:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


WINDOW_STATS = ("loudness_db", "centroid_hz", "flatness")


def window_stats(audio, sr: int, window_s: float = 10.0) -> list[dict[str, float]]:
    """Loudness (RMS dBFS), spectral centroid (Hz) and spectral flatness of each whole ``window_s`` window.

    A generation that collapses to silence shows as loudness falling far below the corpus range;
    one that collapses to noise as flatness (1 = white noise, near 0 = tonal) and centroid rising.
    """
    import librosa

    y = to_mono_numpy(audio)
    size = int(window_s * sr)
    stats = []
    for start in range(0, max(len(y) - size, 0) + 1, size):
        w = y[start: start + size]
        if len(w) < size // 2:
            break
        magnitude = np.abs(librosa.stft(w, n_fft=2048, hop_length=512))
        rms = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
        stats.append({"loudness_db": 20 * np.log10(max(rms, 1e-8)),
                      "centroid_hz": float(librosa.feature.spectral_centroid(S=magnitude, sr=sr).mean()),
                      "flatness": float(librosa.feature.spectral_flatness(S=magnitude).mean())})
    return stats
