"""The composer: clip attributes -> a multi-track ``pretty_midi.PrettyMIDI`` band arrangement.

``compose`` lays the genre progression over enough bars to fill the clip, then writes the
parts in data-flow order: (1) chords in time, (2) bass line, (3) comping (and an optional pad),
(4) the motif-based lead melody, (5) the drum groove; then shapes them for the arrangement
section and turns beats into seconds with swing and a little human timing. Instrument names in
the MIDI are the roles (``lead``, ``harmony``, ``pad``, ``bass``, ``drums``), which is how the
renderer finds the lead for stems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pretty_midi

from .accompaniment import Frame, bass_part, comp_part
from .attributes import Attributes
from .drums import drum_part, groove_for
from .instruments import instrument
from .motifs import melody_part
from .theory import METRES, parse_progression, swing_position

ROLES = ("lead", "harmony", "pad", "bass", "drums")
ENERGY_VELOCITY = {"low": 0.68, "medium": 0.84, "high": 1.0}
HARMONY_CENTER = {"guitar": 57, "piano": 62, "organ": 62, "strings": 62, "synth": 60}


@dataclass
class Song:
    """A composed clip: its attributes, the MIDI and the chord names per bar."""

    attributes: Attributes
    midi: pretty_midi.PrettyMIDI
    seconds: float
    chords: list[str]

    def track(self, role: str):
        return next((i for i in self.midi.instruments if i.name == role), None)

    @property
    def lead_notes(self) -> list[list[float]]:
        """The lead's notes as [start_s, end_s, midi_pitch] (the melody ground truth)."""
        lead = self.track("lead")
        return [[round(n.start, 4), round(n.end, 4), n.pitch] for n in lead.notes] if lead else []


def compose(attrs: Attributes, seconds: float) -> Song:
    """Write the arrangement of ``attrs`` for ``seconds`` of music."""
    rng = np.random.default_rng([attrs.seed, attrs.index, 2])
    frame, names = _frame(attrs, seconds, rng)
    family = instrument(attrs.harmony_program).family
    lead = instrument(attrs.lead_program)
    parts = {  # 1-5: chords are in the frame; bass, comping, pad, melody, drums
        "bass": bass_part(frame, attrs.bass_pattern, low=_bass_low(attrs)),
        "harmony": comp_part(frame, attrs.comping, center=HARMONY_CENTER.get(family, 60)),
        "pad": comp_part(frame, "pad", center=60) if attrs.pad_program is not None else [],
        "lead": melody_part(frame, attrs.metre, max(lead.low, 55 if attrs.solo else lead.low), lead.high,
                            attrs.energy, attrs.bpm, attrs.pentatonic, attrs.section),
        "drums": [] if not attrs.drums else drum_part(
            groove_for(attrs.groove, attrs.metre, rng), frame.bars, attrs.section, frame.energy,
            attrs.groove, rng),
    }
    parts = _arrange(parts, attrs.section, len(frame.bars) * frame.bars[0][1])
    midi = _to_midi(attrs, parts, seconds, rng)
    return Song(attrs, midi, seconds, names)


def _frame(attrs: Attributes, seconds: float, rng) -> tuple[Frame, list[str]]:
    """Bars and chords (in quarter beats) covering ``seconds``."""
    bar_q, beat_q = METRES[attrs.metre]
    sec_per_q = 60.0 / attrs.bpm / beat_q
    n_bars = max(1, math.ceil(seconds / (bar_q * sec_per_q)))
    progression = parse_progression(attrs.progression, attrs.tonic, attrs.mode)
    bars, chords, names = [], [], []
    splits = {"4/4": (2.0, 2.0), "3/4": (2.0, 1.0), "6/8": (1.5, 1.5)}[attrs.metre]
    for b in range(n_bars):
        start = b * bar_q
        bars.append((start, bar_q))
        bar_chords = progression[b % len(progression)][:2]
        lengths = (bar_q,) if len(bar_chords) == 1 else splits
        offset = start
        for chord, length in zip(bar_chords, lengths):
            chords.append((offset, length, chord))
            offset += length
        names.append(",".join(c.name() for c in bar_chords))
    frame = Frame(bars, chords, beat_q, attrs.tonic, attrs.mode, ENERGY_VELOCITY[attrs.energy], rng)
    return frame, names


def _bass_low(attrs: Attributes) -> int:
    if attrs.solo:
        return 40 if instrument(attrs.lead_program).family == "guitar" else 36
    return 33 if attrs.bass_pattern == "808" else 35


def _arrange(parts: dict, section: str, total_q: float) -> dict:
    """Section dynamics: a quieter intro, a louder chorus, a crescendo through a build."""
    def scale(notes, gain_of):
        return [(s, d, p, min(1.0, v * gain_of(s))) for s, d, p, v in notes]

    if section == "intro":
        return {r: scale(n, lambda s: 0.85) if r != "lead" else n for r, n in parts.items()}
    if section == "chorus":
        return {r: scale(n, lambda s: 1.08) for r, n in parts.items()}
    if section == "build":
        return {r: scale(n, lambda s: 0.7 + 0.35 * s / total_q) if r != "drums" else n for r, n in parts.items()}
    return parts


def _to_midi(attrs: Attributes, parts: dict, seconds: float, rng) -> pretty_midi.PrettyMIDI:
    """Beats -> seconds (swing, human timing), one instrument per role."""
    bar_q, beat_q = METRES[attrs.metre]
    sec_per_q = 60.0 / attrs.bpm / beat_q
    swing8 = attrs.swing if attrs.metre != "6/8" else 0.5
    midi = pretty_midi.PrettyMIDI(initial_tempo=attrs.bpm * beat_q)
    programs = {"lead": attrs.lead_program, "harmony": attrs.harmony_program, "pad": attrs.pad_program,
                "bass": attrs.bass_program if not attrs.solo else attrs.lead_program, "drums": attrs.kit}
    for role in ROLES:
        if not parts[role]:
            continue
        track = pretty_midi.Instrument(program=programs[role] or 0, is_drum=role == "drums", name=role)
        for start_q, dur_q, pitch, vel in sorted(parts[role]):
            start = swing_position(start_q, swing8, attrs.swing16) * sec_per_q
            end = swing_position(start_q + dur_q, swing8, attrs.swing16) * sec_per_q
            start = max(0.0, start + float(np.clip(rng.normal(0, 0.004), -0.01, 0.01)))
            if start >= seconds - 0.02:
                continue
            velocity = int(np.clip(round(vel * 118 * (0.94 + 0.12 * rng.random())), 1, 127))
            track.notes.append(pretty_midi.Note(velocity, int(pitch), start, min(max(end, start + 0.03), seconds)))
        if role == "bass" and attrs.bass_pattern == "808":
            attrs.extra["glides"] = _glides(track, rng)
        midi.instruments.append(track)
    return midi


def _glides(track: pretty_midi.Instrument, rng) -> int:
    """808 slides: bend into some notes from the previous pitch (bend range 12 semitones)."""
    count = 0
    for prev, note in zip(track.notes, track.notes[1:]):
        if note.pitch != prev.pitch and note.start - prev.end < 0.15 and (count == 0 or rng.random() < 0.5):
            offset = max(-12, min(12, prev.pitch - note.pitch))
            for k in range(9):
                value = int(round(offset / 12 * 8191 * (1 - k / 8)))
                track.pitch_bends.append(pretty_midi.PitchBend(value, note.start + 0.012 * k))
            count += 1
    return count
