"""Audio features that check corpus v2's voice and effect statements (``truth.check_corpus``).

Each feature reads a mono 24 kHz mix and returns one number that should be higher for clips with
the thing than without it; ``truth`` reports, per statement, the feature's mean for clips with and
without it and the AUC separating them.

- ``voice_presence``: vibrato. A sung line bends its partials 30-35 cents at 5-6 Hz, so in the
  harmonic part (HPSS) between 300 and 3500 Hz, spectral bins beside each partial rise and fall
  at that rate: the share of the bins' temporal modulation energy at 4.5-7.5 Hz (vs 1-15 Hz),
  averaged over the bins. SoundFont instruments are mostly steady.
- ``reverb_tail``: how slowly the percussive part (HPSS) falls after its onsets (the median drop in
  dB from the onset's peak to its minimum 150-300 ms later, negated: a reverb tail fills the gap).
- ``lofi_dullness``: the lo-fi band-limit, as the (negated) share of spectral energy above 4.5 kHz.
- ``distortion_flatness``: the mean spectral flatness of the harmonic part from 1 to 6 kHz (a clean
  tone is a comb of partials, a distorted one fills the spectrum between them).
- ``delay_echo``: the harmonic part's log-mel autocorrelation at the delay time the clip's
  production drew (``delay_beats`` at its bpm; every v2 row has one, applied or not), against the
  mean over lags 10-20 % away from it (an echo repeats the spectrum one delay later).
"""

from __future__ import annotations

import numpy as np

SR = 24_000
HOP = 240  # 100 frames / s


def _stft(y: np.ndarray, n_fft: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=HOP)), librosa.fft_frequencies(sr=SR, n_fft=n_fft)


def voice_presence(y: np.ndarray, harmonic: np.ndarray | None = None) -> float:
    """Mean share of 4.5-7.5 Hz (vibrato) modulation in the 300-3500 Hz bins of the harmonic part."""
    import librosa

    harmonic = librosa.effects.harmonic(y, margin=2.0) if harmonic is None else harmonic
    S, freqs = _stft(harmonic)
    band = S[(freqs >= 300) & (freqs <= 3500)]  # [F, T]
    if band.shape[1] < 200 or not band.any():
        return 0.0
    level = np.log1p(band / (band.max() * 1e-3))
    spectrum = np.abs(np.fft.rfft(level - level.mean(1, keepdims=True), axis=1)) ** 2  # [F, M]
    rates = np.fft.rfftfreq(level.shape[1], HOP / SR)
    vibrato = spectrum[:, (rates >= 4.5) & (rates <= 7.5)].sum(1)
    total = spectrum[:, (rates >= 1.0) & (rates <= 15.0)].sum(1) + 1e-9
    return float(np.mean(vibrato / total))


def reverb_tail(percussive: np.ndarray) -> float:
    """Minus the median drop (dB) of the percussive part from each onset's peak to 150-300 ms after."""
    import librosa

    power = np.abs(librosa.stft(percussive, n_fft=1024, hop_length=HOP)) ** 2
    db = 10 * np.log10(power.sum(0) + 1e-9)
    onsets = librosa.onset.onset_detect(y=percussive, sr=SR, hop_length=HOP)
    drops = [db[o:o + 4].max() - db[o + 15:o + 30].min() for o in onsets if o + 30 < len(db)]
    return -float(np.median(drops)) if drops else 0.0


def lofi_dullness(y: np.ndarray) -> float:
    """Minus the share of spectral energy above 4.5 kHz."""
    S, freqs = _stft(y)
    power = S ** 2
    return -float(power[freqs >= 4500].sum() / (power.sum() + 1e-12))


def distortion_flatness(y: np.ndarray, harmonic: np.ndarray | None = None) -> float:
    """Mean spectral flatness (geometric / arithmetic mean power) of the harmonic part, 1-6 kHz."""
    import librosa

    harmonic = librosa.effects.harmonic(y, margin=2.0) if harmonic is None else harmonic
    S, freqs = _stft(harmonic)
    power = S[(freqs >= 1000) & (freqs <= 6000)] ** 2 + 1e-12
    loud = power.sum(0) > 1e-3 * power.sum(0).max()
    flatness = np.exp(np.log(power).mean(0)) / power.mean(0)
    return float(flatness[loud].mean()) if loud.any() else 0.0


def delay_echo(harmonic: np.ndarray, delay_s: float) -> float:
    """Log-mel autocorrelation of the harmonic part at ``delay_s`` minus its mean 10-20 % of the lag away."""
    import librosa

    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=harmonic, sr=SR, n_fft=1024, hop_length=HOP,
                                                             n_mels=40))
    mel = mel - mel.mean(1, keepdims=True)
    lag = int(round(delay_s * SR / HOP))
    if lag < 5 or lag * 1.2 + 1 >= mel.shape[1]:
        return 0.0

    def corr(k: int) -> float:
        a, b = mel[:, k:], mel[:, :-k]
        return float(np.sum(a * b) / (np.sqrt(np.sum(a * a) * np.sum(b * b)) + 1e-9))

    near = [k for k in range(int(lag * 0.8), int(lag * 1.2) + 1) if abs(k - lag) >= max(1, int(lag * 0.1))]
    return corr(lag) - float(np.mean([corr(k) for k in near]))


def sound_features(y: np.ndarray, row: dict) -> dict:
    """Every feature of one v2 clip (the delay's lag from the row's production and bpm)."""
    import librosa

    harmonic, percussive = librosa.effects.hpss(y, margin=2.0)
    delay_s = row.get("production", {}).get("delay_beats", 0.5) * 60.0 / row["bpm"]
    return {"voice": voice_presence(y, harmonic), "reverb": reverb_tail(percussive), "lo-fi": lofi_dullness(y),
            "distortion": distortion_flatness(y, harmonic), "delay": delay_echo(harmonic, delay_s)}
