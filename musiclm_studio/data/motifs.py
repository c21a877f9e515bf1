"""Motif-based melodies: a one-bar idea, repeated over the chords with variation, ending phrases.

A motif is a rhythm cell (onsets and lengths within a bar) plus a contour (scale steps between
notes). Four-bar phrases follow a form such as A A B C or A B A C, where the last bar is a
cadence: the motif's first half, then a long chord tone (the tonic at the end of the second
phrase). Notes on strong beats snap to tones of the chord under them; the others move by steps
of a local scale (the key's scale, or its pentatonic, bent to fit chromatic chords).
"""

from __future__ import annotations

import numpy as np

from .accompaniment import Frame, Note
from .theory import PENTATONIC, SCALES, Chord, nearest_pitch

CELLS = {  # metre -> density -> rhythm cells [(onset_q, dur_q), ...]
    "4/4": {
        "sparse": [[(0, 2), (2, 2)], [(0, 3), (3, 1)], [(0, 1.5), (1.5, 2.5)], [(0, 1), (1, 1), (2, 2)],
                   [(0.5, 1.5), (2, 2)]],
        "medium": [[(0, 1), (1, .5), (1.5, .5), (2, 1.5), (3.5, .5)], [(0, .5), (.5, .5), (1, 1), (2, 1), (3, 1)],
                   [(0, 1.5), (1.5, .5), (2, 1), (3, .5), (3.5, .5)], [(0, .75), (.75, .75), (1.5, 1.5), (3, 1)],
                   [(.5, .5), (1, .5), (1.5, 1), (2.5, .5), (3, 1)]],
        "dense": [[(k * .5, .5) for k in range(8)],
                  [(0, .25), (.25, .25), (.5, .5), (1, .5), (1.5, .5), (2, .25), (2.25, .25), (2.5, .5), (3, 1)],
                  [(0, .5), (.5, .25), (.75, .25), (1, .5), (1.5, .5), (2, .5), (2.5, .5), (3, 1)]],
    },
    "3/4": {
        "sparse": [[(0, 2), (2, 1)], [(0, 3)], [(0, 1), (1, 2)], [(0, 1.5), (1.5, 1.5)]],
        "medium": [[(0, 1), (1, 1), (2, 1)], [(0, 1.5), (1.5, .5), (2, 1)], [(0, .5), (.5, .5), (1, 1), (2, 1)],
                   [(0, 1), (1, .5), (1.5, .5), (2, 1)]],
        "dense": [[(k * .5, .5) for k in range(6)], [(0, .5), (.5, .25), (.75, .25), (1, .5), (1.5, .5), (2, 1)]],
    },
    "6/8": {
        "sparse": [[(0, 1.5), (1.5, 1.5)], [(0, 1), (1, .5), (1.5, 1.5)], [(0, 3)]],
        "medium": [[(0, 1), (1, .5), (1.5, 1), (2.5, .5)], [(0, .5), (.5, .5), (1, .5), (1.5, 1.5)],
                   [(0, 1.5), (1.5, .5), (2, .5), (2.5, .5)]],
        "dense": [[(k * .5, .5) for k in range(6)]],
    },
}
DENSITY = {"low": (0.6, 0.4, 0.0), "medium": (0.25, 0.6, 0.15), "high": (0.05, 0.5, 0.45)}
FORMS = ("AABC", "ABAC", "AAAC", "ABAB")


