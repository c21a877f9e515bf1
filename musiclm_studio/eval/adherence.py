"""Attribute adherence: does each generated clip show what its prompt asks for?

``analyse_clips`` reads each clip once (bpm, key mode, percussive ratio, lead family by MuLan
zero-shot); ``check_reading`` scores one reading against what a prompt asks (a tempo word on its
band, a stated bpm with half / double time allowed); ``adherence_report`` gives each attribute's
rate next to the rate on real clips with the same analysers and a chance rate (each generation
against the next prompt's request) and each prompt's outcome (for ``eval.compare``). Used by
``musiclm-studio eval`` and ``musiclm-studio stages``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from ..data.captions import TEMPO_BANDS, requested
from ..analysis import estimate_key_mode, estimate_tempo, percussive_ratio, tempo_agrees, to_mono_numpy
from .mulan import ATTRIBUTES, embed_texts

if TYPE_CHECKING:
    from .harness import PromptItem, Reference


def tempo_in_band(estimated: float, word: str, tol: float = 0.08) -> bool:
    """True when ``estimated`` bpm lies in the band of tempo ``word`` (``TEMPO_BANDS``), widened by
    ``tol``. No half / double time here: a doubled slow tempo is a fast one."""
    if word not in TEMPO_BANDS:
        raise ValueError(f"Unknown tempo word {word!r}; use one of {sorted(TEMPO_BANDS)}.")
    low, high = TEMPO_BANDS[word]
    return estimated > 0 and low * (1 - tol) <= estimated <= high * (1 + tol)


def _asked(row: dict) -> dict:
    """A corpus row's attributes that its own caption asks for (tempo and mode are not always stated)."""
    return requested(row["caption"], row) if row.get("caption") else row


def drum_threshold(ratios: list[float], has_drums: list[bool], default: float = 0.3) -> float:
    """The percussive-ratio threshold that best separates real clips with and without drums."""
    if len(set(has_drums)) < 2:
        return default
    candidates = sorted(ratios)
    cuts = [(a + b) / 2 for a, b in zip(candidates, candidates[1:])] or [default]
    accuracy = [np.mean([(r > cut) == d for r, d in zip(ratios, has_drums)]) for cut in cuts]
    return float(cuts[int(np.argmax(accuracy))])


CHECKED = {"tempo": "bpm", "mode": "mode", "drums": "drums", "lead family": "lead_family"}  # check -> attribute


def analyse_clips(clips: list[torch.Tensor], sample_rate: int, mulan, audio_emb: torch.Tensor, families: list[str],
                  ratios: Optional[dict[int, float]] = None, need: Optional[list[set]] = None) -> list[dict]:
    """What the analysers read in each clip: bpm, mode, percussive ratio, lead family (MuLan zero-shot
    over ``families``). ``need``: per clip, the readings wanted (default all); ``ratios``: percussive
    ratios already measured, by index; ``audio_emb``: the clips' MuLan embeddings [N, E]."""
    family_emb = embed_texts(mulan, [ATTRIBUTES["lead family"][1](f) for f in families]) if len(families) > 1 else None
    ratios = ratios or {}
    readings = []
    for n, clip in enumerate(clips):
        wanted = need[n] if need is not None else set(CHECKED)
        audio, read = to_mono_numpy(clip), {}
        if "tempo" in wanted:
            read["bpm"] = estimate_tempo(audio, sample_rate)
        if "mode" in wanted:
            read["mode"] = estimate_key_mode(audio, sample_rate)[1]
        if "drums" in wanted:
            read["ratio"] = ratios[n] if n in ratios else percussive_ratio(audio, sample_rate)
        if "lead family" in wanted and family_emb is not None:
            read["lead_family"] = families[int((audio_emb[n] @ family_emb.T).argmax())]
        readings.append(read)
    return readings


def check_reading(read: dict, attrs: dict, threshold: float) -> dict[str, bool]:
    """Which of the attributes ``attrs`` asks for one clip's ``read`` shows. Tempo: the band of a
    tempo word where that is all that was asked (``tempo_word``), else the bpm, half / double allowed."""
    out = {}
    if "bpm" in read and (attrs.get("bpm") or attrs.get("tempo_word")):
        word = attrs.get("tempo_word")
        out["tempo"] = tempo_in_band(read["bpm"], word) if word else tempo_agrees(read["bpm"], float(attrs["bpm"]))
    if "mode" in read and attrs.get("mode") in ("major", "minor"):
        out["mode"] = read["mode"] == attrs["mode"]
    if "ratio" in read and attrs.get("drums") is not None:
        out["drums"] = (read["ratio"] > threshold) == bool(attrs["drums"])
    if "lead_family" in read and attrs.get("lead_family"):
        out["lead family"] = read["lead_family"] == attrs["lead_family"]
    return out


