"""Music theory for the composer: keys, scales, Roman-numeral chords, voicings and swing.

Chords are written as Roman numerals relative to the key (``"ii7"``, ``"V7"``, ``"bVII"``,
``"Imaj7"``, ``"iim7b5"``, ``"i5"``). Upper case is a major triad and lower case a minor one;
the suffix adds a seventh, ninth, suspension or power-chord shape. In a minor key the numerals
count degrees of the natural minor scale, so ``V`` is the major dominant with its leading tone.
Times are in quarter-note beats throughout; ``swing_position`` maps straight positions onto
swung ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..vocab.musical_key import NOTE_NAMES  # noqa: F401  (re-exported: the corpus names keys with it)

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}
PENTATONIC = {"major": (0, 2, 4, 7, 9), "minor": (0, 3, 5, 7, 10)}
ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
QUALITIES = {  # intervals above the root
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10),
    "9": (0, 4, 7, 10, 14), "maj9": (0, 4, 7, 11, 14), "m9": (0, 3, 7, 10, 14),
    "sus4": (0, 5, 7), "sus2": (0, 2, 7), "5": (0, 7), "add9": (0, 4, 7, 14), "6": (0, 4, 7, 9),
}
_NUMERAL = re.compile(r"^([b#]?)(VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(.*)$")
METRES = {"4/4": (4.0, 1.0), "3/4": (3.0, 1.0), "6/8": (3.0, 1.5)}  # bar length, beat length


@dataclass(frozen=True)
class Chord:
    """A chord in a key: root pitch class (0-11), interval set and its Roman numeral."""

    root: int
    intervals: tuple[int, ...]
    numeral: str

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def is_minor(self) -> bool:
        return 3 in self.intervals and 4 not in self.intervals

    def name(self) -> str:
        """A lead-sheet name such as ``Am7`` or ``F#``."""
        suffix = {"maj": "", "min": "m", "7": "7", "m7": "m7", "maj7": "maj7", "m7b5": "m7b5",
                  "dim": "dim", "aug": "aug", "9": "9", "maj9": "maj9", "m9": "m9", "sus4": "sus4",
                  "sus2": "sus2", "5": "5", "add9": "add9", "6": "6"}
        quality = next(k for k, v in QUALITIES.items() if v == self.intervals)
        return NOTE_NAMES[self.root] + suffix[quality]


def parse_chord(numeral: str, tonic: int, mode: str) -> Chord:
    """Roman numeral -> Chord in the key of ``tonic`` (0-11) and ``mode``."""
    match = _NUMERAL.match(numeral)
    if match is None:
        raise ValueError(f"Unknown chord numeral {numeral!r}.")
    accidental, roman, suffix = match.groups()
    degree = ROMAN[roman.lower()]
    root = (tonic + SCALES[mode][degree] + {"b": -1, "#": 1, "": 0}[accidental]) % 12
    upper = roman.isupper()
    if suffix in ("", "dim", "aug"):
        quality = suffix or ("maj" if upper else "min")
    elif suffix == "7":
        quality = "7" if upper else "m7"
    elif suffix == "9":
        quality = "9" if upper else "m9"
    elif suffix in QUALITIES:
        quality = suffix
    else:
        raise ValueError(f"Unknown chord suffix in {numeral!r}.")
    return Chord(root, QUALITIES[quality], numeral)


def parse_progression(bars: tuple[str, ...], tonic: int, mode: str) -> list[list[Chord]]:
    """Progression text (one string per bar, chords in a bar split by commas) -> chords per bar."""
    return [[parse_chord(c.strip(), tonic, mode) for c in bar.split(",")] for bar in bars]


def scale_pitches(tonic: int, mode: str, low: int, high: int, pentatonic: bool = False) -> list[int]:
    """All MIDI pitches of the scale between ``low`` and ``high`` inclusive."""
    degrees = PENTATONIC[mode] if pentatonic else SCALES[mode]
    pcs = {(tonic + d) % 12 for d in degrees}
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def nearest_pitch(target: float, pitch_classes, low: int = 0, high: int = 127) -> int:
    """The MIDI pitch with one of ``pitch_classes`` closest to ``target`` within [low, high]."""
    pcs = set(pitch_classes)
    candidates = [p for p in range(low, high + 1) if p % 12 in pcs]
    return min(candidates, key=lambda p: (abs(p - target), p))


def voice_chord(chord: Chord, center: float, previous: list[int] | None = None,
                size: int = 4) -> list[int]:
    """A close voicing of ``chord`` around ``center`` that moves little from ``previous``."""
    pcs = list(chord.pitch_classes)[:size]
    best, best_cost = None, None
    for lowest in range(int(center) - 8, int(center) + 5):
        voicing = _stack_from(lowest, pcs)
        if voicing is None:
            continue
        ref = previous if previous else [center] * len(voicing)
        cost = sum(min(abs(v - r) for r in ref) for v in voicing) + abs(sum(voicing) / len(voicing) - center)
        if best_cost is None or cost < best_cost:
            best, best_cost = voicing, cost
    return best


def _stack_from(lowest: int, pcs: list[int]) -> list[int] | None:
    """Stack the pitch classes upwards from ``lowest`` (which must be one of them)."""
    if lowest % 12 not in pcs:
        return None
    notes, current = [lowest], lowest
    remaining = [pc for pc in pcs if pc != lowest % 12]
    while remaining:
        current += 1
        if current % 12 in remaining:
            notes.append(current)
            remaining.remove(current % 12)
    return notes


def bass_pitch(pc: int, low: int = 36) -> int:
    """The pitch class ``pc`` in the octave starting at ``low``."""
    return low + (pc - low) % 12


def swing_position(pos: float, swing8: float = 0.5, swing16: float = 0.5) -> float:
    """Map a straight position (quarter beats) to a swung one; 0.5 means straight."""
    beat, frac = divmod(pos, 1.0)
    if swing16 != 0.5:
        half, sub = divmod(frac, 0.5)
        sub = _swing_frac(sub / 0.5, swing16) * 0.5
        frac = half * 0.5 + sub
    return beat + _swing_frac(frac, swing8)


def _swing_frac(frac: float, ratio: float) -> float:
    if frac < 0.5:
        return frac * 2 * ratio
    return ratio + (frac - 0.5) * 2 * (1 - ratio)


def key_name(tonic: int, mode: str) -> str:
    return f"{NOTE_NAMES[tonic]} {mode}"
