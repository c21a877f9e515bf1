"""Humanised performance for corpus v2: groove templates, timing and velocity deviation, phrase dynamics.

The composer already swings the eighths / sixteenths and jitters onsets by ~4 ms. ``humanise``
adds what a band does on top, seeded per clip: a groove template per genre (per-sixteenth timing
offsets in ms and velocity accents: ``straight``, ``push`` ahead of the beat, ``laid_back`` behind
it with a late backbeat, ``mpc`` with late off-beat sixteenths), each role sitting slightly ahead
of or behind the grid, Gaussian timing and velocity deviation (tighter on drums), and dynamics
that swell over each four-bar phrase. ``Performance`` records every choice for the metadata.
Onsets move by tens of milliseconds at most, so the stated tempo stays true.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .theory import METRES

GROOVES = {  # per sixteenth within a beat: timing offset (ms), velocity accent
    "straight": ((0, 0, 0, 0), (1.0, 0.9, 0.96, 0.9)),
    "push": ((0, -3, -2, -5), (1.04, 0.9, 0.98, 0.88)),
    "laid_back": ((0, 6, 3, 9), (1.0, 0.86, 0.95, 0.84)),
    "mpc": ((0, 12, 2, 16), (1.05, 0.8, 0.95, 0.78)),
}
STYLE_GROOVES = {
    "electronic": ("straight",), "heavy": ("push", "straight"), "band": ("straight", "push", "laid_back"),
    "laid": ("laid_back", "mpc"), "acoustic": ("laid_back", "straight"), "space": ("straight", "laid_back"),
}
GENRE_STYLE = {"techno": "electronic", "house": "electronic", "hip hop": "laid", "lo-fi": "laid",
               "metal": "heavy", "rock": "band", "pop": "band", "funk": "band", "country": "band",
               "reggae": "laid", "latin": "band", "blues": "acoustic", "jazz": "acoustic",
               "bossa nova": "acoustic", "folk": "acoustic", "classical": "acoustic",
               "ambient": "space", "cinematic": "space"}
BACKBEAT = (38, 39, 40)  # snares and claps: later still in a laid-back groove


@dataclass
class Performance:
    """How the clip is played (all JSON-serialisable, stored in the metadata row)."""

    groove: str
    timing_ms: float  # sd of each note's timing deviation
    velocity_sd: float  # sd of each note's velocity deviation (fraction)
    push_ms: dict  # role -> ms ahead (<0) or behind (>0) the grid
    dynamics: float  # depth of the swell over each four-bar phrase (fraction of velocity)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_performance(genre: str, rng: np.random.Generator) -> Performance:
    """A genre-typical performance: electronic music is tight, a jazz trio less so."""
    style = GENRE_STYLE.get(genre, "band")
    groove = str(rng.choice(STYLE_GROOVES[style]))
    loose = {"electronic": (0.5, 2.0), "heavy": (2.0, 5.0), "space": (4.0, 9.0)}.get(style, (3.0, 8.0))
    roles = ("lead", "harmony", "pad", "bass", "drums")
    push = {r: 0.0 if style == "electronic" else float(np.round(rng.uniform(-4, 8), 1)) for r in roles}
    push["drums"] = 0.0
    return Performance(groove=groove, timing_ms=float(np.round(rng.uniform(*loose), 2)),
                       velocity_sd=float(np.round(rng.uniform(0.03, 0.09), 3)), push_ms=push,
                       dynamics=float(np.round(rng.uniform(0.0, 0.16), 3)))


def humanise(song, performance: Performance, rng: np.random.Generator) -> None:
    """Move and re-weight the notes of ``song.midi`` in place (pitch bends move with their note)."""
    attrs = song.attributes
    bar_q, beat_q = METRES[attrs.metre]
    sec_per_q = 60.0 / attrs.bpm / beat_q
    offsets, accents = GROOVES[performance.groove]
    phrase_s = 4 * bar_q * sec_per_q
    for track in song.midi.instruments:
        tight = 0.6 if track.is_drum else 1.0
        moves = []
        for note in track.notes:
            step = int(round(note.start / sec_per_q * 4)) % 4
            late = offsets[step] + (offsets[3] if track.is_drum and note.pitch in BACKBEAT
                                    and performance.groove in ("laid_back", "mpc") else 0)
            shift = (late + performance.push_ms.get(track.name, 0.0)
                     + tight * performance.timing_ms * float(np.clip(rng.normal(), -2.5, 2.5))) / 1000
            start = float(np.clip(note.start + shift, 0.0, max(0.0, song.seconds - 0.03)))
            moves.append((note.start, start - note.start))
            length = note.end - note.start
            note.start, note.end = start, min(song.seconds, start + length)
            swell = 1.0 + performance.dynamics * ((note.start % phrase_s) / phrase_s - 0.5)
            wobble = 1.0 + performance.velocity_sd * float(np.clip(rng.normal(), -2.5, 2.5))
            note.velocity = int(np.clip(round(note.velocity * accents[step] * swell * wobble), 1, 127))
        for bend in track.pitch_bends:  # an 808 glide follows the note it bends into
            near = min(moves, key=lambda m: abs(m[0] - bend.time), default=(0.0, 0.0))
            bend.time = max(0.0, bend.time + near[1])
