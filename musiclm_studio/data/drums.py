"""Drum grooves per genre, written as sixteenth-note step strings, plus fills and crashes.

A groove is one bar per GM drum note: ``X`` accent, ``x`` hit, ``o`` ghost note, ``.`` rest
(16 steps in 4/4, 12 in 3/4 and 6/8). Each groove has a few variants; the composer picks one per
clip and ``drum_part`` lays it over the bars with the section's changes: crashes on chorus
downbeats, tom fills closing each four-bar phrase, a snare roll at the end of a build, a
sparser kit in an intro. Swing is applied later, when beats become seconds.
"""

from __future__ import annotations

import numpy as np

KICK, RIM, SNARE, CLAP, CLOSED, PEDAL, OPEN, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOMS = (50, 48, 47, 45, 43, 41)  # high to low
TAMB, COWBELL, CONGA_MUTE, CONGA_OPEN, CONGA_LOW, SHAKER, CLAVES = 54, 56, 62, 63, 64, 70, 75
LEVELS = {"X": 1.0, "x": 0.8, "o": 0.42}

GROOVES = {
    "backbeat": [
        {KICK: "x.......x.x.....", SNARE: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x.....x.x.......", SNARE: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x.......x.......", SNARE: "....x.......x...", RIDE: "x.x.x.x.x.x.x.x."},
    ],
    "pop": [
        {KICK: "x.....x.x.......", SNARE: "....x.......x...", CLAP: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x.......x..x....", SNARE: "....x.......x...", CLOSED: "xxx.xxx.xxx.xxx.", SHAKER: "o.o.o.o.o.o.o.o."},
    ],
    "house": [
        {KICK: "x...x...x...x...", CLAP: "....x.......x...", OPEN: "..x...x...x...x.", SHAKER: "oooooooooooooooo"},
        {KICK: "x...x...x...x...", CLAP: "....x.......x...", CLOSED: "o.x.o.x.o.x.o.x.", OPEN: "..o...o...o...o."},
    ],
    "techno": [
        {KICK: "X...X...X...X...", CLOSED: "oxoxoxoxoxoxoxox", OPEN: "..x...x...x...x.", CLAP: "....x.......x..."},
        {KICK: "X...X...X...X...", CLOSED: "xoxoxoxoxoxoxoxo", RIDE: "..x...x...x...x.", RIM: "...o..o....o..o."},
    ],
    "boom_bap": [
        {KICK: "x.........x.....", SNARE: "....X.......X...", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x......x..x.....", SNARE: "....X.......X...", CLOSED: "x.x.x.x.x.x.x.xo"},
    ],
    "trap": [
        {KICK: "x......x..x.....", SNARE: "........X.......", CLOSED: "xxxxxxxxxxxxxxxx", OPEN: "..............x."},
        {KICK: "x.....x...x..x..", CLAP: "........X.......", CLOSED: "x.xxx.xxx.xxx.xx"},
    ],
    "lofi": [
        {KICK: "x.........x.....", SNARE: "....x.......x...", CLOSED: "x.o.x.o.x.o.x.o."},
        {KICK: "x......x..x.....", RIM: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
    ],
    "one_drop": [
        {KICK: "........x.......", RIM: "........x.......", CLOSED: "x.x.x.x.x.x.x.x.", OPEN: "..............o."},
        {KICK: "........x.......", SNARE: "........x.......", CLOSED: "x.x.x.x.x.x.x.x."},
    ],
    "bossa": [
        {KICK: "x..xx..xx..xx..x", RIM: "x..x..x...x..x..", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x..xx..xx..xx..x", RIM: "x..x...x..x..x..", SHAKER: "xoxoxoxoxoxoxoxo"},
    ],
    "jazz_ride": [
        {RIDE: "x...x.x.x...x.x.", PEDAL: "....x.......x...", KICK: "o...o...o...o..."},
    ],
    "shuffle": [
        {KICK: "x.......x.......", SNARE: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x.....x.x.......", SNARE: "....x.......x...", RIDE: "x.x.x.x.x.x.x.x."},
    ],
    "metal": [
        {KICK: "xxxxxxxxxxxxxxxx", SNARE: "....X.......X...", CRASH: "x...x...x...x..."},
        {KICK: "x.x.x.x.x.x.x.x.", SNARE: "....X.......X...", RIDE: "x.x.x.x.x.x.x.x."},
    ],
    "funk": [
        {KICK: "x.....x...x..x..", SNARE: "....x..o.o..x..o", CLOSED: "xoxoxoxoxoxoxoxo"},
        {KICK: "x..x......x..x..", SNARE: "....x.o....ox...", CLOSED: "xoxoxoxoxoxoxoxo", OPEN: "..............x."},
    ],
    "country": [
        {KICK: "x.......x.......", SNARE: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
        {KICK: "x.......x.......", SNARE: "o.x.o.x.o.x.o.x.", TAMB: "....x.......x..."},
    ],
    "salsa": [
        {COWBELL: "X...x...X...x...", CLAVES: "x..x..x...x.x...", CONGA_MUTE: "x...x...x...x...",
         CONGA_OPEN: "......xx......xx", KICK: "...x.......x...."},
    ],
    "epic": [
        {KICK: "x.....x.x.......", TOMS[5]: "x..x..x.x..x..x.", SNARE: "........x.......", TOMS[3]: "......x.......x."},
        {KICK: "x.......x.......", TOMS[4]: "x.x.x.x.x.x.x.x.", SNARE: "....x.......x..."},
    ],
    "folk": [
        {KICK: "x.......x.......", TAMB: "....x.......x...", SHAKER: "o.o.o.o.o.o.o.o."},
        {KICK: "x.......x.......", RIM: "....x.......x...", CLOSED: "x.x.x.x.x.x.x.x."},
    ],
    "ambient": [
        {KICK: "x.........x.....", RIM: "........o.......", SHAKER: "o.o.o.o.o.o.o.o."},
    ],
}
TRIPLE = {  # 3/4 grooves (12 sixteenth steps)
    "jazz_ride": {RIDE: "x...x.x.x.x.", PEDAL: "....x...x...", KICK: "o..........."},
    "default": {KICK: "x...........", SNARE: "....x...x...", CLOSED: "x.x.x.x.x.x."},
}
COMPOUND = {  # 6/8 grooves (12 steps: six eighths)
    "default": {KICK: "x...........", SNARE: "......x.....", CLOSED: "x.x.x.x.x.x."},
    "epic": {KICK: "x.....x.....", TOMS[5]: "x.xx..x.xx..", SNARE: "......x....."},
}


def groove_for(groove: str, metre: str, rng: np.random.Generator) -> dict:
    """One bar of the groove for this metre (step strings per drum note)."""
    if metre == "3/4":
        return TRIPLE.get(groove, TRIPLE["default"])
    if metre == "6/8":
        return COMPOUND.get(groove, COMPOUND["default"])
    variants = GROOVES[groove]
    return variants[int(rng.integers(len(variants)))]


def drum_part(pattern: dict, bars: list[tuple[float, float]], section: str, energy: float,
              groove: str, rng: np.random.Generator) -> list[tuple[float, float, int, float]]:
    """Notes (start_q, dur_q, pitch, velocity 0-1) of the drum kit over ``bars``."""
    notes = []
    for b, (start, length) in enumerate(bars):
        last_of_phrase = b % 4 == 3 or b == len(bars) - 1
        ramp = 0.72 + 0.28 * b / max(1, len(bars) - 1) if section == "build" else 1.0
        for pitch, steps in pattern.items():
            if section == "intro" and pitch in (SNARE, CLAP, CRASH) and b < len(bars) - 1:
                continue
            step = length / len(steps)
            for i, char in enumerate(steps):
                if char == ".":
                    continue
                if last_of_phrase and section != "intro" and i * step >= length - 1 and pitch not in (KICK, PEDAL):
                    continue  # the fill takes the last beat
                notes.append((start + i * step, step, pitch, LEVELS[char] * energy * ramp))
        if groove == "jazz_ride":
            notes += _jazz_comping(start, length, energy, rng)
        if groove == "trap" and b % 2 == 1:
            notes += [(start + length - 1 + k / 6, 1 / 6, CLOSED, 0.5 * energy) for k in range(6)]
        if section in ("chorus", "build") and b % 4 == 0:
            notes.append((start, 1.0, CRASH, 0.9 * energy))
        if last_of_phrase and section != "intro":
            notes += _fill(start + length - 1, section == "build" and b == len(bars) - 1, energy, rng)
    return notes


def _fill(start: float, roll: bool, energy: float, rng: np.random.Generator) -> list:
    """A one-beat fill (sixteenths on snare and toms), or a snare roll to end a build."""
    if roll:
        return [(start - 1 + k / 8, 1 / 8, SNARE, (0.5 + 0.5 * k / 16) * energy) for k in range(16)]
    kind = int(rng.integers(3))
    voices = [(SNARE, SNARE, TOMS[1], TOMS[3]), (TOMS[0], TOMS[2], TOMS[4], TOMS[5]), (SNARE, SNARE, SNARE, SNARE)][kind]
    return [(start + k / 4, 0.25, v, (0.7 + 0.08 * k) * energy) for k, v in enumerate(voices)]


def _jazz_comping(start: float, length: float, energy: float, rng: np.random.Generator) -> list:
    """Sparse snare 'comping' ghost notes on swung off-beats."""
    hits = []
    for beat in range(int(length)):
        if rng.random() < 0.3:
            hits.append((start + beat + 0.5, 0.25, SNARE, 0.35 * energy))
    return hits
