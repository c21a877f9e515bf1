"""Weighted prompts: "jazz trio:0.7 | techno:0.3", mixed in MuLan's embedding space.

A prompt with a ``|`` is a mix of up to ``MAX_PROMPTS`` parts, each ``text`` or ``text:weight``
(a part without a weight weighs 1); ``prompts={"jazz trio": 0.7, "techno": 0.3}`` says the same
(``mix_label`` writes it as that text, so every entry point carries a mix as one prompt string).
Weights are numbers >= 0 whose sum is positive, normalised to sum to 1; a part of weight 0 is
left out, and a mix left with one part *is* that prompt (``{"a": 1, "b": 0}`` generates exactly
what ``"a"`` does). A prompt without ``|`` is never parsed: "tempo: 120" stays as it is written.

How a mix conditions the model (``embed``):

- **MuLan tokens**: MuLan's text embeddings are unit vectors; the mix is the weighted sum of its
  parts' embeddings renormalised to the unit sphere (normalised linear interpolation), then
  quantised by MuLan's RVQ like any text embedding, so the LMs hear a point of the sphere the
  RVQ was fitted on, between the parts and nearer the heavier ones.
- **What the critic reads** (the attributes the LMs hear, the beat grid's typical tempo, the
  candidate ranking): the weighted mean of the parts' sentence features (the critic's text input).
- **What the prompt reader reads** (tempo words and numbers, a named key, mood words, a voice):
  the words of the heaviest part (the first of equal weights), which the caller named as the lead.
- **MuLan score** of a result (``MusicLMPipeline.score``): cosine with the mixed embedding.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
import torch.nn.functional as F

from ..models.text import check_prompts

MAX_PROMPTS = 4
SEPARATOR = "|"
_WEIGHT = re.compile(r"^(?P<text>.*?)\s*:\s*(?P<weight>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?))\s*$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class PromptMix:
    """A prompt as weighted parts: ``parts`` ((text, weight), ...) with weights > 0 summing to 1."""

    parts: tuple[tuple[str, float], ...]

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.parts]

    @property
    def weights(self) -> list[float]:
        return [weight for _, weight in self.parts]

    @property
    def single(self) -> bool:
        """One part: the plain prompt, generated exactly as without a mix."""
        return len(self.parts) == 1

    @property
    def heaviest(self) -> str:
        """The text the prompt reader reads: the heaviest part's (the first of equal weights)."""
        return max(self.parts, key=lambda part: part[1])[0]


def _weight(value, text: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"The weight of {text[:40]!r} must be a number, got {value!r}.") from None
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"The weight of {text[:40]!r} is {value!r}; weights must be numbers >= 0, "
                         "e.g. 'jazz trio:0.7 | techno:0.3'.")
    return weight


def _normalise(parts: list[tuple[str, float]]) -> PromptMix:
    if len(parts) > MAX_PROMPTS:
        raise ValueError(f"A prompt mix takes at most {MAX_PROMPTS} prompts, got {len(parts)}: merge some.")
    for text, _ in parts:
        if not text.strip():
            raise ValueError("A part of the prompt mix is empty; write each part as 'text:weight', "
                             "e.g. 'jazz trio:0.7 | techno:0.3'.")
    total = sum(weight for _, weight in parts)
    if not total > 0:
        raise ValueError("The prompt weights must sum to a positive number; give at least one part a weight > 0.")
    return PromptMix(tuple((text.strip(), weight / total) for text, weight in parts if weight > 0))


def parse_prompt(text: str) -> PromptMix:
    """A prompt -> its ``PromptMix``: 'a:0.7 | b:0.3' -> two parts; a text without '|' -> itself alone.
    Raises ``ValueError`` for more than ``MAX_PROMPTS`` parts, an empty part, a weight < 0 or not
    finite, or weights summing to 0."""
    if not isinstance(text, str) or SEPARATOR not in text:
        return PromptMix(((text, 1.0),))
    parts = []
    for piece in text.split(SEPARATOR):
        found = _WEIGHT.match(piece.strip())
        body, weight = (found["text"], _weight(found["weight"], found["text"])) if found else (piece, 1.0)
        parts.append((body, weight))
    return _normalise(parts)


def check_prompts_arg(prompts: Mapping[str, float]) -> PromptMix:
    """``prompts={"jazz trio": 0.7, "techno": 0.3}`` -> a checked ``PromptMix`` (same rules as ``parse_prompt``)."""
    if not isinstance(prompts, Mapping) or not prompts:
        raise ValueError("prompts must be a dict of prompt -> weight, e.g. {'jazz trio': 0.7, 'techno': 0.3}.")
    parts = []
    for text, weight in prompts.items():
        if not isinstance(text, str):
            raise ValueError(f"Each key of prompts must be a prompt text, got {text!r}.")
        if SEPARATOR in text:
            raise ValueError(f"A prompt in prompts cannot contain '{SEPARATOR}' ({text[:40]!r}): give each part its own key.")
        parts.append((text, _weight(weight, text)))
    return _normalise(parts)


def mix_label(prompts: Mapping[str, float]) -> str:
    """``prompts={...}`` as the prompt text that says the same: 'jazz trio:0.7 | techno:0.3' (checked)."""
    check_prompts_arg(prompts)
    return f" {SEPARATOR} ".join(f"{text.strip()}:{float(weight):.6g}" for text, weight in prompts.items())


def reading_text(text: str) -> str:
    """The words the prompt reader reads of a prompt: the heaviest part's for a mix, else the text."""
    return parse_prompt(text).heaviest


def embed(mulan, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts (mixes or plain) -> (sentence features [N, D], unit MuLan text embeddings [N, E]).
    Plain prompts go through MuLan exactly as without mixes (one batch); a mix's features are the
    weighted mean of its parts', its embedding the weighted sum of theirs renormalised to the sphere."""
    mixes = [parse_prompt(text) for text in texts]
    if all(mix.single for mix in mixes):
        plain = [mix.texts[0] for mix in mixes]  # a text without '|' is itself
        features = mulan.text_features(plain)
        return features, mulan.embed_text(plain, features=features)
    flat = [part for mix in mixes for part in mix.texts]
    part_features = mulan.text_features(flat)
    part_embeddings = mulan.embed_text(flat, features=part_features)
    features, embeddings, start = [], [], 0
    for mix in mixes:
        rows = slice(start, start + len(mix.parts))
        start = rows.stop
        if mix.single:
            features.append(part_features[rows][0])
            embeddings.append(part_embeddings[rows][0])
            continue
        weights = torch.tensor(mix.weights, dtype=part_features.dtype, device=part_features.device)[:, None]
        features.append((weights * part_features[rows]).sum(0))
        embeddings.append(F.normalize((weights.to(part_embeddings.dtype) * part_embeddings[rows]).sum(0), dim=-1))
    return torch.stack(features), torch.stack(embeddings)


def check_negative_prompt(negative_prompt: Optional[str]) -> Optional[str]:
    """A negative prompt: text (a mix too) or None; empty text is None (plain classifier-free
    guidance, from the null conditioning)."""
    if negative_prompt is None:
        return None
    if not isinstance(negative_prompt, str):
        raise ValueError(f"negative_prompt must be text such as 'drums', got {negative_prompt!r}.")
    if not negative_prompt.strip():
        return None
    try:
        check_prompts(parse_prompt(negative_prompt).texts)
    except ValueError as error:  # the same rules as the prompt's, named for the negative one
        raise ValueError(f"negative_prompt: {error}") from None
    return negative_prompt
