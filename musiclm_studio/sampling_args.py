"""Generation settings: their limits, defaults and validation, defined once.

The pipeline validates with ``check_sampling_args``; the Gradio app and the Jupyter widgets
build their sliders from ``LIMITS`` and ``DEFAULTS``, so every front end agrees on ranges.
Bad values raise ``ValueError`` with a message that says what to do.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch

PAPER_TEMPERATURES = {"semantic": 1.0, "coarse": 0.95, "fine": 0.4}
DEFAULT_TEMPERATURES = {"semantic": 1.0, "coarse": 0.95, "fine": 0.7}
"""The paper's values, except fine: our small fine LM at 0.4 smooths drum transients away (measured
on the shipped model: percussive share of drum clips regenerated from their real semantic
tokens 0.027 at 0.4, 0.053 at 0.7; the real clips 0.103)."""

DEFAULT_GUIDANCE = {"semantic": 3.0, "coarse": 1.0, "fine": 1.0}
"""Classifier-free guidance per stage. The text is followed through the semantic stage; guiding
the coarse stage as well smooths drums away (measured on the shipped model, 6 drum captions of
the test split: percussive share 0.025 with guidance 3 on every stage, 0.057 with guidance 1 on
the coarse stage; coarse tokens regenerated from real semantic tokens: 0.049 vs 0.073). The fine
LM has no droppable conditioning, so guidance does nothing there."""

DEFAULT_KEY_GUIDANCE = {"semantic": 0.0, "coarse": 0.0, "fine": 0.0}
"""Key guidance per stage (``models.lm.StageLM.guide``): how far the LMs are pushed towards what the
stated key changes, against their own "no key" reading; 0 turns it off."""

LIMITS = {
    "duration_s": (0.5, 60.0),
    "temperature": (0.0, 2.0),
    "top_k": (0, 1024),
    "top_p": (0.0, 1.0),
    "guidance_scale": (0.0, 10.0),
    "num_candidates": (1, 8),
    # the tempo range the critic reads (its bins) and the beat grid accepts; the corpus spans 41-180
    "bpm": (40.0, 200.0),
    "chunk_s": (0.5, 10.0),  # the jam's chunk length (jam.py)
    "first_chunk_s": (0.25, 10.0),  # the jam's first chunk, shorter for a sooner start (jam.py)
    "context_s": (0.5, 10.0),  # the jam's context: seconds of its own tokens each chunk continues
    "change_context_s": (0.0, 10.0),  # the jam's context just after a prompt change (0: none, a fresh start)
}

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer

STORY_LIMITS_ENV = {"max_story_segments": ("MUSICLM_MAX_STORY_SEGMENTS", 16),
                    "min_segment_s": ("MUSICLM_MIN_SEGMENT_S", LIMITS["duration_s"][0])}
"""Story-mode limits: at most 16 segments, each at least as long as the shortest clip (a 500-part story
line helps nobody); a server sets its own through these environment variables, read at every call."""

DEFAULTS = {"duration_s": 10.0, "top_k": 250, "top_p": 1.0, "guidance_scale": DEFAULT_GUIDANCE["semantic"],
            "num_candidates": 1,
            **{f"temperature_{k}": v for k, v in DEFAULT_TEMPERATURES.items()}}


@dataclass
class SamplingArgs:
    """Validated sampling settings; ``for_stage`` gives the keyword arguments of one stage."""

    temperatures: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TEMPERATURES))
    top_k: Optional[int] = DEFAULTS["top_k"]
    top_p: Optional[float] = None
    guidance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GUIDANCE))
    generator: Optional[torch.Generator] = None
    key_guidance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KEY_GUIDANCE))

    def for_stage(self, stage: str) -> dict:
        return dict(temperature=self.temperatures[stage], top_k=self.top_k, top_p=self.top_p,
                    guidance_scale=self.guidance[stage], generator=self.generator,
                    key_guidance=self.key_guidance[stage])


def _finite(name: str, value, low: float, high: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}.")
    return value


def check_limit(name: str, value) -> float:
    """A number within ``LIMITS[name]``."""
    return _finite(name, value, *LIMITS[name])


def per_stage(name: str, value: Union[float, Sequence[float], dict, None], defaults: dict[str, float]) -> dict[str, float]:
    """One number (every stage), (semantic, coarse, fine), a dict of some stages (the others keep
    their defaults) or None (the defaults) -> a checked value per stage."""
    if value is None:
        values = dict(defaults)
    elif isinstance(value, dict):
        unknown = set(value) - set(defaults)
        if unknown:
            raise ValueError(f"Unknown stage(s) {sorted(unknown)} in {name}; use semantic, coarse, fine.")
        values = {**defaults, **value}
    elif isinstance(value, (int, float)):
        values = dict.fromkeys(defaults, value)
    else:
        value = list(value)
        if len(value) != 3:
            raise ValueError(f"{name} takes one number or three: (semantic, coarse, fine).")
        values = dict(zip(defaults, value))
    low, high = LIMITS[name]
    return {k: _finite(f"{k} {name}", v, low, high) for k, v in values.items()}


def from_flag(values: Optional[Sequence[float]]) -> Union[float, Sequence[float], None]:
    """A per-stage CLI flag (``nargs="+"``) as ``per_stage`` takes it: one value alone, else the list."""
    return values[0] if values and len(values) == 1 else values


def check_temperatures(temperature: Union[float, Sequence[float], dict, None]) -> dict[str, float]:
    """Temperatures per stage (see ``per_stage``); None = ``DEFAULT_TEMPERATURES`` (1.0 / 0.95 / 0.7)."""
    return per_stage("temperature", temperature, DEFAULT_TEMPERATURES)


def check_seed(seed) -> Optional[int]:
    """None (draw one) or a whole number from 0 to ``SEED_MAX``; floats that are whole are accepted."""
    if seed is None:
        return None
    message = f"seed must be a whole number from 0 to {SEED_MAX} (2**63 - 1), got {seed!r}."
    if isinstance(seed, bool):
        raise ValueError(message)
    if isinstance(seed, float):
        if not math.isfinite(seed) or not seed.is_integer():
            raise ValueError(message)
        seed = int(seed)
    try:
        seed = int(seed) if not isinstance(seed, str) else int(seed.strip())
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(message)
    return seed


def story_limits() -> tuple[int, float]:
    """(max segments, min seconds per segment), from ``STORY_LIMITS_ENV``."""
    values = []
    for name, (env, default) in STORY_LIMITS_ENV.items():
        raw = os.environ.get(env)
        try:
            value = type(default)(raw) if raw else default
        except ValueError:
            raise ValueError(f"{env} must be a number, got {raw!r}.") from None
        values.append(value)
    return values[0], values[1]


def check_story(story, max_duration_s: float) -> list[tuple[str, float]]:
    """Story segments [(prompt, seconds), ...] -> checked, with messages about the story, not one clip:
    at most ``story_limits()[0]`` segments of at least ``story_limits()[1]`` s each, in all at most
    ``max_duration_s``."""
    story = list(story)
    if not story:
        raise ValueError("Story mode needs at least one (prompt, seconds) segment.")
    max_segments, min_seconds = story_limits()
    segments = []
    for i, item in enumerate(story):
        try:
            text, seconds = item
        except (TypeError, ValueError):
            raise ValueError(f"Story segment {i + 1} must be a (prompt, seconds) pair, got {item!r}.") from None
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < min_seconds:
            raise ValueError(f"Story segment {i + 1} ({str(text)[:40]!r}) lasts {seconds:g} s; each segment must last "
                             f"at least {min_seconds:g} s, e.g. '5: calm piano intro'.")
        segments.append((text, seconds))
    if len(segments) > max_segments:
        raise ValueError(f"The story has {len(segments)} segments ({sum(s for _, s in segments):g} s in all); at most "
                         f"{max_segments} segments are allowed. "
                         "Merge some segments.")
    total = sum(seconds for _, seconds in segments)
    if total > max_duration_s:
        raise ValueError(f"The story lasts {total:g} s in all ({len(segments)} segments); the cap is "
                         f"{max_duration_s:g} s. Shorten its segments.")
    return segments


def check_num_candidates(num_candidates) -> int:
    """A whole number within ``LIMITS["num_candidates"]`` (a call's, or a pipeline's default)."""
    n_low, n_high = LIMITS["num_candidates"]
    if isinstance(num_candidates, bool) or not isinstance(num_candidates, int) or not n_low <= num_candidates <= n_high:
        raise ValueError(f"num_candidates must be a whole number from {n_low} to {n_high}, got {num_candidates!r}.")
    return num_candidates


def check_bpm(bpm, heard: bool = True) -> float:
    """A tempo for LMs that hear a beat grid (``heard``: the pipeline has such LMs), within ``LIMITS["bpm"]``."""
    if not heard:
        raise ValueError("bpm lays the beat grid that LMs trained with --beat follow, and this pipeline's LMs have "
                         "none: ask for the tempo in the prompt instead (e.g. '... at 120 BPM').")
    return _finite("bpm", bpm, *LIMITS["bpm"])


def check_key(key, heard: bool = True) -> tuple[Optional[int], str]:
    """A key for LMs that hear one (``heard``: the pipeline has such LMs): 'A minor', 'F# major', or
    'minor' / 'major' on any tonic -> (tonic or None, mode) (``vocab.musical_key.parse_key``)."""
    from .vocab.musical_key import parse_key

    if not heard:
        raise ValueError("key names the key that LMs trained with --key play in, and this pipeline's LMs hear "
                         "none: ask for it in the prompt instead (e.g. '... in A minor').")
    if not isinstance(key, str):
        raise ValueError(f"key must be text such as 'A minor', 'F# major' or 'minor', got {key!r}.")
    return parse_key(key)


def check_sampling_args(duration_s, temperature, top_k, top_p, guidance_scale, num_candidates,
                        max_duration_s: float) -> SamplingArgs:
    low = LIMITS["duration_s"][0]
    _finite("duration_s", duration_s, low, max_duration_s)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise ValueError(f"top_k must be a whole number >= 0 (0 or None turns it off), got {top_k!r}.")
    if top_p is not None:
        top_p = _finite("top_p", top_p, 0.0, 1.0)
        if top_p <= 0.0:
            raise ValueError("top_p must be in (0, 1]; use 1.0 to turn nucleus sampling off.")
    guidance = per_stage("guidance_scale", guidance_scale, DEFAULT_GUIDANCE)
    check_num_candidates(num_candidates)
    return SamplingArgs(check_temperatures(temperature), top_k or None, top_p if top_p != 1.0 else None, guidance)
