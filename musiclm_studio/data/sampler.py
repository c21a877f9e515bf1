"""Small numpy samplers: Hydrogen drum kits (Debian ``hydrogen-drumkits``: GM drum notes in, 24 kHz
mono out) and multi-sampled pitched instruments (the Salamander Grand Piano of npm ``@audio-samples``).

``HydrogenKit`` reads a kit's ``drumkit.xml`` (both layouts: ``<layer>`` velocity layers with
``min``/``max``/``gain``, or one ``<filename>`` per instrument), maps the General MIDI drum notes
the composer writes (kick 36, snare 38, hi-hats 42/44/46, toms, crash, ride, percussion) to the
kit's instruments by their names, and plays each note as a one-shot: the velocity picks the layer
and scales it; an open hi-hat is choked by the next hi-hat hit, as on a real kit. Samples are read
with soundfile and resampled once per process (``scipy.signal.resample_poly``), so rendering is a
few array additions per hit and byte-for-byte deterministic. ``MultiSampledInstrument`` does the
same for a pitched instrument recorded every few semitones at several velocities, and ``PatchSet``
for a folder of General MIDI GUS patches (Debian ``freepats``), whose recordings loop while a note is held.
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
        def hit(note, n: int) -> np.ndarray:
            files = next((f for top, f in self.layers if note.velocity <= top), self.layers[-1][1])
            root = min(files, key=lambda p: (abs(p - note.pitch), p))
            return _shifted(_load(files[root], self.sample_rate, MAX_NOTE_S + RELEASE_S), note.pitch - root, n)

        return play_notes(notes, seconds, self.sample_rate, hit)


def play_notes(notes, seconds: float, sample_rate: int, hit) -> np.ndarray:
    """Mix ``notes`` (``start``, ``end``, ``pitch``, ``velocity``) into float32 [S]: ``hit(note, n)`` gives
    each note's first ``n`` samples (up to ``MAX_NOTE_S`` held plus ``RELEASE_S``); it is faded out over
    the release after the note ends, and scaled by its velocity."""
    sr, total = sample_rate, int(round(seconds * sample_rate))
    out = np.zeros(total, np.float64)
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        at = int(round(note.start * sr))
        if at >= total:
            continue
        hold = min(note.end - note.start, MAX_NOTE_S)
        sound = hit(note, min(total - at, int((hold + RELEASE_S) * sr)))
        release = int(hold * sr)
        if release < len(sound):
            sound[release:] *= np.linspace(1.0, 0.0, len(sound) - release)
        out[at: at + len(sound)] += sound * (0.35 + 0.65 * note.velocity / 127)
    return out.astype(np.float32)


def _shifted(sample: np.ndarray, semitones: int, n: int) -> np.ndarray:
    """The first ``n`` samples of ``sample`` played ``semitones`` higher (linear interpolation)."""
    if semitones == 0:
        return sample[:n].astype(np.float64)
    ratio = 2 ** (semitones / 12)
    positions = np.arange(min(n, int((len(sample) - 1) / ratio))) * ratio
    return np.interp(positions, np.arange(len(sample)), sample)


@dataclass
class PatchSample:
    """One recording of a Gravis UltraSound patch: float PCM, its rate, loop, and the pitch range it plays."""

    pcm: np.ndarray  # float32 in [-1, 1]
    rate: int
    loop: Optional[tuple[int, int]]  # (start, end) in samples, when the patch loops while the note is held
    low_hz: float
    high_hz: float
    root_hz: float


@lru_cache(maxsize=None)
def read_patch(path: str) -> tuple[PatchSample, ...]:
    """The samples of a GUS patch file (``GF1PATCH110``, as Debian's ``freepats`` ships them), first layer.

    The format: a 129-byte file header, a 63-byte instrument header, a 47-byte layer header, then per
    sample a 96-byte header (name, data size, loop start and end in bytes, rate, low / high / root
    frequency in mHz, envelope, modes: bit 0 16-bit, bit 1 unsigned, bit 2 looping) and its PCM data.
    """
    import struct

    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith((b"GF1PATCH110", b"GF1PATCH100")):
        raise ValueError(f"{path!r} is not a GUS patch (no GF1PATCH header).")
    at = 129 + 63
    count = data[at + 6]
    at += 47
    samples = []
    for _ in range(count):
        header = data[at: at + 96]
        size, loop_start, loop_end = struct.unpack("<III", header[8:20])
        rate = struct.unpack("<H", header[20:22])[0]
        low, high, root = (v / 1000 for v in struct.unpack("<III", header[22:34]))
        modes = header[55]
        raw = data[at + 96: at + 96 + size]
        width = 2 if modes & 1 else 1
        kind = ("<u2" if modes & 2 else "<i2") if width == 2 else ("u1" if modes & 2 else "i1")
        pcm = np.frombuffer(raw[: len(raw) // width * width], dtype=kind).astype(np.float32)
        if modes & 2:  # unsigned: centre it
            pcm -= 2 ** (8 * width - 1)
        pcm /= 2 ** (8 * width - 1)
        start, end = loop_start // width, loop_end // width
        loop = (start, end) if modes & 4 and end - start > 8 else None
        samples.append(PatchSample(pcm, rate, loop, low, high, root))
        at += 96 + size
    if not samples:
        raise ValueError(f"{path!r} holds no samples.")
    return tuple(samples)


class PatchSet:
    """General MIDI programs from a folder of GUS patches named ``NNN_Name.pat`` (Debian ``freepats``:
    ``Tone_000/000_Acoustic_Grand_Piano.pat`` ...).

    A note plays the recording whose pitch range holds it, resampled to its pitch (linear
    interpolation); a looping recording loops while the note is held, then every note is released
    with a ``RELEASE_S`` fade; the velocity scales it as the Salamander piano's does.
    """

    def __init__(self, folder: str, sample_rate: int = 24_000):
        self.sample_rate = sample_rate
        self.files = {}
        for path in glob.glob(os.path.join(folder, "Tone_000", "*.pat")):
            match = re.match(r"(\d{3})_", os.path.basename(path))
            if match:
                self.files[int(match.group(1))] = path
        if not self.files:
            raise ValueError(f"No GUS patches named like 000_Acoustic_Grand_Piano.pat in {folder!r}/Tone_000; "
                             "apt-get install freepats (make system-deps).")

    @property
    def programs(self) -> tuple[int, ...]:
        return tuple(sorted(self.files))

    def render(self, program: int, notes, seconds: float) -> np.ndarray:
        """``notes`` (``start``, ``end``, ``pitch``, ``velocity``) of ``program`` -> float32 [S]."""
        if program not in self.files:
            raise ValueError(f"This patch set has no program {program}; it plays {list(self.programs)}.")
        samples = read_patch(self.files[program])

        def hit(note, n: int) -> np.ndarray:
            hz = 440.0 * 2 ** ((note.pitch - 69) / 12)
            sample = next((s for s in samples if s.low_hz <= hz <= s.high_hz),
                          min(samples, key=lambda s: abs(math.log(hz / s.root_hz))))
            return _patch_note(sample, hz / sample.root_hz * sample.rate / self.sample_rate, n)

        return play_notes(notes, seconds, self.sample_rate, hit)


def _patch_note(sample: PatchSample, step: float, n: int) -> np.ndarray:
    """``n`` output samples of ``sample`` read every ``step`` input samples, looping where it loops (linear
    interpolation; an unlooped recording stops at its end)."""
    positions = np.arange(n) * step
    if sample.loop is not None:
        start, end = sample.loop
        past = positions >= end
        positions[past] = start + np.mod(positions[past] - start, end - start)
    else:
        positions = positions[positions < len(sample.pcm) - 1]
    return np.interp(positions, np.arange(len(sample.pcm)), sample.pcm)
