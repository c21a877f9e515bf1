"""Humanised performance for corpus v2: groove templates, timing and velocity deviation, phrase dynamics.

The composer already swings the eighths / sixteenths and jitters onsets by ~4 ms. ``humanise``
adds what a band does on top, seeded per clip: a groove template per genre (per-sixteenth timing
offsets in ms and velocity accents: ``straight``, ``push`` ahead of the beat, ``laid_back`` behind
it with a late backbeat, ``mpc`` with late off-beat sixteenths), each role sitting slightly ahead
of or behind the grid, Gaussian timing and velocity deviation (tighter on drums), and dynamics
that swell over each four-bar phrase. Clips of 20 s or more are also arranged (``arrange``): a
crash after each phrase's fill, a lift in the second half, sometimes a one-beat break.
``Performance`` records every choice for the metadata.
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
CRASH = 49
ARRANGE_SECONDS = 20.0  # long clips get an arrangement: transitions between 4-bar phrases


@dataclass
class Performance:
    """How the clip is played (all JSON-serialisable, stored in the metadata row)."""

    groove: str
    timing_ms: float  # sd of each note's timing deviation
    velocity_sd: float  # sd of each note's velocity deviation (fraction)
    push_ms: dict  # role -> ms ahead (<0) or behind (>0) the grid
    dynamics: float  # depth of the swell over each four-bar phrase (fraction of velocity)
    arrangement: dict  # clips >= ARRANGE_SECONDS: crash transitions, a lift, a break bar

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
                       dynamics=float(np.round(rng.uniform(0.0, 0.16), 3)),
                       arrangement={"lift": float(np.round(rng.uniform(0.05, 0.15), 3)),
                                    "break": bool(rng.random() < 0.5)})


def arrange(song, performance: Performance) -> dict:
    """For clips of ``ARRANGE_SECONDS`` or more: a crash on the downbeat after each 4-bar phrase (the
    composer's fill leads into it), the second half lifted by ``lift`` in velocity, and optionally a
    break (harmony, pad and bass rest through the last beat of the middle phrase). Returns what was
    done (bar numbers of the crashes, lift, break bar), also kept in ``performance.arrangement``."""
    if song.seconds < ARRANGE_SECONDS:
        performance.arrangement = {}
        return {}
    attrs = song.attributes
    bar_q, beat_q = METRES[attrs.metre]
    bar_s = bar_q * 60.0 / attrs.bpm / beat_q
    bars = int(song.seconds // bar_s)
    lift, half = performance.arrangement["lift"], bars // 2 * bar_s
    crashes = []
    drums = song.track("drums")
    for bar in range(4, bars, 4) if attrs.section != "intro" else ():  # an intro stays sparse
        start = bar * bar_s
        if drums is not None and not any(n.pitch == CRASH and abs(n.start - start) < 0.05 for n in drums.notes):
            drums.notes.append(_note(CRASH, 100, start, min(song.seconds, start + bar_s / 2)))
            crashes.append(bar)
    break_bar = (bars // 8) * 4 - 1 if performance.arrangement["break"] and bars >= 8 else None
    for track in song.midi.instruments:
        kept = []
        for note in track.notes:
            if note.start >= half:
                note.velocity = int(min(127, round(note.velocity * (1 + lift))))
            in_break = break_bar is not None and 0 < (break_bar + 1) * bar_s - note.start <= 60.0 / attrs.bpm
            if not (in_break and track.name in ("harmony", "pad", "bass")):
                kept.append(note)
        track.notes[:] = sorted(kept, key=lambda n: (n.start, n.pitch))
    performance.arrangement = {"crash_bars": crashes, "lift": lift, "break_bar": break_bar}
    return performance.arrangement


def _note(pitch: int, velocity: int, start: float, end: float):
    import pretty_midi

    return pretty_midi.Note(velocity, pitch, start, end)


def humanise(song, performance: Performance, rng: np.random.Generator) -> None:
    """Arrange (long clips), then move and re-weight the notes of ``song.midi`` in place (pitch
    bends move with their note)."""
    arrange(song, performance)
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
