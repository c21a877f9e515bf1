"""Melody tokens: what is being hummed, whistled or played, as pitch classes at 25 Hz.

Each frame becomes one of 12 pitch classes (C = 0 ... B = 11) or ``UNVOICED`` (12). For a
monophonic input (a hum, a whistle, a lead stem) the pitch comes from librosa's pYIN, which
follows the fundamental whatever the timbre; for polyphonic input the strongest chroma bin
of loud frames is used. ``method="auto"`` tries pYIN and falls back to chroma when pYIN finds
too little voiced sound in a clip that is clearly not silent.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import MelodyConfig

UNVOICED = 12
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class MelodyTokenizer:
    """Audio [S] at ``sample_rate`` -> melody tokens [T] (T = ceil(S / hop), hop = sr / 25)."""

    def __init__(self, config: MelodyConfig):
        self.config = config
        self.hop = config.sample_rate // config.frame_rate

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def num_frames(self, num_samples: int) -> int:
        return -(-num_samples // self.hop)

    def _loudness_gate(self, y: np.ndarray, frames: int) -> np.ndarray:
        import librosa

        level = librosa.feature.rms(y=y, frame_length=2 * self.hop, hop_length=self.hop)[0][:frames]
        level = np.pad(level, (0, frames - len(level)))
        return level > max(1e-3, 0.05 * float(level.max(initial=0.0)))

    def pyin_tokens(self, y: np.ndarray) -> tuple[np.ndarray, float]:
        """Pitch classes from pYIN; returns (tokens [T], share of loud frames that were voiced)."""
        import librosa

        c, frames = self.config, self.num_frames(len(y))
        f0, voiced, _ = librosa.pyin(y, fmin=c.fmin, fmax=c.fmax, sr=c.sample_rate,
                                     frame_length=4 * self.hop, hop_length=self.hop, center=True)
        f0, voiced = f0[:frames], voiced[:frames]
        tokens = np.full(frames, UNVOICED, dtype=np.int64)
        loud = self._loudness_gate(y, frames)[: len(f0)]
        ok = voiced & np.isfinite(f0) & loud
        tokens[: len(f0)][ok] = np.round(librosa.hz_to_midi(f0[ok])).astype(np.int64) % 12
        return tokens, float(ok.sum() / max(loud.sum(), 1))

    def chroma_tokens(self, y: np.ndarray) -> np.ndarray:
        """Strongest chroma bin of each loud frame (polyphonic input)."""
        import librosa

        frames = self.num_frames(len(y))
        chroma = librosa.feature.chroma_stft(y=y, sr=self.config.sample_rate, n_fft=4 * self.hop, hop_length=self.hop)
        tokens = np.full(frames, UNVOICED, dtype=np.int64)
        n = min(frames, chroma.shape[1])
        best = chroma[:, :n].argmax(0)
        tokens[:n] = np.where(self._loudness_gate(y, frames)[:n], best, UNVOICED)
        return tokens

    def __call__(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Mono audio [S] at ``sample_rate`` -> tokens [T] (long)."""
        y = audio.detach().cpu().float().numpy() if torch.is_tensor(audio) else np.asarray(audio, np.float32)
        y = y.reshape(-1)
        if y.size < self.hop:
            raise ValueError(f"Melody audio is too short ({y.size} samples); give at least 0.1 s.")
        method = self.config.method
        if method == "chroma":
            tokens = self.chroma_tokens(y)
        else:
            tokens, voiced_share = self.pyin_tokens(y)
            if method == "auto" and voiced_share < 0.3 and (tokens == UNVOICED).mean() > 0.7:
                tokens = self.chroma_tokens(y)
        return torch.from_numpy(tokens)

    @staticmethod
    def describe(tokens: torch.Tensor) -> str:
        """Human-readable pitch-class line, e.g. 'C C D - E' ('-' = unvoiced)."""
        return " ".join("-" if int(t) == UNVOICED else PITCH_CLASSES[int(t)] for t in tokens)