def melody_part(frame: Frame, metre: str, low: int, high: int, energy: str, bpm: int,
                pentatonic: bool, section: str) -> list[Note]:
    """The lead line over every bar of ``frame`` (notes in quarter beats)."""
    rng = frame.rng
    form = FORMS[int(rng.integers(len(FORMS)))]
    density = _density(rng, energy, bpm)
    motifs = {name: _motif(rng, metre, density) for name in "AB"}
    center = low + (high - low) * (0.6 if section == "chorus" else 0.45)
    notes, anchor = [], None
    for b, (start, length) in enumerate(frame.bars):
        if section == "intro" and b == 0 and len(frame.bars) >= 4:
            continue  # the band sets the scene before the melody enters
        letter = form[b % 4]
        if section == "build" and b >= len(frame.bars) // 2:
            density = "dense" if bpm < 140 else "medium"
            motifs["B"] = _motif(rng, metre, density) if letter != "B" else motifs["B"]
        if letter == "C":
            rhythm, contour = _cadence(motifs["A"], length)
        else:
            rhythm, contour = motifs[letter]
        final = b == len(frame.bars) - 1 or (letter == "C" and (b // 4) % 2 == 1)
        bar_notes, anchor = _realise(frame, start, rhythm, contour, center, anchor, low, high,
                                     pentatonic, final, vary=letter == "A" and b >= 4)
        notes += bar_notes
    return notes


def _density(rng, energy: str, bpm: int) -> str:
    weights = np.array(DENSITY[energy])
    if bpm > 140:
        weights = weights + np.array([0.2, 0.0, -weights[2]])
    return ("sparse", "medium", "dense")[int(rng.choice(3, p=weights / weights.sum()))]


def _motif(rng, metre: str, density: str):
    cells = CELLS[metre][density]
    rhythm = cells[int(rng.integers(len(cells)))]
    direction = 1 if rng.random() < 0.5 else -1
    steps = []
    for _ in rhythm[1:]:
        step = int(rng.choice([1, 1, 2, -1, 3, 0, -2]))
        if rng.random() < 0.12:
            step = int(rng.choice([4, -3, 5]))
        steps.append(step * direction)
    return rhythm, steps


def _cadence(motif, length: float):
    """The motif's first half, then a long note to the end of the bar."""
    rhythm, contour = motif
    half = [(t, d) for t, d in rhythm if t < length / 2]
    half = [(t, min(d, length / 2 - t)) for t, d in half] or [(0.0, length / 2)]
    rhythm = half + [(length / 2, length / 2)]
    return rhythm, contour[: len(rhythm) - 1] + [0] * max(0, len(rhythm) - 1 - len(contour))


def _realise(frame: Frame, start, rhythm, contour, center, anchor, low, high, pentatonic, final, vary):
    rng = frame.rng
    first_chord = frame.chord_at(start)
    if anchor is None:  # open on the third: it tells major from minor
        pitch = nearest_pitch(center, [(first_chord.root + first_chord.intervals[1]) % 12], low, high)
    else:
        pitch = nearest_pitch(anchor, first_chord.pitch_classes, low, high)
    out = []
    for i, (onset, dur) in enumerate(rhythm):
        pos = start + onset
        chord = frame.chord_at(pos)
        if i > 0:
            step = contour[i - 1]
            if vary and rng.random() < 0.2:
                step += int(rng.choice([-1, 1]))
            pitch = _step(pitch, step, _local_scale(frame, chord, pentatonic), low, high)
        if _strong(onset, frame.beat) or i == len(rhythm) - 1 and final:
            pitch = nearest_pitch(pitch, chord.pitch_classes, low, high)
        if final and i == len(rhythm) - 1:
            pitch = nearest_pitch(pitch, [frame.tonic], low, high)
        accent = 0.95 if onset == 0 else (0.85 if _strong(onset, frame.beat) else 0.75)
        out.append((pos, dur, pitch, accent * (0.9 + 0.1 * rng.random())))
    return out, out[0][2]


def _strong(onset: float, beat: float) -> bool:
    return float(onset) % beat == 0


def _local_scale(frame: Frame, chord: Chord, pentatonic: bool) -> list[int]:
    """Scale pitch classes, with any chord tone outside the key replacing its neighbours."""
    degrees = PENTATONIC[frame.mode] if pentatonic else SCALES[frame.mode]
    pcs = {(frame.tonic + d) % 12 for d in degrees}
    for pc in chord.pitch_classes:
        if pc not in pcs:
            pcs -= {(pc + 1) % 12, (pc - 1) % 12}
            pcs.add(pc)
    return sorted(pcs)


def _step(pitch: int, step: int, scale_pcs, low: int, high: int) -> int:
    """Move ``step`` scale degrees from ``pitch``, turning back at the range edges."""
    candidates = [p for p in range(low, high + 1) if p % 12 in scale_pcs]
    index = min(range(len(candidates)), key=lambda k: abs(candidates[k] - pitch))
    new = index + step
    if new < 0 or new >= len(candidates):
        new = index - step
    return candidates[max(0, min(len(candidates) - 1, new))]
