"""A metronome the stage LMs can hear: where in the beat each frame falls.

The corpus's notes and drum hits sit on a beat grid that starts at the clip's first sample, so
a clip's tempo fixes, for every frame, how far into the current beat it lies. ``beat_tokens``
turns a bpm per frame into that phase, in ``bins`` steps per beat (token ``bins``: no tempo, so
no grid). Training shows the LMs each clip's true grid; at generation the pipeline lays the
grid of the tempo the prompt asks for (one per story segment, its phase running on across
segments and windows), so the LMs place their onsets on it instead of guessing a tempo.
"""

from __future__ import annotations

import torch

BEAT_BINS = 16  # phase steps per beat: sixteenths at 4 per beat, twice over


def beat_tokens(bpm: torch.Tensor, frame_rate: float, start_frame: int = 0, bins: int = BEAT_BINS,
                offset_beats: float = 0.0) -> torch.Tensor:
    """Beat-phase tokens [..., T] from a bpm per frame [..., T] (<= 0 or NaN: no tempo there).

    Frame t's phase counts beats from frame 0 of the clip, or from ``start_frame`` frames before
    the first frame given (a crop's offset); a constant tempo gives ``bins * t * bpm / 60 / rate``
    modulo ``bins``. Where the tempo changes the phase runs on, so the grid never jumps.
    ``offset_beats`` is the phase (in beats) frame 0 already has: recorded audio whose first beat
    falls at ``b`` seconds has ``-b * bpm / 60``.
    """
    bpm = torch.nan_to_num(bpm.float(), nan=0.0)
    stated = bpm > 0
    beats_per_frame = torch.where(stated, bpm, torch.zeros_like(bpm)) / 60.0 / frame_rate
    before = torch.cumsum(beats_per_frame, -1) - beats_per_frame  # beats elapsed before each frame
    if start_frame:
        before = before + start_frame * beats_per_frame[..., :1]
    if offset_beats:
        before = before + offset_beats
    phase = torch.floor(torch.remainder(before, 1.0) * bins).long().clamp(0, bins - 1)
    return torch.where(stated, phase, torch.full_like(phase, bins))

