"""Long generation with sliding windows, story segments and continuation, for any stage LM.

A stage LM is trained on windows of ``max_frames`` frames. Longer outputs are made window by
window: each new window starts with the last ``overlap`` frames already generated as its
prompt (MusicLM: a 15 s stride with the previous part as prefix), and only the new frames
are kept. Story mode splits the timeline into segments with their own prefix conditioning
(MuLan tokens of each segment's prompt); a window never crosses a segment boundary, so the
conditioning changes exactly at the segment's first frame, while the overlap prompt carries
the music across the change. A continuation prompt is simply the first generated part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from .models.lm import StageLM

FrameCallback = Callable[[int, int, torch.Tensor], None]  # (frames done, total frames, tokens so far)


@dataclass
class Segment:
    """Frames [previous end, end) use ``prefix`` (e.g. {"mulan": [B, 12]}) as prefix conditioning;
    ``negative`` (e.g. a negative prompt's {"mulan": [B, 12]}) replaces those streams' null
    embedding in the unconditional rows of classifier-free guidance."""

    end: int
    prefix: dict[str, torch.Tensor]
    negative: dict[str, torch.Tensor] = field(default_factory=dict)


def per_segment(values: list, ends: list[int], total: int, fill) -> torch.Tensor:
    """One value per story segment laid over its frames [total] (segment i ends at frame ``ends[i]``);
    ``fill`` where a value is None and past the last end. Long for int values, else float."""
    kind = torch.long if isinstance(fill, int) else torch.float
    out, start = torch.full((total,), fill, dtype=kind), 0
    for value, end in zip(values, ends):
        end = min(int(end), total)
        out[start:end] = fill if value is None else value
        start = end
    return out


def parse_story(lines: list[str]) -> list[tuple[str, float]]:
    """Story segments written as 'SECONDS: prompt' (one per item) -> [(prompt, seconds), ...]."""
    segments = []
    for line in (item.strip() for item in lines):
        if not line:
            continue
        seconds, sep, prompt = line.partition(":")
        try:
            if not sep:
                raise ValueError
            segments.append((prompt.strip(), float(seconds)))
        except ValueError:
            raise ValueError(f"Story segment {line[:60]!r} must look like 'SECONDS: prompt', "
                             "e.g. '5: calm piano intro'.") from None
    return segments


def _alignment(lm: StageLM) -> int:
    """Window starts must be multiples of this so aligned streams stay in step."""
    return max([s.frames_per_token for s in lm.config.conditions if s.mode == "aligned"] or [1])


def window_plan(total: int, start: int, segment_ends: list[int], window: int, overlap: int, align: int):
    """Yield (context_start, new_start, new_end) for each window after ``start`` known frames."""
    plan, done = [], start
    while done < total:
        context_start = max(0, done - overlap) // align * align
        segment_end = next(e for e in segment_ends if e > done)
        new_end = min(total, segment_end, context_start + window)
        if new_end <= done:  # the overlap alone fills the window: shrink the context
            context_start = (done - window // 2) // align * align
            new_end = min(total, segment_end, context_start + window)
        plan.append((context_start, done, new_end))
        done = new_end
    return plan


def generate_windowed(
    lm: StageLM,
    total_frames: int,
    *,
    segments: list[Segment],
    aligned: Optional[dict[str, Optional[torch.Tensor]]] = None,
    prompt: Optional[torch.Tensor] = None,
    batch_size: int = 1,
    window: Optional[int] = None,
    overlap: Optional[int] = None,
    callback: Optional[FrameCallback] = None,
    **sampling,
) -> torch.Tensor:
    """Generate [B, Q, total_frames] tokens (the prompt's frames included and kept as given)."""
    window = window or lm.config.max_frames
    overlap = window // 2 if overlap is None else overlap
    if not 0 <= overlap < window:
        raise ValueError(f"overlap ({overlap}) must be smaller than the window ({window} frames)")
    Q = lm.config.num_levels
    device = lm.bos.device
    out = prompt.to(device) if prompt is not None else torch.zeros(batch_size, Q, 0, dtype=torch.long, device=device)
    if out.shape[-1] >= total_frames:
        return out[..., :total_frames]
    ends = [s.end for s in segments]
    if ends[-1] < total_frames:
        raise ValueError(f"segments cover {ends[-1]} frames, fewer than the {total_frames} asked for")
    fpt = {s.name: s.frames_per_token for s in lm.config.conditions}
    for context_start, new_start, new_end in window_plan(total_frames, out.shape[-1], ends, window, overlap, _alignment(lm)):
        segment = next(s for s in segments if s.end > new_start)
        conditions = dict(segment.prefix)
        for name, tokens in (aligned or {}).items():
            if tokens is not None:
                first, last = context_start // fpt[name], -(-new_end // fpt[name])
                conditions[name] = tokens[..., first:last]
        context = out[..., context_start:new_start]
        known = out

        def report(step, total, tokens, known=known, context_len=context.shape[-1]):
            if callback is not None and tokens.shape[-1] > context_len:
                so_far = torch.cat([known, tokens[..., context_len:]], -1)
                callback(so_far.shape[-1], total_frames, so_far)

        new = lm.generate(conditions, new_end - context_start, batch_size=out.shape[0],
                          prompt=context if context.shape[-1] else None, negative=segment.negative or None,
                          callback=report if callback is not None else None, **sampling)
        out = torch.cat([out, new[..., context.shape[-1]:]], -1)
        if callback is not None:
            callback(out.shape[-1], total_frames, out)
    return out
