"""Result and event dataclasses shared by the pipeline, the UIs and the CLI.

Shapes use B batch, Q levels, T frames, S samples. Token streams are kept on the CPU as
``torch.long`` so that UIs and notebooks can read them without caring about the device.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import torch

from .key_lock import KeyLock


@dataclass
class TokenStreams:
    """Every token stream of one generation (batch of candidates or the chosen one).

    mulan:    [B, 12]      MuLan RVQ tokens of the prompt (per story segment: [B, N, 12])
    melody:   [B, Tm]      melody tokens at 25 Hz (12 pitch classes + unvoiced), or None
    semantic: [B, Ts]      semantic tokens at 25 Hz
    coarse:   [B, 4, Ta]   first 4 codec levels at 50 Hz
    fine:     [B, 8, Ta]   last 8 codec levels at 50 Hz
    """

    mulan: Optional[torch.Tensor] = None
    melody: Optional[torch.Tensor] = None
    semantic: Optional[torch.Tensor] = None
    coarse: Optional[torch.Tensor] = None
    fine: Optional[torch.Tensor] = None

    def select(self, index: int) -> "TokenStreams":
        """The streams of one candidate, batch dimension kept ([1, ...])."""
        pick = lambda t: None if t is None else t[index: index + 1]  # noqa: E731
        return TokenStreams(*(pick(getattr(self, n)) for n in ("mulan", "melody", "semantic", "coarse", "fine")))

    def as_dict(self) -> dict[str, Optional[torch.Tensor]]:
        return {n: getattr(self, n) for n in ("mulan", "melody", "semantic", "coarse", "fine")}


@dataclass
class StageEvent:
    """One progress report: ``step`` of ``total`` in ``stage``, with the stream so far.

    tokens: the stage's tokens generated so far ([B, T] or [B, Q, T]), or the audio of the
    decoded candidates for "decode" ([K, S]); ``None`` when there is nothing to show yet.
    """

    stage: str
    step: int
    total: int
    tokens: Optional[torch.Tensor] = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 1.0

    @property
    def label(self) -> str:
        """What a progress bar shows: "coarse: 12/250", and the message when there is one."""
        return f"{self.stage}: {self.step}/{self.total}" + (f" ({self.message})" if self.message else "")


class StageTimer(dict):
    """Seconds per stage: ``with timer("coarse"): ...`` records how long the block took (``timings``);
    ``stop()`` records the ``total`` since the timer was made."""

    def __init__(self):
        super().__init__()
        self.started = time.perf_counter()

    def stop(self) -> dict[str, float]:
        self["total"] = time.perf_counter() - self.started
        return dict(self)

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - start  # a stage timed twice: the sum


@dataclass
class MusicLMOutput:
    """What a generation returns: the same fields on every route (one or several candidates, with
    or without an attribute critic, story, continuation).

    audio: [S] float32 in [-1, 1] at ``sample_rate`` (the chosen candidate).
    tokens: the chosen candidate's token streams, every stream [1, ...].
    candidates: every candidate's mulan, melody, semantic and coarse streams [B, ...]; ``fine`` is
        None (the fine stage runs for the finished candidates only; the chosen one's is in ``tokens``).
    chosen: the chosen candidate's index in ``candidates``.
    scores: per candidate, the score that chose it (higher = better): the attribute critic's on
        the coarse tokens, or MuLan's on the decoded audio (``chosen_by``: "critic", "mulan", or
        "only candidate").
    mulan_score: MuLan text-audio cosine of ``audio`` and the (first) prompt.
    timings: seconds per stage, plus "total".
    notices: things the user should know (trimmed melody, placeholder weights, ...).
    asked: per story segment, the tempo (bpm), mode, drums and lead family the LMs were told the
        prompt asks for (None = unstated), and the key ('A minor') for LMs that hear one, when they
        condition on these (else empty).
    conditioning: the resolved conditioning of the clip (per story segment; a continuation's opening
        is part of the clip's tokens and is left out), which ``vary`` / ``repaint`` / ``extend`` reuse.
    key_lock: what the key lock did (``key_lock.KeyLock``: the key asked, the key read, the semitones moved)
        when the request named a key, else None.
    edit: for an edit's output (``editing``), what it did and where its new audio lies: {"edit": "vary" |
        "repaint" | "extend", "start_s", "end_s"} (a repaint's "end_s" is its seam, where the fade of
        "fade_s" back to the original starts), else None.
    """

    audio: torch.Tensor
    sample_rate: int
    tokens: TokenStreams
    candidates: TokenStreams
    chosen: int = 0
    scores: list[float] = field(default_factory=list)
    chosen_by: str = "only candidate"
    mulan_score: Optional[float] = None
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    seed: Optional[int] = None  # the seed that reproduces this output (None with a caller's generator)
    asked: list[dict] = field(default_factory=list)
    conditioning: Optional["Conditioning"] = None  # what the LMs were given: edits (``editing``) start from it
    key_lock: Optional[KeyLock] = None  # what the key lock did where a key was named
    edit: Optional[dict] = None  # what an edit did (see above)

    @property
    def duration_s(self) -> float:
        return self.audio.numel() / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        return self.timings.get("total", 0.0) / max(self.duration_s, 1e-9)


@dataclass
class Conditioning:
    """The conditioning stage's result (one entry per story segment; one segment normally).

    text_embeddings: [N, E] MuLan text embeddings; mulan_tokens: [N, 12];
    text_features: [N, D] the frozen sentence encoder's features they were projected from;
    melody_tokens: [1, Tm] or None; seconds: each segment's length (None = the whole clip);
    duration_s: the whole clip's length (a continuation's opening included); opening: a
    continuation's tokens [1, ...], which the LMs continue; beat_start_s: the time of a beat on the
    grid (0, or a continuation's first beat as heard).
    """

    prompts: list[str]
    seconds: list[Optional[float]]
    text_embeddings: torch.Tensor
    mulan_tokens: torch.Tensor
    text_features: Optional[torch.Tensor] = None
    melody_tokens: Optional[torch.Tensor] = None
    notices: list[str] = field(default_factory=list)
    attribute_tokens: Optional[torch.Tensor] = None  # [N, 4] what each prompt asks, for LMs that condition on it
    tempo_bpm: Optional[list[Optional[float]]] = None  # each segment's beat grid, for LMs that hear one (None: none)
    key_tokens: Optional[list[int]] = None  # each segment's key (vocab.musical_key), for LMs that hear one
    duration_s: Optional[float] = None
    opening: Optional[TokenStreams] = None
    beat_start_s: float = 0.0  # where the beat grid has a beat: 0 (the first frame), or a continuation's first beat
    negative_mulan_tokens: Optional[torch.Tensor] = None  # [1, 12] a negative prompt's, for guidance (None: null)
    negative_text_features: Optional[torch.Tensor] = None  # [1, D] a negative prompt's, for the critic
    negative_text_embeddings: Optional[torch.Tensor] = None  # [1, E] a negative prompt's, which mulan_tokens move from
    negative_attributes: tuple[str, ...] = ()  # what a negative prompt names (prompt_reader.named_attributes)

    def opening_tokens(self, stream: str, batch: int) -> Optional[torch.Tensor]:
        """The opening's ``stream`` ("semantic", "coarse", "fine") for ``batch`` candidates, or None."""
        tokens = None if self.opening is None else getattr(self.opening, stream)
        return None if tokens is None else tokens.expand(batch, *tokens.shape[1:])

    def story(self, total_s: float) -> list[tuple[str, float]]:
        """The story segments [(prompt, seconds)], the last one running to ``total_s``."""
        out, start = [], 0.0
        for i, (text, seconds) in enumerate(zip(self.prompts, self.seconds)):
            length = total_s - start if i == len(self.prompts) - 1 or seconds is None else seconds
            out.append((text, length))
            start += length
        return out
