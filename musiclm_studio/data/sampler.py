"""Small numpy samplers: Hydrogen drum kits (Debian ``hydrogen-drumkits``: GM drum notes in, 24 kHz
mono out) and multi-sampled pitched instruments (the Salamander Grand Piano of npm ``@audio-samples``).

``HydrogenKit`` reads a kit's ``drumkit.xml`` (both layouts: ``<layer>`` velocity layers with
``min``/``max``/``gain``, or one ``<filename>`` per instrument), maps the General MIDI drum notes
the composer writes (kick 36, snare 38, hi-hats 42/44/46, toms, crash, ride, percussion) to the
kit's instruments by their names, and plays each note as a one-shot: the velocity picks the layer
and scales it; an open hi-hat is choked by the next hi-hat hit, as on a real kit. Samples are read
with soundfile and resampled once per process (``scipy.signal.resample_poly``), so rendering is a
few array additions per hit and byte-for-byte deterministic. ``MultiSampledInstrument`` does the
same for a pitched instrument recorded every few semitones at several velocities.
"""

from __future__ import annotations

import glob
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

HYDROGEN_DIR = "/usr/share/hydrogen/data/drumkits"
HIHATS = (42, 44, 46)
CHOKE_FADE_S = 0.015
MAX_HIT_S = 2.5
# GM drum note -> name patterns (lower-case regex), tried in order; (pattern, exclude)
NOTE_PATTERNS = {
    36: [(r"kick|bass ?drum|bassdrum|\bbd\b", None)],
    37: [(r"side ?stick|\bstick\b|rim ?click|\brim\b", r"rimshot|snare")],
    38: [(r"snare", r"roll|rim|stick")],
    39: [(r"clap", None)],
    42: [(r"(hh|hat).*(closed|\bcl\b)|closed.*(hh|hat)", None)],
    44: [(r"(hh|hat).*(pedal|\bpd\b)|pedal.*(hh|hat)", None)],
    46: [(r"(hh|hat).*(open|\bop\b)|open.*(hh|hat)", r"semi")],
    49: [(r"crash", None)],
    51: [(r"ride", r"bell")],
    54: [(r"tambourine|\btamb", None)],
    56: [(r"cowbell", None)],
    70: [(r"shaker|maraca", None)],
    75: [(r"clave", None)],
}
TOM_PATTERNS = {  # high, mid, low: GM 50/48 high, 47/45 mid, 43/41 low
    "high": r"tom.*(\bhi\b|high|\b1\b)|(\bhi\b|high).*tom",
    "mid": r"tom.*(mid|\b2\b)|mid.*tom|^tom$",
    "low": r"floor|tom.*(\blow?\b)|\blow?\b.*tom",
}
TOM_NOTES = {50: "high", 48: "high", 47: "mid", 45: "mid", 43: "low", 41: "low"}
TOM_FALLBACK = {"high": ("high", "mid", "low"), "mid": ("mid", "high", "low"), "low": ("low", "mid")}


@dataclass
class Layer:
    path: str
    low: float  # velocity range 0-1
    high: float
    gain: float


@dataclass
class KitInstrument:
    name: str
    gain: float
    layers: list[Layer]

    def layer_for(self, velocity: float) -> Layer:
        """The layer whose range holds ``velocity`` (0-1), else the nearest one."""
        for layer in self.layers:
            if layer.low <= velocity <= layer.high:
                return layer
        return min(self.layers, key=lambda l: min(abs(velocity - l.low), abs(velocity - l.high)))


class HydrogenKit:
    """One Hydrogen kit folder played as a GM drum kit."""

    def __init__(self, folder: str, sample_rate: int = 24_000):
        path = os.path.join(folder, "drumkit.xml")
        if not os.path.isfile(path):
            raise ValueError(f"{folder!r} has no drumkit.xml; install Debian hydrogen-drumkits (make system-deps).")
        self.folder, self.sample_rate = folder, sample_rate
        self.name, self.licence, self.instruments = _parse(path)
        self.mapping = _map_notes(self.instruments)

    @property
    def notes(self) -> set[int]:
        """The GM drum notes this kit can play."""
        return set(self.mapping)

    def render(self, notes, seconds: float) -> np.ndarray:
        """``notes``: objects with ``start``, ``pitch``, ``velocity`` (pretty_midi) -> float32 [S]."""
        sr, total = self.sample_rate, int(round(seconds * self.sample_rate))
        out = np.zeros(total, np.float64)
        hits = sorted((int(round(n.start * sr)), n.pitch, n.velocity) for n in notes if n.pitch in self.mapping)
        hat_onsets = [at for at, pitch, _ in hits if pitch in HIHATS]
        for at, pitch, velocity in hits:
            if at >= total:
                continue
            inst = self.instruments[self.mapping[pitch]]
            v = velocity / 127.0
            layer = inst.layer_for(v)
            sample = self._sample(layer.path)
            n = min(len(sample), total - at)
            hit = sample[:n] * (layer.gain * inst.gain * v)
            if pitch in HIHATS:  # choke: the next hi-hat hit closes this one
                nxt = next((o for o in hat_onsets if o > at), None)
                if nxt is not None and nxt - at < n:
                    stop, fade = nxt - at, int(CHOKE_FADE_S * sr)
                    hit = hit[: stop + fade].copy()
                    hit[stop:] *= np.linspace(1.0, 0.0, len(hit) - stop)
                    n = len(hit)
            out[at: at + n] += hit
        return out.astype(np.float32)

    def _sample(self, path: str) -> np.ndarray:
        return _load(os.path.join(self.folder, path), self.sample_rate)


