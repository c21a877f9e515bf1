"""Bass lines and comping: the rhythm section under the melody.

Every pattern is a function of a ``Frame`` (bars, chords in time, key, energy, random
generator) that returns notes ``(start_q, dur_q, pitch, velocity 0-1)`` in quarter-note beats.
Bass patterns: root, root-fifth, driving eighths, walking, octave pumping, off-beat, rolling
sixteenths, funk, reggae, bossa, tumbao, boogie, 808 (with glides) and drone. Comping styles:
block chords, pads, arpeggios, strums, power chords, jazz comping, stabs, reggae skanks, house
stabs, Alberti figures, bossa and montuno patterns, fingerpicking and string ostinatos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .theory import Chord, bass_pitch, voice_chord

Note = tuple  # (start_q, dur_q, pitch, velocity)


@dataclass
class Frame:
    """Where the chords fall: bars [(start_q, length_q)], chords [(start_q, dur_q, Chord)]."""

    bars: list
    chords: list
    beat: float  # length of the felt beat in quarters (1.5 in 6/8)
    tonic: int
    mode: str
    energy: float  # velocity scale: 0.7 low, 0.85 medium, 1.0 high
    rng: np.random.Generator

    def chord_at(self, pos: float) -> Chord:
        for start, dur, chord in self.chords:
            if start <= pos + 1e-6 < start + dur:
                return chord
        return self.chords[-1][2]

    def segments(self):
        """Each chord with its start, duration and the chord after it."""
        for i, (start, dur, chord) in enumerate(self.chords):
            nxt = self.chords[i + 1][2] if i + 1 < len(self.chords) else self.chords[0][2]
            yield start, dur, chord, nxt


def _steps(pattern: str, start: float, length: float):
    """Positions of the non-rest steps of a step string spread over ``length`` quarters."""
    step = length / len(pattern)
    return [(start + i * step, step, c) for i, c in enumerate(pattern) if c != "."]


# ----------------------------------------------------------------------------- bass
def bass_part(frame: Frame, pattern: str, low: int = 35) -> list[Note]:
    notes = []
    for start, dur, chord, nxt in frame.segments():
        root = bass_pitch(chord.root, low)
        fifth = root + 7 if root + 7 <= low + 16 else root - 5
        notes += [n for n in BASS[pattern](frame, start, dur, chord, nxt, root, fifth, low) if n[0] < start + dur - 1e-6]
    return [(s, d, p, min(1.0, v * frame.energy)) for s, d, p, v in notes]


def _root(f, s, d, c, n, root, fifth, low):
    if d >= 4 and f.rng.random() < 0.5:
        return [(s, d / 2, root, 0.85), (s + d / 2, d / 2, root, 0.75)]
    return [(s, d, root, 0.85)]


def _root_fifth(f, s, d, c, n, root, fifth, low):
    half = f.beat if d <= 3 else d / 2
    out = [(s, half, root, 0.85)]
    if d > half:
        out.append((s + half, d - half, fifth, 0.75))
    return out


def _eighths(f, s, d, c, n, root, fifth, low):
    out = [(s + k * 0.5, 0.45, root, 0.85 if k % 2 == 0 else 0.7) for k in range(int(d * 2))]
    if d >= 4 and f.rng.random() < 0.4:
        out[-1] = (out[-1][0], 0.45, root + 12, 0.7)
    return out


def _walking(f, s, d, c, n, root, fifth, low):
    beats = max(1, int(round(d)))
    target = bass_pitch(n.root, low)
    tones = [root + i for i in c.intervals[1:]] + [root + 12]
    line = [root]
    for k in range(1, beats):
        if k == beats - 1:
            line.append(target + (1 if f.rng.random() < 0.5 else -1))  # chromatic approach
        else:
            near = sorted(tones, key=lambda p: abs(p - line[-1]))[:2]  # a walk, not leaps
            line.append(int(f.rng.choice(near)))
    return [(s + k, 0.95, p, 0.85 if k == 0 else 0.75) for k, p in enumerate(line)]


def _octave(f, s, d, c, n, root, fifth, low):
    return [(s + k * 0.5, 0.4, root + 12 * (k % 2), 0.85 if k % 2 == 0 else 0.7) for k in range(int(d * 2))]


def _offbeat(f, s, d, c, n, root, fifth, low):
    return [(s + k + 0.5, 0.4, root, 0.85) for k in range(int(d))]


def _rolling(f, s, d, c, n, root, fifth, low):
    return [(s + k * 0.25, 0.2, root + (12 if k % 4 == 3 else 0), 0.8 if k % 4 == 2 else 0.6)
            for k in range(int(d * 4)) if k % 4 != 0]


def _funk(f, s, d, c, n, root, fifth, low):
    out = []
    for bar in range(int(d // 4) or 1):
        steps = "x..x..x.x.o.x..o" if f.rng.random() < 0.5 else "x.ox..x...x.xo.x"
        for pos, step, ch in _steps(steps, s + 4 * bar, min(4, d)):
            pitch = root + 12 if ch == "o" else (fifth if f.rng.random() < 0.2 else root)
            out.append((pos, step * 0.8, pitch, 0.45 if ch == "o" else 0.9))
    return out


def _reggae(f, s, d, c, n, root, fifth, low):
    pitches = [root, root, fifth, root + 12, fifth]
    return [(pos, step * 1.6, pitches[i % len(pitches)], 0.9)
            for i, (pos, step, _) in enumerate(_steps("..x.x..x..x.x..x", s, d))]


def _bossa(f, s, d, c, n, root, fifth, low):
    out = []
    for half in range(max(1, int(d // 2))):
        base = s + 2 * half
        out += [(base, 1.45, root if half % 2 == 0 else fifth, 0.85), (base + 1.5, 0.5, fifth, 0.7)]
    return out


def _tumbao(f, s, d, c, n, root, fifth, low):
    target = bass_pitch(n.root, low)
    return [(s + 1.5, 1.4, fifth, 0.9), (s + 3, 1.0, target, 0.85)] if d >= 4 else [(s, d, root, 0.85)]


def _boogie(f, s, d, c, n, root, fifth, low):
    figure = [0, 4, 7, 9, 10, 9, 7, 4]
    return [(s + k * 0.5, 0.45, root + figure[k % 8], 0.85 if k % 2 == 0 else 0.7) for k in range(int(d * 2))]


def _808(f, s, d, c, n, root, fifth, low):
    root = bass_pitch(c.root, 33)
    out = [(s, 1.5, root, 0.95), (s + 1.75, 1.0, root, 0.85)]
    if d >= 4:
        out.append((s + 3, 1.0, root + 12 if f.rng.random() < 0.5 else root + 7, 0.85))  # glided later
    return out


def _drone(f, s, d, c, n, root, fifth, low):
    return [(s, d, root, 0.7)]


BASS = {"root": _root, "root_fifth": _root_fifth, "eighths": _eighths, "walking": _walking,
        "octave": _octave, "offbeat": _offbeat, "rolling": _rolling, "funk": _funk, "reggae": _reggae,
        "bossa": _bossa, "tumbao": _tumbao, "boogie": _boogie, "808": _808, "drone": _drone}


# ----------------------------------------------------------------------------- comping
def comp_part(frame: Frame, style: str, center: float = 60.0) -> list[Note]:
    notes, previous = [], None
    for start, dur, chord, _ in frame.segments():
        voicing = voice_chord(chord, center, previous)
        previous = voicing
        notes += [n for n in COMP[style](frame, start, dur, chord, voicing) if n[0] < start + dur - 1e-6]
    return [(s, d, p, min(1.0, v * frame.energy)) for s, d, p, v in notes]


def _hits(positions, voicing, length, vel=0.7, strum=0.0):
    out = []
    for pos in positions:
        for k, p in enumerate(voicing):
            out.append((pos + k * strum, length - k * strum, p, vel))
    return out


def _block(f, s, d, c, v):
    step = f.beat if d >= 2 * f.beat else d
    return _hits([s + k * step for k in range(int(round(d / step)))], v, step * 0.95, 0.65)


def _pad(f, s, d, c, v):
    return _hits([s], v + [v[0] - 12], d, 0.6)


def _arp(f, s, d, c, v):
    tones = v + [v[0] + 12, v[1] + 12]
    order = tones + tones[-2:0:-1]
    return [(s + k * 0.5, 0.9, order[k % len(order)], 0.6) for k in range(int(d * 2))]


def _strum(f, s, d, c, v):
    out = []
    for pos, step, ch in _steps("D.DU.UDU" if d >= 4 else "D.DU.U"[: int(d * 2)], s, d):
        chord = v if ch == "D" else v[::-1][:3]
        out += _hits([pos], chord, step * 1.8, 0.62 if ch == "D" else 0.5, strum=0.03)
    return out


def _power(f, s, d, c, v):
    root = bass_pitch(c.root, 40)
    shape = [root, root + 7, root + 12]
    if f.rng.random() < 0.5:
        return _hits([s + k * 0.5 for k in range(int(d * 2))], shape, 0.4, 0.7)  # palm-muted eighths
    return _hits([s], shape, d, 0.75)


def _jazz(f, s, d, c, v):
    rootless = [p for p in v if p % 12 != c.root] or v
    rhythms = [(0.0, 1.5), (0.0, 2.5), (1.5, 3.5), (0.5, 2.0)]
    positions = rhythms[int(f.rng.integers(len(rhythms)))]
    return _hits([s + p for p in positions if p < d], rootless, 0.6, 0.55)


def _stabs(f, s, d, c, v):
    steps = "..x..x.x..x..x.." if d >= 4 else "..x..x.x"[: int(d * 4)]
    return _hits([p for p, _, _ in _steps(steps, s, d)], v, 0.2, 0.7)


def _skank(f, s, d, c, v):
    return _hits([s + k + 1 for k in range(0, int(d) - 1, 2)], v, 0.3, 0.7)


def _house(f, s, d, c, v):
    return _hits([p for p, _, _ in _steps("..x...x...x..x..", s, d)], v, 0.35, 0.65)


def _alberti(f, s, d, c, v):
    low, mid, high = v[0] - 12, v[1] - 12, v[2] - 12
    figure = [low, high, mid, high]
    return [(s + k * 0.5, 0.5, figure[k % 4], 0.55) for k in range(int(d * 2))]


def _bossa_comp(f, s, d, c, v):
    return _hits([p for p, _, _ in _steps("x..x..x...x..x..", s, d)], v, 0.6, 0.55)


def _montuno(f, s, d, c, v):
    top = [v[-1], v[0] + 12]
    line = [top[0], v[1], top[1], v[0], top[0], v[1], top[1], v[1]]
    return [(s + k * 0.5, 0.4, line[k % 8], 0.7) for k in range(int(d * 2))]


def _fingerpick(f, s, d, c, v):
    root = bass_pitch(c.root, 40)
    thumb = [root, root + 7]
    out = []
    for k in range(int(d * 2)):
        if k % 2 == 0:
            out.append((s + k * 0.5, 0.9, thumb[(k // 2) % 2], 0.6))
        out.append((s + k * 0.5 + 0.02, 0.9, v[1 + k % (len(v) - 1)], 0.5))
    return out


def _ostinato(f, s, d, c, v):
    root = bass_pitch(c.root, 48)
    return [(s + k * 0.5, 0.35, root + (7 if k % 4 == 2 else 0), 0.7) for k in range(int(d * 2))]


def _shuffle(f, s, d, c, v):
    root = bass_pitch(c.root, 45)
    out = []
    for k in range(int(d)):
        sixth = 9 if k % 2 else 7
        out += _hits([s + k, s + k + 0.5], [root, root + sixth], 0.45, 0.6)
    return out


COMP = {"block": _block, "pad": _pad, "arp": _arp, "strum": _strum, "power": _power, "jazz": _jazz,
        "stabs": _stabs, "skank": _skank, "house": _house, "alberti": _alberti, "bossa": _bossa_comp,
        "montuno": _montuno, "fingerpick": _fingerpick, "ostinato": _ostinato, "shuffle": _shuffle}