def _families(attributes: list[dict]) -> list[str]:
    """The lead families named in ``attributes``: the candidates MuLan's zero-shot reading picks from."""
    return sorted({a["lead_family"] for a in attributes if a.get("lead_family")})


def _needed(attrs: dict) -> set:
    """The checks (``CHECKED`` names) that ``attrs`` asks for."""
    asked = {name for name, key in CHECKED.items() if attrs.get(key) is not None}
    return asked | ({"tempo"} if attrs.get("tempo_word") else set())


def attribute_checks(clips: list[torch.Tensor], attributes: list[dict], sample_rate: int, mulan, audio_emb: torch.Tensor,
                     threshold: float, ratios: Optional[dict[int, float]] = None) -> dict[str, dict[int, bool]]:
    """Per attribute, whether each clip that states it (by index) shows it (see ``check_reading``)."""
    readings = analyse_clips(clips, sample_rate, mulan, audio_emb, _families(attributes), ratios,
                             [_needed(a) for a in attributes])
    return _checks(readings, attributes, threshold)


def _checks(readings: list[dict], attributes: list[dict], threshold: float) -> dict[str, dict[int, bool]]:
    checks: dict[str, dict[int, bool]] = {name: {} for name in CHECKED}
    for n, (read, attrs) in enumerate(zip(readings, attributes)):
        for name, ok in check_reading(read, attrs, threshold).items():
            checks[name][n] = ok
    return checks


def _rate(checks: dict[int, bool]) -> tuple[Optional[float], int]:
    """(share of passed checks, checks counted)."""
    return (float(np.mean(list(checks.values()))) if checks else None), len(checks)


def adherence_report(mulan, items: list[PromptItem], generated: list[torch.Tensor], generated_emb: torch.Tensor,
                     reference: Optional[Reference], reference_emb: Optional[torch.Tensor], sample_rate: int) -> dict:
    """Rate per attribute on generations, next to the rate on real clips with the same analysers.

    Each attribute counts over the prompts that ask for it, scored on what the prompt asks (a tempo
    word asks for its band, not the clip's bpm). ``chance_rate``: each generation scored against the
    next prompt's request instead of its own (what ignoring the prompt scores). Where some prompts
    leave tempo or mode unstated, the rates over every prompt against each clip's own values (what
    earlier evaluations reported) come as ``*_all_prompts``. The analysers run once per clip.
    """
    threshold, real_read, real_asked = 0.3, [], []
    asked = [i.attributes for i in items]
    known = [i.known or i.attributes for i in items]
    if reference is not None:
        ratios = {n: percussive_ratio(c, sample_rate) for n, (c, r) in enumerate(zip(reference.clips, reference.rows))
                  if r.get("drums") is not None}
        threshold = drum_threshold(list(ratios.values()), [bool(reference.rows[n]["drums"]) for n in ratios])
        real_asked = [_asked(r) for r in reference.rows]
        real_read = analyse_clips(reference.clips, sample_rate, mulan, reference_emb, _families(reference.rows), ratios,
                                  [_needed(r) for r in reference.rows])
    following = asked[1:] + asked[:1]  # the chance rate scores each generation against the next prompt
    read = analyse_clips(generated, sample_rate, mulan, generated_emb, _families(known),
                         need=[_needed(k) | _needed(a) | _needed(b) for k, a, b in zip(known, asked, following)])
    checks = _checks(read, asked, threshold)
    chance = _checks(read, following, threshold) if len(items) > 1 else {}
    real = _checks(real_read, real_asked, threshold)
    out = {}
    for name in CHECKED:
        rate, count = _rate(checks[name])
        out[name] = {"rate": rate, "real_rate": _rate(real.get(name, {}))[0], "count": count,
                     "chance_rate": _rate(chance.get(name, {}))[0],
                     "passed": [checks[name].get(n) for n in range(len(items))]}  # per prompt; None: not asked
    if any(i.known and i.known != i.attributes for i in items):
        every = _checks(read, known, threshold)
        real_every = _checks(real_read, reference.rows if reference is not None else [], threshold)
        for name in ("tempo", "mode"):
            rate, count = _rate(every[name])
            out[name] |= {"rate_all_prompts": rate, "real_rate_all_prompts": _rate(real_every.get(name, {}))[0],
                          "count_all_prompts": count}
    return out | {"drum_threshold": threshold, "prompt_digest": prompt_digest([i.text for i in items])}


def prompt_digest(texts: list[str]) -> str:
    """Which prompts, in which order, a report scored: two reports with the same digest can be compared
    prompt by prompt (``eval.compare``)."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