@lru_cache(maxsize=512)
def _load(path: str, sample_rate: int, max_seconds: float = MAX_HIT_S) -> np.ndarray:
    """A sample as mono float32 at ``sample_rate`` (cut to ``max_seconds``, cached per process)."""
    import soundfile
    from scipy.signal import resample_poly

    audio, sr = soundfile.read(path, dtype="float64", always_2d=True)
    audio = audio[: int(max_seconds * sr)].mean(axis=1)
    if sr != sample_rate:
        g = math.gcd(sr, sample_rate)
        audio = resample_poly(audio, sample_rate // g, sr // g)
    return audio.astype(np.float32)


def _parse(path: str) -> tuple[str, str, list[KitInstrument]]:
    root = ET.parse(path).getroot()
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""

    def text(node, tag, default=""):
        value = node.findtext(f"{ns}{tag}")
        return value.strip() if value else default

    instruments = []
    for node in root.iter(f"{ns}instrument"):
        gain = float(text(node, "volume", "1")) * float(text(node, "gain", "1"))
        layers = [Layer(text(l, "filename"), float(text(l, "min", "0")), float(text(l, "max", "1")),
                        float(text(l, "gain", "1"))) for l in node.iter(f"{ns}layer") if text(l, "filename")]
        if not layers and text(node, "filename"):
            layers = [Layer(text(node, "filename"), 0.0, 1.0, 1.0)]
        folder = os.path.dirname(path)
        layers = [l for l in layers if os.path.isfile(os.path.join(folder, l.path))]
        if layers and text(node, "name") and text(node, "isMuted", "false") != "true":
            instruments.append(KitInstrument(text(node, "name"), gain, layers))
    return text(root, "name"), text(root, "license"), instruments


def _map_notes(instruments: list[KitInstrument]) -> dict[int, int]:
    """GM drum note -> index of the kit instrument whose name fits it."""
    names = [i.name.lower() for i in instruments]

    def find(pattern: str, exclude: Optional[str]) -> Optional[int]:
        for k, name in enumerate(names):
            if re.search(pattern, name) and not (exclude and re.search(exclude, name)):
                return k
        return None

    mapping = {}
    for note, patterns in NOTE_PATTERNS.items():
        for pattern, exclude in patterns:
            k = find(pattern, exclude)
            if k is not None:
                mapping[note] = k
                break
    toms = {size: find(pattern, r"snare|hat") for size, pattern in TOM_PATTERNS.items()}
    for note, size in TOM_NOTES.items():
        k = next((toms[s] for s in TOM_FALLBACK[size] if toms.get(s) is not None), None)
        if k is not None:
            mapping[note] = k
    return mapping


# ----------------------------------------------------------------------------- pitched instruments
NOTE_INDEX = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9, "A#": 10, "B": 11}
RELEASE_S = 0.25
MAX_NOTE_S = 4.0


class MultiSampledInstrument:
    """A pitched instrument from one recording per (pitch, velocity layer), e.g. the Salamander piano.

    ``layers`` maps a folder to the top of its velocity range (1-127), its files named like
    ``C4v8.ogg`` / ``D#3v8.ogg``. A note plays the nearest recorded pitch of its layer, resampled by
    linear interpolation to the note's pitch, held for the note's length, then released with a
    ``RELEASE_S`` fade (a damper).
    """

    def __init__(self, layers: dict[str, int], sample_rate: int = 24_000):
        self.sample_rate = sample_rate
        self.layers = []  # (top velocity, {midi pitch: path})
        for folder, top in sorted(layers.items(), key=lambda kv: kv[1]):
            files = {}
            for path in glob.glob(os.path.join(folder, "*.ogg")) + glob.glob(os.path.join(folder, "*.wav")):
                match = re.match(r"([A-G]#?)(-?\d)v\d+\.", os.path.basename(path))
                if match:
                    files[12 * (int(match.group(2)) + 1) + NOTE_INDEX[match.group(1)]] = path
            if not files:
                raise ValueError(f"No samples named like C4v1.ogg in {folder!r}; run `make sample-deps`.")
            self.layers.append((top, files))

    def render(self, notes, seconds: float) -> np.ndarray:
        """``notes`` with ``start``, ``end``, ``pitch``, ``velocity`` -> float32 [S]."""
        sr, total = self.sample_rate, int(round(seconds * self.sample_rate))
        out = np.zeros(total, np.float64)
        for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
            at = int(round(note.start * sr))
            if at >= total:
                continue
            files = next((f for top, f in self.layers if note.velocity <= top), self.layers[-1][1])
            root = min(files, key=lambda p: (abs(p - note.pitch), p))
            hold = min(note.end - note.start, MAX_NOTE_S)
            n = min(total - at, int((hold + RELEASE_S) * sr))
            hit = _shifted(_load(files[root], sr, MAX_NOTE_S + RELEASE_S), note.pitch - root, n)
            release = int(hold * sr)
            if release < len(hit):
                hit[release:] *= np.linspace(1.0, 0.0, len(hit) - release)
            out[at: at + len(hit)] += hit * (0.35 + 0.65 * note.velocity / 127)
        return out.astype(np.float32)


def _shifted(sample: np.ndarray, semitones: int, n: int) -> np.ndarray:
    """The first ``n`` samples of ``sample`` played ``semitones`` higher (linear interpolation)."""
    if semitones == 0:
        return sample[:n].astype(np.float64)
    ratio = 2 ** (semitones / 12)
    positions = np.arange(min(n, int((len(sample) - 1) / ratio))) * ratio
    return np.interp(positions, np.arange(len(sample)), sample)
