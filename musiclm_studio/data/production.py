"""Production for corpus v2: Spotify's ``pedalboard`` per track and on the bus, ``pyloudnorm`` loudness.

``sample_production`` draws, per clip and from its genre, what a mix engineer would do: EQ
(high-pass and a shelf tilt per track), compression on the drums / bass / vocals and glue on the bus,
chorus on pads and comping, a tempo-synced delay on the lead, amp distortion on overdriven and
distorted guitars (and a little drive on lo-fi), a lo-fi band-limit and bit-crush, a reverb whose
amount is the clip's ``reverb`` attribute (so captions that mention reverb stay true), a limiter
and a loudness target in LUFS. ``Production`` records it all as booleans and numbers, so captions
can state what is audible (``settle`` makes them match what the chains held). ``track_board`` /
``bus_board`` build fresh (stateless) pedalboards,
and ``master`` normalises to the target with pyloudnorm, limits, and keeps the peak below 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .humanise import GENRE_STYLE
from .renderer import peak_and_fade

DISTORTED_PROGRAMS = (29, 30)
STYLE_ODDS = {  # style -> probability of (bus compressor, chorus on pads / comping, delay on the lead)
    "electronic": (0.9, 0.4, 0.5), "heavy": (0.9, 0.1, 0.2), "band": (0.7, 0.3, 0.25),
    "laid": (0.7, 0.3, 0.3), "acoustic": (0.3, 0.15, 0.1), "space": (0.4, 0.6, 0.7),
}
LUFS_RANGE = {"electronic": (-12.0, -8.0), "heavy": (-11.0, -8.0), "band": (-14.0, -9.0),
              "laid": (-16.0, -11.0), "acoustic": (-20.0, -14.0), "space": (-20.0, -14.0)}


@dataclass
class Production:
    """The clip's mix decisions (JSON-serialisable; stored in the metadata row)."""

    eq: bool
    bus_compressor: bool
    drum_compressor: bool
    chorus: bool
    delay: bool
    delay_beats: float
    distortion: bool
    drive_db: float
    reverb: float  # wet amount, 0-1 (the clip's ``reverb`` attribute)
    room_size: float
    lowpass_hz: Optional[float]  # lo-fi band-limit
    bitcrush_bits: Optional[int]
    limiter: bool
    lufs: float  # loudness target

    def to_dict(self) -> dict:
        return asdict(self)


def sample_production(attrs, rng: np.random.Generator) -> Production:
    """Genre-typical production for a clip with attributes ``attrs``."""
    style = GENRE_STYLE.get(attrs.genre, "band")
    p_bus, p_chorus, p_delay = STYLE_ODDS[style]
    has_pad = attrs.pad_program is not None or attrs.comping in ("pad", "block", "arp")
    distortion = attrs.distorted or attrs.lofi
    return Production(
        eq=bool(rng.random() < 0.8), bus_compressor=bool(rng.random() < p_bus),
        drum_compressor=bool(attrs.drums and rng.random() < 0.7),
        chorus=bool(has_pad and rng.random() < p_chorus), delay=bool(rng.random() < p_delay),
        delay_beats=float(rng.choice((0.5, 0.75, 1.0))), distortion=bool(distortion),
        drive_db=float(np.round(rng.uniform(14, 26) if attrs.distorted else rng.uniform(3, 7), 1)) if distortion else 0.0,
        reverb=float(attrs.reverb), room_size=float(np.round(0.3 + 0.75 * attrs.reverb + rng.uniform(0, 0.1), 3)),
        lowpass_hz=float(np.round(rng.uniform(2800, 4200))) if attrs.lofi else None,
        bitcrush_bits=int(rng.integers(9, 13)) if attrs.lofi and rng.random() < 0.4 else None,
        limiter=True, lufs=float(np.round(rng.uniform(*LUFS_RANGE[style]), 1)))


