"""What both UIs do with a finished clip besides playing it: MIDI (file + piano roll) and a loop (WAV).

Plain functions over the public API (``midi.transcribe``, ``loops.loop_from``), no Gradio or
ipywidgets here: the app and the widgets call them and show what they return. Without basic-pitch
the MIDI result carries ``midi.unavailable_reason()`` as its message and no file, so a UI shows
what to install instead of failing. Bad input (a clip too long, no beat found, too few bars of
audio) comes back as a ``ValueError`` for the UI to show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import loops, midi, viz


@dataclass
class MidiResult:
    """``path``: the .mid written (None when MIDI export is unavailable); ``image``: its piano roll
    (RGB uint8); ``message``: one line for the user."""

    path: Optional[str]
    image: Optional[np.ndarray]
    message: str


def midi_status() -> str:
    """What the MIDI controls say before any click: how it works, or what to install."""
    reason = midi.unavailable_reason()
    if reason:
        return f"**MIDI export is not available here.** {reason}"
    return "Transcribes the clip with Spotify's Basic Pitch (notes, not drums); the piano roll shows what it heard."


def export_midi(audio, sample_rate: Optional[int], folder: str, stem: str = "musiclm") -> MidiResult:
    """Transcribe a clip (audio array / tensor with its rate, or a file path) to ``folder/stem.mid`` and draw it."""
    if audio is None:
        raise ValueError("Generate a clip first: MIDI export transcribes the current clip.")
    reason = midi.unavailable_reason()
    if reason:
        return MidiResult(None, None, reason)
    notes = midi.transcribe(audio, sample_rate)
    path = midi.save_midi(notes, os.path.join(folder, f"{stem}.mid"))
    rows = midi.notes_of(notes)
    if len(rows):
        low, high = (f"{'C C# D D# E F F# G G# A A# B'.split()[int(p) % 12]}{int(p) // 12 - 1}"
                     for p in (rows[:, 2].min(), rows[:, 2].max()))
        message = f"{len(rows)} notes from {low} to {high}."
    else:
        message = "No pitched notes were found in this clip (drums alone are not transcribed)."
    return MidiResult(path, viz.piano_roll(notes), message)


def export_loop(source, bars: int, folder: str, *, sample_rate: Optional[int] = None,
                bpm: Optional[float] = None) -> tuple[str, str]:
    """A loop of ``bars`` bars from a ``MusicLMOutput`` (on its beat grid) or a clip (on librosa's beats),
    saved in ``folder`` with its tempo in the name. Returns (path, one line on its tempo and seam)."""
    if source is None:
        raise ValueError("Generate a clip first: the loop is cut from the current clip.")
    loop = loops.loop_from(source, int(bars), sample_rate=sample_rate, bpm=bpm or None)
    path = loop.save(folder, stem="musiclm")
    seam = loop.seam()
    return path, (f"{loop.bars} bars at {loop.bpm:g} bpm (tempo from the {loop.tempo_from}), {loop.duration_s:.2f} s; "
                  f"level jump at the join {seam.level_jump_db:.1f} dB (beat lines inside: up to "
                  f"{seam.level_jump_db_inside[1]:.1f} dB).")
