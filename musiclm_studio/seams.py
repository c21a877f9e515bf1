"""Where a repaint fades back to the original: the beats it may fade on, the loudness step of a
splice, and the splice itself (``editing.repaint``).

The seam sits on one of the first ``SEAM_BEATS`` beats at or after the region's end (of the LMs'
beat grid, else of the beats librosa tracks in the original): the one where the splice's loudness
steps least, RMS over ``SEAM_WINDOW_S`` either side of its fade (docs/experiments/editing.md: the
seam back went from 1.15 to 0.85 dB with three beats on offer against one). The start stays where the
user put it; there the candidate is chosen instead (``start_steps``, ``START_CANDIDATES``).
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from .outputs import Conditioning
from .windowing import per_segment

SEAM_BEATS = 3  # the beats after a repaint's region it may fade back on: the one whose loudness steps least
SEAM_WINDOW_S = 0.25  # the loudness compared either side of the seam's fade
START_CANDIDATES = 2
"""Of a repaint's candidates, the critic's best this many are heard at the region's start, and the one whose
new audio steps least in loudness there goes on (``start_steps``; docs/experiments/editing.md)."""


def beat_frames(pipe, cond: Conditioning, frames: int, audio: Optional[torch.Tensor] = None) -> list[int]:
    """The acoustic frames on which a beat of the LMs' grid falls; where they hear none, the beats
    librosa's tracker finds in ``audio`` (empty without audio or beats)."""
    rate = pipe.config.coarse_lm.frame_rate
    if cond.tempo_bpm is None or all(b is None for b in cond.tempo_bpm):
        if audio is None:
            return []
        import librosa

        from .analysis import to_mono_numpy

        _, times = librosa.beat.beat_track(y=to_mono_numpy(audio), sr=pipe.sample_rate, hop_length=512, units="time")
        return sorted({min(frames - 1, round(float(t) * rate)) for t in times})
    ends, start = [], 0.0
    for _, seconds in cond.story(frames / rate):
        start += seconds
        ends.append(round(start * rate))
    bpm = per_segment(cond.tempo_bpm, ends, frames, 0.0)
    beats = torch.cumsum(bpm / 60.0 / rate, 0) - bpm / 60.0 / rate  # beats elapsed before each frame
    whole = torch.floor(beats + 1e-6)
    return [0] + [f for f in range(1, frames) if whole[f] > whole[f - 1]]


def seam_frames(pipe, cond: Conditioning, end_s: float, frames: int, fade: int,
                audio: Optional[torch.Tensor] = None, beats: int = SEAM_BEATS) -> list[int]:
    """The acoustic frames where a repaint of a region ending at ``end_s`` may fade back to the original:
    the first ``beats`` beats (``beat_frames``; of ``audio`` where the LMs hear no grid) at or after it
    that leave room for the fade, else [``end_s``'s frame]; [``frames``] (the clip's end: no seam) when
    the fade does not fit."""
    end = min(frames, math.ceil(end_s * pipe.config.coarse_lm.frame_rate))
    fallback = end if end + fade <= frames else frames
    found = [f for f in beat_frames(pipe, cond, frames, audio) if end <= f and f + fade <= frames]
    return found[:beats] or [fallback]


def level_jump_db(audio: torch.Tensor, at: int, window: int) -> float:
    """The loudness step at sample ``at`` of ``audio`` [..., S]: RMS level (dB) of the ``window`` samples
    after it minus that of the ``window`` before it, absolute (every row together)."""
    def level(piece):
        return 10 * torch.log10(piece.double().pow(2).mean().clamp(min=1e-12))

    return float(abs(level(audio[..., at: at + window]) - level(audio[..., max(0, at - window): at])))


@torch.no_grad()
def start_steps(pipe, coarse: torch.Tensor, start: int, window: int) -> list[float]:
    """Per candidate of ``coarse`` [B, 4, T]: the loudness step (``level_jump_db`` over ``window`` samples) where
    its new audio starts, at acoustic frame ``start``, heard in a decode of its coarse tokens alone around it
    (the fine tokens come later, for the kept one only; the codec decodes any first levels)."""
    from .streaming import decoder_lookahead

    hop = pipe.config.codec.hop_length
    reach = -(-(window + decoder_lookahead(pipe)) // hop)  # frames whose audio the windows hear
    first, last = max(0, start - reach), min(coarse.shape[-1], start + reach)
    audio = pipe.components.codec.decode(coarse[..., first:last].to(pipe.device))
    return [level_jump_db(row, (start - first) * hop, window) for row in audio]


def quietest_seam(original: torch.Tensor, new: torch.Tensor, start: int, seams: list[int], fade: int,
                  window: int) -> tuple[int, torch.Tensor]:
    """(the seam, in samples, whose splice steps least in loudness where the original resumes, the
    splice): ``splice`` at each of ``seams`` (the first on a tie)."""
    best = None
    for seam in seams:
        audio = splice(original.clone(), new, start, seam, fade)
        jump = level_jump_db(audio, seam + fade, window)
        if best is None or jump < best[0]:
            best = (jump, seam, audio)
    return best[1], best[2]


def fade_in(length: int, device) -> torch.Tensor:
    """A raised-cosine fade-in of ``length`` samples (0 -> 1); 1 minus it fades out."""
    return 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(length, device=device) + 0.5) / max(length, 1))


def splice(original: torch.Tensor, new: torch.Tensor, start: int, seam: Optional[int], fade: int) -> torch.Tensor:
    """``original`` [K, S] with ``new`` [K, >= seam + fade] over [start, seam): a fade of ``fade`` samples
    ending at ``start`` and one starting at ``seam`` (None: the new audio runs to the end)."""
    out, first = original, max(0, start - fade)
    ramp = fade_in(start - first, out.device).to(out.dtype)
    out[:, first:start] = out[:, first:start] * (1 - ramp) + new[:, first:start] * ramp
    end = out.shape[-1] if seam is None else seam
    out[:, start:end] = new[:, start:end]
    if seam is not None and fade:
        ramp = fade_in(fade, out.device).to(out.dtype)
        out[:, seam: seam + fade] = new[:, seam: seam + fade] * (1 - ramp) + out[:, seam: seam + fade] * ramp
    return out
