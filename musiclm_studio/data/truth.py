"""Are the captions true? Measure a sample of a built corpus against its stated attributes.

For ``n`` clips (a seeded sample) this estimates the tempo (librosa beat tracking), the key and
mode (Krumhansl-Schmuckler on chroma) and the percussive energy share (HPSS), then reports:
tempo agreement with the stated bpm (half / double time allowed; for 6/8 also the eighth-note
and two-beat levels) for clips with and without drums; the percussive share of clips with and
without drums and the AUC separating them; mode agreement against the majority-class rate.
On corpus v2 rows it also reads the voice and the effects the captions state (``sound_check``):
per statement (vocals; reverb, lo-fi, distortion, delay as caption v2's ``effects_of`` reads
them from the production record), the feature's mean for clips with and without it and the AUC.
Run it as ``musiclm-studio corpus check DIR --n 200`` (``--split heldout``: the held-out world).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..analysis import (NOTE_NAMES, auc, estimate_key_mode, estimate_tempo, percussive_ratio,
                             tempo_agrees)
from .builder import read_metadata

COMPOUND_RATIOS = (0.5, 1.0, 2.0, 3.0, 1.5)
SOUND_FEATURES = {"vocals": "vibrato share", "reverb": "percussive tail", "lo-fi": "minus >4.5 kHz share",
                  "distortion": "1-6 kHz flatness", "delay": "echo autocorrelation"}  # statement -> feature


@dataclass
class TruthReport:
    clips: int
    tempo_agreement: float
    tempo_agreement_drums: float
    tempo_agreement_no_drums: float
    percussive_drums: tuple[float, float]  # mean, sd
    percussive_no_drums: tuple[float, float]
    percussive_auc: float
    mode_agreement: float
    mode_chance: float
    key_agreement: float
    sound: dict = field(default_factory=dict)  # v2: statement -> (clips with, without, mean with, without, AUC)

    def text(self) -> str:
        pd, pn = self.percussive_drums, self.percussive_no_drums
        sound = [f"{name}: {feature} {mw:.3f} with ({nw} clips) vs {mo:.3f} without ({no}), AUC {a:.3f}"
                 for name, (nw, no, mw, mo, a) in self.sound.items() for feature in [SOUND_FEATURES[name]]]
        return "\n".join([
            f"clips measured: {self.clips}",
            f"tempo agrees (half/double allowed): {self.tempo_agreement:.1%} "
            f"(drums {self.tempo_agreement_drums:.1%}, no drums {self.tempo_agreement_no_drums:.1%})",
            f"percussive share: drums {pd[0]:.3f} +- {pd[1]:.3f}, no drums {pn[0]:.3f} +- {pn[1]:.3f}, "
            f"AUC {self.percussive_auc:.3f}",
            f"mode agrees: {self.mode_agreement:.1%} (majority-class chance {self.mode_chance:.1%}); "
            f"tonic and mode agree: {self.key_agreement:.1%}",
        ] + sound)


def measure_clip(folder: str, row: dict) -> dict:
    """Analyser readings of one clip next to its stated attributes."""
    from ..audio import prepare_audio

    audio = prepare_audio(os.path.join(folder, row["path"])).audio.numpy()
    sr = 24_000
    tempo = estimate_tempo(audio, sr)
    tonic, mode = estimate_key_mode(audio, sr)
    ratios = COMPOUND_RATIOS if row.get("metre") == "6/8" else (0.5, 1.0, 2.0)
    out = {"drums": bool(row["drums"]), "tempo_ok": tempo_agrees(tempo, row["bpm"], ratios=ratios),
           "percussive": percussive_ratio(audio, sr), "mode_ok": mode == row["mode"],
           "key_ok": mode == row["mode"] and NOTE_NAMES.index(tonic) == row.get("tonic_pc"),
           "mode": row["mode"], "estimated_tempo": tempo}
    if row.get("corpus_version") == 2:
        out["sound"] = _sound(audio, row)
    return out


def _sound(audio: np.ndarray, row: dict) -> dict:
    """statement -> (whether the clip has it, its feature): vocals and the effects caption v2 states."""
    from .attributes import Attributes
    from .captions_v2 import effects_of
    from .sound_check import sound_features

    features, effects = sound_features(audio, row), effects_of(Attributes.from_row(row))
    return {name: (bool(row.get("vocals")) if name == "vocals" else name in effects,
                   features["voice" if name == "vocals" else name]) for name in SOUND_FEATURES}


def check_corpus(folder: str, n: int = 200, seed: int = 0, progress: bool = True,
                 split: Optional[str] = None, family: Optional[str] = None) -> TruthReport:
    """Measure ``n`` randomly chosen clips of the corpus in ``folder`` (of one ``split`` if given,
    e.g. ``heldout`` for corpus v2's held-out world; of one caption ``family`` if given: split
    ``heldout`` with family ``prose`` is the held-out evaluation set)."""
    from tqdm import tqdm

    rows = [r for r in read_metadata(folder) if "bpm" in r and "drums" in r and split in (None, r.get("split"))
            and family in (None, r.get("caption_family"))]
    if not rows:
        raise ValueError(f"{folder!r} has no generated clips with attributes to check"
                         + (f" in split {split!r}" if split else "") + (f" with caption family {family!r}" if family
                                                                        else "") + ".")
    picks = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    results = [measure_clip(folder, rows[int(k)]) for k in tqdm(picks, desc="check", disable=not progress)]
    return summarise(results)


def summarise(results: list[dict]) -> TruthReport:
    def rate(items, key):
        return float(np.mean([r[key] for r in items])) if items else float("nan")

    drums = [r for r in results if r["drums"]]
    plain = [r for r in results if not r["drums"]]
    pd = [r["percussive"] for r in drums]
    pn = [r["percussive"] for r in plain]
    majors = np.mean([r["mode"] == "major" for r in results])
    return TruthReport(
        clips=len(results), tempo_agreement=rate(results, "tempo_ok"), tempo_agreement_drums=rate(drums, "tempo_ok"),
        tempo_agreement_no_drums=rate(plain, "tempo_ok"),
        percussive_drums=(float(np.mean(pd)) if pd else float("nan"), float(np.std(pd)) if pd else float("nan")),
        percussive_no_drums=(float(np.mean(pn)) if pn else float("nan"), float(np.std(pn)) if pn else float("nan")),
        percussive_auc=auc(pd, pn), mode_agreement=rate(results, "mode_ok"),
        mode_chance=float(max(majors, 1 - majors)), key_agreement=rate(results, "key_ok"),
        sound=_separation([r["sound"] for r in results if "sound" in r]))


def _separation(sounds: list[dict]) -> dict:
    """statement -> (clips with, without, mean feature with, without, AUC); statements no clip has are left out."""
    out = {}
    for name in SOUND_FEATURES:
        with_it = [s[name][1] for s in sounds if s[name][0]]
        without = [s[name][1] for s in sounds if not s[name][0]]
        if with_it and without:
            out[name] = (len(with_it), len(without), float(np.mean(with_it)), float(np.mean(without)),
                         auc(with_it, without))
    return out
