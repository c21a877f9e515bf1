"""Audio I/O and conditioning: the one place that touches audio files.

Everything else in the package receives float32 mono tensors at a known sample rate. The
helpers here load (wav / flac / ogg / mp3), downmix, resample, check for NaN / inf / empty or
silent input, trim over-long input (with a notice, never silently), normalise loudness and
write files. User-facing problems raise ``ValueError`` with a message that says what to do.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import soundfile as sf
import torch

AudioLike = Union[str, os.PathLike, np.ndarray, torch.Tensor]

SILENCE_RMS = 1e-4  # about -80 dBFS: below this a clip is treated as silent


@dataclass
class PreparedAudio:
    """Mono float32 audio at ``sample_rate`` plus what was done to it.

    audio: [S] float32 tensor on the CPU.
    notices: human-readable notes (downmixed, resampled, trimmed) for UIs to show.
    """

    audio: torch.Tensor
    sample_rate: int
    notices: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.audio.numel() / self.sample_rate


def read_audio_file(path: Union[str, os.PathLike], max_seconds: float | None = None) -> tuple[np.ndarray, int, float]:
    """Read an audio file as float32 [S, C] (soundfile first, librosa/audioread for mp3 etc.) ->
    (data, sample rate, the file's whole length in seconds). With ``max_seconds`` only the first
    ``max_seconds`` are read and decoded (soundfile seeks; librosa stops decoding there)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Audio file not found: {path!r}. Check the path.")
    try:
        info = sf.info(path)
        frames = -1 if max_seconds is None else min(info.frames, int(math.ceil(max_seconds * info.samplerate)))
        data, sr = sf.read(path, frames=frames, dtype="float32", always_2d=True)
        return data, int(sr), info.frames / info.samplerate
    except Exception as sf_error:  # noqa: BLE001 - fall back to librosa for formats soundfile lacks
        try:
            import librosa

            data, sr = librosa.load(path, sr=None, mono=False, duration=max_seconds)
            data = np.atleast_2d(data).T.astype(np.float32)
            seconds = data.shape[0] / sr
            if max_seconds is not None and seconds >= max_seconds - 1.0 / sr:
                seconds = float(librosa.get_duration(path=path))
            return data, int(sr), seconds
        except Exception as error:  # noqa: BLE001
            raise ValueError(
                f"Could not read {os.path.basename(path)!r} as audio ({sf_error}; {error}). "
                "Use a WAV, FLAC, OGG or MP3 file."
            ) from error


def resample(audio: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """Resample [..., S] audio with a high-quality polyphase filter (soxr via librosa)."""
    if orig_sr == target_sr:
        return audio
    import librosa

    array = audio.detach().cpu().numpy()
    out = librosa.resample(array, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(audio.device)


def prepare_audio(
    audio: AudioLike,
    sample_rate: int | None = None,
    *,
    target_sample_rate: int = 24_000,
    max_seconds: float | None = None,
    allow_silent: bool = True,
    name: str = "audio",
) -> PreparedAudio:
    """Turn a path, array or tensor into mono float32 at ``target_sample_rate``.

    Arrays and tensors may be [S], [C, S] or [S, C] (the shorter axis is channels) and need
    ``sample_rate``. Long input is trimmed to ``max_seconds`` with a notice; a file is trimmed as
    it is read, so a long upload costs no more than its first ``max_seconds``.
    """
    notices: list[str] = []
    file_seconds = None
    if isinstance(audio, (str, os.PathLike)):
        data, sample_rate, file_seconds = read_audio_file(audio, max_seconds)
        wave = torch.from_numpy(data.T.copy())  # [C, S]
    else:
        if sample_rate is None:
            raise ValueError(f"{name}: pass its sample rate along with an array or tensor.")
        wave = torch.as_tensor(np.asarray(audio) if not torch.is_tensor(audio) else audio)
        wave = wave.detach().to("cpu", torch.float32)
        if wave.ndim == 1:
            wave = wave[None]
        elif wave.ndim == 2 and wave.shape[0] > wave.shape[1]:
            wave = wave.T  # [S, C] -> [C, S]
        elif wave.ndim != 2:
            raise ValueError(f"{name}: expected a 1-D or 2-D waveform, got shape {tuple(wave.shape)}.")
    if not sample_rate or sample_rate <= 0 or not math.isfinite(sample_rate):
        raise ValueError(f"{name}: sample rate must be a positive number, got {sample_rate!r}.")
    sample_rate = int(sample_rate)
    if wave.shape[-1] == 0:
        raise ValueError(f"{name} is empty (0 samples). Give at least a fraction of a second of sound.")
    if not torch.isfinite(wave).all():
        raise ValueError(f"{name} contains NaN or infinite samples. Re-export the file and try again.")
    if wave.shape[0] > 1:
        notices.append(f"{name}: {wave.shape[0]} channels downmixed to mono.")
    wave = wave.mean(0)
    seconds = file_seconds if file_seconds is not None else wave.numel() / sample_rate
    if max_seconds is not None and seconds > max_seconds:
        notices.append(f"{name}: {seconds:.1f} s is longer than {max_seconds:g} s; only the first {max_seconds:g} s "
                       "are used.")
        wave = wave[: int(max_seconds * sample_rate)]
    if sample_rate != target_sample_rate:
        notices.append(f"{name}: resampled from {sample_rate} Hz to {target_sample_rate} Hz.")
        wave = resample(wave, sample_rate, target_sample_rate)
    if not allow_silent and is_silent(wave):
        raise ValueError(f"{name} is silent. Record or upload audio with audible sound in it.")
    return PreparedAudio(wave.contiguous(), target_sample_rate, notices)


def rms(audio: torch.Tensor) -> float:
    return float(audio.float().pow(2).mean().sqrt()) if audio.numel() else 0.0


def is_silent(audio: torch.Tensor, threshold: float = SILENCE_RMS) -> bool:
    return rms(audio) < threshold


def normalize_loudness(audio: torch.Tensor, target_rms_db: float = -20.0, peak: float = 0.98) -> torch.Tensor:
    """Scale to a target RMS (dBFS), then limit the peak so nothing clips. Silence is left alone."""
    level = rms(audio)
    if level < SILENCE_RMS:
        return audio
    gain = 10 ** (target_rms_db / 20) / level
    out = audio * gain
    top = float(out.abs().max())
    if top > peak:
        out = out * (peak / top)
    return out


def _loudness(meter, part: np.ndarray) -> float:
    """Integrated loudness (LUFS) of ``part``, or nan where it is silent or too short to measure."""
    return meter.integrated_loudness(part) if len(part) >= meter.block_size * meter.rate else float("nan")


def _gap_db(meter, want: np.ndarray, have: np.ndarray, max_db: float) -> float:
    """dB that bring ``have`` to the loudness of ``want`` (0 where either is silent), at most +-``max_db``."""
    with np.errstate(invalid="ignore"):  # -inf - -inf: both silent
        gap = _loudness(meter, want) - _loudness(meter, have)
    return float(np.clip(gap, -max_db, max_db)) if np.isfinite(gap) else 0.0


def match_level(audio: torch.Tensor, seam: int, sample_rate: int, window_s: float = 1.0, ramp_s: float = 0.05,
                max_db: float = 12.0) -> torch.Tensor:
    """Audio [..., S] with everything from sample ``seam`` on scaled so that the ``window_s`` after the
    seam has the loudness (ITU-R BS.1770, K-weighted, with pyloudnorm) of the ``window_s`` before it,
    at most +-``max_db``, the gain ramping in over ``ramp_s``: a continuation joins its opening at
    the opening's level. Silence on either side leaves a row as it is."""
    import pyloudnorm

    width = int(round(window_s * sample_rate))
    if seam <= 0 or seam >= audio.shape[-1]:
        return audio
    meter = pyloudnorm.Meter(sample_rate, block_size=min(0.4, window_s))
    rows = audio.reshape(-1, audio.shape[-1])
    gains = [10 ** (_gap_db(meter, row[max(0, seam - width): seam], row[seam: seam + width], max_db) / 20)
             for row in rows.detach().cpu().double().numpy()]
    gain = torch.tensor(gains, dtype=torch.float64, device=audio.device)[:, None]
    ramp = torch.clamp(torch.arange(audio.shape[-1] - seam, dtype=torch.float64, device=audio.device)
                       / max(1, round(ramp_s * sample_rate)), max=1.0)
    out = rows.clone()
    out[:, seam:] = (rows[:, seam:].double() * (1 + (gain - 1) * ramp)).to(audio.dtype)
    return out.reshape(audio.shape)


def auto_gain(audio: torch.Tensor, sample_rate: int, target_db: float = -21.0, time_constant_s: float = 2.0,
              max_boost_db: float = 12.0, max_cut_db: float = 24.0, knee: float = 0.9) -> torch.Tensor:
    """Bring audio [..., S] to ``target_db`` RMS with a slow, causal gain, then soft-limit the peaks.

    The level is a running mean of the power over about ``time_constant_s`` in 20-ms blocks,
    started as if the audio were already at the target (a quiet first note is not boosted to the
    limit), and the gain for a block ramps between the gains read at the ends of the two blocks
    before it: a sample's gain depends only on earlier audio, so a prefix's result never changes
    as audio is appended (what streaming needs). The gain is clamped to ``+max_boost_db`` /
    ``-max_cut_db``: near-silence stays quiet rather than becoming amplified noise. Above ``knee`` a
    tanh curve bends peaks below 1.0. Dynamics slower than the time constant are levelled out.
    ``CausalGain`` applies the same gain to audio that arrives piece by piece (the jam).
    """
    return CausalGain(sample_rate, target_db, time_constant_s, max_boost_db, max_cut_db, knee)(audio)


class CausalGain:
    """``auto_gain`` for audio that arrives in pieces: calling it on consecutive pieces [..., S_i]
    gives the samples ``auto_gain`` gives the whole. Its state (the running level, the last two
    block gains and the samples of the unfinished block) is a few numbers, whatever the length."""

    def __init__(self, sample_rate: int, target_db: float = -21.0, time_constant_s: float = 2.0,
                 max_boost_db: float = 12.0, max_cut_db: float = 24.0, knee: float = 0.9):
        self.hop = max(1, int(round(0.02 * sample_rate)))
        self.a = math.exp(-self.hop / (time_constant_s * sample_rate))
        self.target_db, self.max_boost_db, self.max_cut_db, self.knee = target_db, max_boost_db, max_cut_db, knee
        self.level = None  # running power after the last whole block (None: the target, as if already there)
        self.ends = None  # gains (dB) at the ends of the two blocks before the unfinished one
        self.pending = None  # samples of the unfinished block, already emitted

    def _block_gains(self, power: np.ndarray) -> np.ndarray:
        """The gain (dB) read at the end of each whole block [..., N], the running level moved on."""
        running = np.empty_like(power)
        for k in range(power.shape[-1]):  # a one-pole low-pass over blocks (3,000 for 60 s: a few ms)
            self.level = self.a * self.level + (1 - self.a) * power[..., k]
            running[..., k] = self.level
        level_db = 10 * np.log10(np.maximum(running, 1e-12))
        return np.clip(self.target_db - level_db, -self.max_cut_db, self.max_boost_db)

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.shape[-1] == 0:
            return audio
        hop, batch = self.hop, audio.shape[:-1]
        if self.level is None:
            self.level = np.full(batch, 10 ** (self.target_db / 10))
            self.ends = np.zeros(batch + (2,))  # 0 dB before the first block: the prior is the target
            self.pending = audio.new_zeros(*batch, 0).double()
        done = self.pending.shape[-1]  # samples of the first block already emitted
        x = torch.cat([self.pending, audio.double()], -1)
        blocks = x.shape[-1] // hop
        power = (x[..., : blocks * hop].reshape(*batch, blocks, hop) ** 2).sum(-1) / float(hop)
        # block m's samples ramp from the gain at the end of block m-2 to that at the end of block m-1
        ends = np.concatenate([self.ends, self._block_gains(power.cpu().numpy())], axis=-1)
        whole = -(-x.shape[-1] // hop)
        ramp = np.arange(hop) / hop
        curve = ends[..., :whole, None] + (ends[..., 1: whole + 1, None] - ends[..., :whole, None]) * ramp
        curve = curve.reshape(*batch, whole * hop)[..., done: x.shape[-1]]
        gain = torch.from_numpy(10 ** (curve / 20)).to(x.device)
        self.ends, self.pending = ends[..., blocks: blocks + 2], x[..., blocks * hop:]
        y = x[..., done:] * gain
        over = y.abs() > self.knee
        bent = torch.sign(y) * (self.knee + (1 - self.knee) * torch.tanh((y.abs() - self.knee) / (1 - self.knee)))
        return torch.where(over, bent, y).to(audio.dtype)


def save_audio(path: Union[str, os.PathLike], audio: torch.Tensor | np.ndarray, sample_rate: int) -> str:
    """Write mono audio as 16-bit PCM WAV (or FLAC / OGG by extension). Returns the path."""
    array = audio.detach().cpu().float().numpy() if torch.is_tensor(audio) else np.asarray(audio, np.float32)
    array = np.clip(array.reshape(-1), -1.0, 1.0)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    subtype = "PCM_16" if path.lower().endswith(".wav") else None
    sf.write(path, array, sample_rate, subtype=subtype)
    return path


# ---- RIFF chunks (loop metadata in WAV files) ------------------------------------------------
def append_wav_chunks(path: Union[str, os.PathLike], chunks: list[tuple[bytes, bytes]]) -> str:
    """Append RIFF chunks [(4-byte id, payload)] to a WAV file (after its data) and fix the RIFF size.

    Readers skip chunks they do not know; DAWs read tempo from ``acid``, loop points from ``smpl``
    and text from ``LIST``/``INFO``. Odd payloads get the pad byte RIFF asks for."""
    import struct

    path = os.fspath(path)
    with open(path, "r+b") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path} is not a RIFF/WAVE file; write it with save_audio(..., '.wav') first.")
        f.seek(0, os.SEEK_END)
        for chunk_id, payload in chunks:
            assert len(chunk_id) == 4, chunk_id
            f.write(chunk_id + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b""))
        size = f.tell() - 8
        f.seek(4)
        f.write(struct.pack("<I", size))
    return path


def read_wav_chunks(path: Union[str, os.PathLike]) -> dict[bytes, bytes]:
    """Every top-level chunk of a WAV file {id: payload} (the last one of an id wins)."""
    import struct

    with open(os.fspath(path), "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{os.fspath(path)} is not a RIFF/WAVE file.")
    chunks, pos = {}, 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos: pos + 4], struct.unpack("<I", data[pos + 4: pos + 8])[0]
        chunks[chunk_id] = data[pos + 8: pos + 8 + size]
        pos += 8 + size + (size % 2)
    return chunks