def track_board(role: str, program: Optional[int], production: Production, bpm: float, rng: np.random.Generator):
    """The per-track chain (fresh ``pedalboard.Pedalboard``) and the names of what it holds."""
    import pedalboard as pb

    plugins, names = [], []
    if production.eq:
        cutoff = {"bass": 35.0, "drums": 30.0}.get(role, float(rng.uniform(90, 180)))
        tilt = float(np.round(rng.uniform(-3, 3), 1))
        plugins += [pb.HighpassFilter(cutoff), pb.HighShelfFilter(cutoff_frequency_hz=5000, gain_db=tilt)]
        names += ["highpass", "shelf"]
    if role in ("lead", "harmony") and program in DISTORTED_PROGRAMS:
        plugins += [pb.Distortion(drive_db=production.drive_db), pb.LowpassFilter(6500)]
        names += ["distortion"]
    if role in ("drums", "bass", "vocals") and (role != "drums" or production.drum_compressor):
        plugins.append(pb.Compressor(threshold_db=-18, ratio=4 if role == "drums" else 3, attack_ms=5, release_ms=80))
        names.append("compressor")
    if production.chorus and role in ("pad", "harmony"):
        plugins.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 1.2)), depth=0.25, mix=0.45))
        names.append("chorus")
    if production.delay and role == "lead":
        plugins.append(pb.Delay(delay_seconds=production.delay_beats * 60.0 / bpm, feedback=0.3, mix=0.25))
        names.append("delay")
    return pb.Pedalboard(plugins), names


def bus_board(production: Production):
    """The bus chain (lo-fi colour, glue compression, reverb: a fresh ``pedalboard.Pedalboard``) and
    the names of what it holds."""
    import pedalboard as pb

    plugins, names = [], []
    if production.lowpass_hz:
        plugins += [pb.HighpassFilter(90.0), pb.LowpassFilter(production.lowpass_hz)]
        names += ["highpass", "lowpass"]
        if production.drive_db and not production.bitcrush_bits:
            plugins.append(pb.Distortion(drive_db=production.drive_db))
            names.append("distortion")
        if production.bitcrush_bits:
            plugins.append(pb.Bitcrush(bit_depth=production.bitcrush_bits))
            names.append("bitcrush")
    if production.bus_compressor:
        plugins.append(pb.Compressor(threshold_db=-16, ratio=2.0, attack_ms=20, release_ms=150))
        names.append("compressor")
    wet = production.reverb
    plugins.append(pb.Reverb(room_size=min(0.98, production.room_size), damping=0.5, wet_level=0.6 * wet,
                             dry_level=1.0 - 0.35 * wet, width=0.0))
    names.append("reverb")
    return pb.Pedalboard(plugins), names


def settle(production: Production, effects: dict) -> None:
    """Make the booleans say what was applied (``effects``: chain -> plugin names), e.g. no chorus
    flag when the clip has no pad or comping to put it on."""
    used = {(chain, name) for chain, names in effects.items() for name in names}
    production.chorus = any(name == "chorus" for _, name in used)
    production.delay = any(name == "delay" for _, name in used)
    production.distortion = any(name == "distortion" for _, name in used)
    production.drum_compressor = ("drums", "compressor") in used
    production.bus_compressor = ("bus", "compressor") in used


def master(audio: np.ndarray, production: Production, sr: int, peak: float = 0.98) -> np.ndarray:
    """Limiter, loudness to ``production.lufs`` (pyloudnorm, ITU-R BS.1770), peak <= ``peak``, 20 ms fade.

    pedalboard's Limiter (JUCE's) compresses and adds make-up gain, so loudness is set after it;
    the peak guard may leave the hottest targets a little quieter (``loudness`` reports the result).
    """
    import pedalboard as pb

    x = audio.astype(np.float64)
    if np.sqrt(np.mean(x ** 2)) > 1e-5:
        x = _to_lufs(x, production.lufs, sr)
        if production.limiter:
            x = pb.Pedalboard([pb.Limiter(threshold_db=-1.0, release_ms=60)])(x.astype(np.float32), sr)
            x = _to_lufs(x.astype(np.float64), production.lufs, sr)
    return peak_and_fade(x, sr, peak)


def loudness(audio: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS (pyloudnorm), -inf for silence."""
    import pyloudnorm

    return float(pyloudnorm.Meter(sr).integrated_loudness(audio.astype(np.float64)))


def _to_lufs(x: np.ndarray, target: float, sr: int) -> np.ndarray:
    level = loudness(x, sr)
    return x * 10 ** ((target - level) / 20) if np.isfinite(level) else x
