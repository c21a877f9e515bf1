"""Render a composed ``Song`` to 24 kHz mono audio with a General MIDI SoundFont.

``Renderer`` wraps one ``tinysoundfont.Synth`` (the SoundFont is loaded once per process) and
plays each role's track on its own pass, scheduling note-on / note-off / pitch-bend events
sample-exactly between ``generate`` calls, so the output is deterministic. The mix balances
the roles by their active loudness, adds the production the caption may mention (a seeded
reverb tail, tanh saturation on distorted guitars, a lo-fi low-pass), normalises loudness and
keeps the peak below 1. ``render_song`` returns the mix and, on request, the lead alone.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import signal

from .composer import ROLES, Song

SAMPLE_RATE = 24_000
SOUNDFONT_CANDIDATES = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
ROLE_LEVEL_DB = {"lead": 0.0, "harmony": -6.0, "pad": -10.0, "bass": -6.0, "drums": -3.0}
DRUM_LEVEL_DB = {"techno": -1.0, "house": -1.0, "hip hop": -1.0, "metal": -2.0, "jazz": -6.0,
                 "bossa nova": -6.0, "folk": -6.0, "ambient": -7.0, "lo-fi": -3.5, "cinematic": -4.0}
_RENDERERS: dict = {}


def find_soundfont() -> str:
    """FluidR3_GM (MIT) when installed, else the TimGM6mb that pretty_midi ships (GPL-2)."""
    env = os.environ.get("MUSICLM_SOUNDFONT")
    if env:
        if not os.path.isfile(env):
            raise ValueError(f"MUSICLM_SOUNDFONT={env!r} is not a file.")
        return env
    for path in SOUNDFONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    import pretty_midi

    shipped = glob.glob(os.path.join(os.path.dirname(pretty_midi.__file__), "*.sf2"))
    if not shipped:
        raise ValueError("No General MIDI SoundFont found: apt-get install fluid-soundfont-gm.")
    return shipped[0]


def get_renderer(soundfont: Optional[str] = None, sample_rate: int = SAMPLE_RATE) -> "Renderer":
    """One cached renderer per process and SoundFont (loading FluidR3 takes ~1 s)."""
    key = (soundfont or find_soundfont(), sample_rate)
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(*key)
    return _RENDERERS[key]


class Renderer:
    """Plays pretty_midi instruments through tinysoundfont, one track per pass."""

    def __init__(self, soundfont: str, sample_rate: int = SAMPLE_RATE):
        import tinysoundfont

        self.soundfont, self.sample_rate = soundfont, sample_rate
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        self.sfid = self.synth.sfload(soundfont)

    def render_track(self, track, seconds: float, bank: Optional[int] = None,
                     preset: Optional[int] = None) -> np.ndarray:
        """One instrument -> mono float32 [S] (``bank`` / ``preset`` override the GM choice)."""
        total = int(round(seconds * self.sample_rate))
        chan = 9 if track.is_drum else 0
        synth = self.synth
        synth.sounds_off()
        synth.generate_simple(self.sample_rate // 10)  # let cut-off voices of the last pass die out
        synth.control_change(chan, 121, 0)  # reset all controllers
        bank = (128 if track.is_drum else 0) if bank is None else bank
        synth.program_select(chan, self.sfid, bank, track.program if preset is None else preset, track.is_drum)
        if not track.is_drum:
            synth.pitchbend_range(chan, 12)
            synth.pitchbend(chan, 8192)
        out, done = np.zeros(total, np.float32), 0
        for at, _, kind, a, b in _events(track, self.sample_rate):
            if at > done:
                n = min(at, total) - done
                if n > 0:
                    out[done: done + n] = _mono(synth.generate_simple(n))
                    done += n
            if done >= total:
                break
            if kind == 0:
                synth.noteoff(chan, a)
            elif kind == 1:
                synth.pitchbend(chan, a)
            else:
                synth.noteon(chan, a, b)
        if done < total:
            out[done:] = _mono(synth.generate_simple(total - done))
        synth.sounds_off()
        return out


def _events(track, sr: int):
    """(sample, order, kind, a, b): offs before bends before ons at the same sample."""
    events = []
    for note in track.notes:
        events.append((int(round(note.start * sr)), 2, 2, note.pitch, note.velocity))
        events.append((int(round(note.end * sr)), 0, 0, note.pitch, 0))
    for bend in track.pitch_bends:
        events.append((int(round(bend.time * sr)), 1, 1, int(bend.pitch) + 8192, 0))
    return sorted(events)


def _mono(buffer) -> np.ndarray:
    stereo = np.frombuffer(buffer, dtype=np.float32)
    return 0.5 * (stereo[0::2] + stereo[1::2])


@dataclass
class Rendered:
    """The mix [S] and optionally the lead alone [S], both float32 at ``sample_rate``."""

    mix: np.ndarray
    lead: Optional[np.ndarray]
    sample_rate: int


def render_song(song: Song, renderer: Optional[Renderer] = None, stems: bool = False) -> Rendered:
    """Render, balance, add production, normalise."""
    renderer = renderer or get_renderer()
    attrs, sr = song.attributes, renderer.sample_rate
    tracks = {}
    for role in ROLES:
        track = song.track(role)
        if track is not None and track.notes:
            audio = renderer.render_track(track, song.seconds)
            if role in ("lead", "harmony") and track.program in (29, 30):
                audio = np.tanh(3.0 * audio / (np.abs(audio).max() + 1e-9)).astype(np.float32)
            tracks[role] = _level(audio, _role_db(role, attrs.genre))
    mix = sum(tracks.values())
    lead = tracks.get("lead") if stems else None
    rng = np.random.default_rng([attrs.seed, attrs.index, 3])
    ir = _reverb_ir(sr, 0.6 + 2.4 * attrs.reverb, rng)
    chain = [lambda x: _reverb(x, ir, attrs.reverb)]
    if attrs.lofi:
        chain.append(lambda x: _lofi(x, sr))
    for effect in chain:
        mix = effect(mix)
        lead = effect(lead) if lead is not None else None
    return Rendered(_finish(mix, sr), _finish(lead, sr) if lead is not None else None, sr)


def _role_db(role: str, genre: str) -> float:
    return DRUM_LEVEL_DB.get(genre, ROLE_LEVEL_DB["drums"]) if role == "drums" else ROLE_LEVEL_DB[role]


def _level(audio: np.ndarray, db: float) -> np.ndarray:
    """Scale so the loud half of 50 ms frames sits at ``db`` relative to -20 dBFS."""
    frames = audio[: len(audio) // 1200 * 1200].reshape(-1, 1200)
    energy = np.sort((frames ** 2).mean(1))[len(frames) // 2:]
    active = float(np.sqrt(energy.mean())) if energy.size else 0.0
    if active < 1e-6:
        return audio
    return audio * (10 ** ((db - 20.0) / 20) / active)


def _reverb_ir(sr: int, seconds: float, rng) -> np.ndarray:
    """Exponentially decaying, darkening noise: a small room to a large hall."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n) * np.exp(-6.9 * t / seconds)
    b, a = signal.butter(1, 4000 / (sr / 2))
    ir = signal.lfilter(b, a, noise)
    ir[: int(0.012 * sr)] = 0.0  # pre-delay
    return (ir / np.sqrt((ir ** 2).sum())).astype(np.float32)


def _reverb(audio: np.ndarray, ir: np.ndarray, wet: float) -> np.ndarray:
    tail = signal.fftconvolve(audio, ir)[: len(audio)]
    return ((1 - 0.5 * wet) * audio + wet * tail).astype(np.float32)


def _lofi(audio: np.ndarray, sr: int) -> np.ndarray:
    """Muffled and warm: low-pass at 3.2 kHz, high-pass at 90 Hz, gentle saturation."""
    sos = signal.butter(4, [90, 3200], btype="band", fs=sr, output="sos")
    out = signal.sosfilt(sos, audio)
    peak = np.abs(out).max() + 1e-9
    return (np.tanh(1.5 * out / peak) * peak / 1.5).astype(np.float32)


def _finish(audio: np.ndarray, sr: int, target_db: float = -20.0, peak: float = 0.98) -> np.ndarray:
    """Loudness-normalise like ``audio.normalize_loudness`` (-20 dBFS RMS, peak <= 0.98), fade the
    last 20 ms. Done in float64 numpy: torch's threaded sums would make bytes depend on threads."""
    from ..audio import SILENCE_RMS

    x = audio.astype(np.float64)
    level = float(np.sqrt(np.mean(x ** 2)))
    if level >= SILENCE_RMS:
        x *= 10 ** (target_db / 20) / level
    return peak_and_fade(x, sr, peak)


def peak_and_fade(x: np.ndarray, sr: int, peak: float = 0.98) -> np.ndarray:
    """Scale float64 audio so its peak is at most ``peak``, fade the last 20 ms -> float32."""
    top = float(np.abs(x).max())
    if top > peak:
        x *= peak / top
    fade = int(0.02 * sr)
    x[-fade:] *= np.linspace(1.0, 0.0, fade)
    return x.astype(np.float32)
