"""Melody-token accuracy: corpus lead stems against their MIDI, and synthetic hums / whistles.

``notes_to_tokens`` turns ground-truth notes ([start_s, end_s, midi_pitch], as the corpus
stores each lead) into per-frame pitch-class tokens. ``agreement`` compares a tokenizer's
output with the truth: pitch-class accuracy over the truth's voiced frames (the issue's
target: >= 85 %), and voicing recall / precision. ``musiclm-studio melody eval`` reports both
on corpus stems and on the hummed and whistled test tunes of ``eval/synth.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from ..models.melody_tokenizer import TRACKERS, UNVOICED, MelodyTokenizer, notes_to_tokens
from .synth import DEFAULT_TUNE, hummed_melody, tune_spans


def agreement(predicted: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Pitch-class accuracy on truth-voiced frames (and on those more than one frame from a change of
    the truth's token: a sung glide into a note or an onset is not the tracker's error), voicing
    recall and precision."""
    n = min(predicted.numel(), truth.numel())
    p, t = predicted[:n], truth[:n]
    voiced_t, voiced_p = t != UNVOICED, p != UNVOICED
    both = voiced_t & voiced_p
    change = torch.zeros(n, dtype=torch.bool)
    change[1:] |= t[1:] != t[:-1]
    change[:-1] |= t[1:] != t[:-1]
    inside = voiced_t & ~change
    return {"pitch_class_accuracy": float((p[voiced_t] == t[voiced_t]).float().mean()) if voiced_t.any() else float("nan"),
            "accuracy_inside_notes": float((p[inside] == t[inside]).float().mean()) if inside.any() else float("nan"),
            "accuracy_where_both_voiced": float((p[both] == t[both]).float().mean()) if both.any() else float("nan"),
            "voicing_recall": float(both.sum() / voiced_t.sum().clamp(min=1)),
            "voicing_precision": float(both.sum() / voiced_p.sum().clamp(min=1))}


def tune_tokens(notes, seconds: float, frame_rate: float) -> torch.Tensor:
    """(MIDI pitch, seconds) notes played once -> truth tokens for ``seconds`` of audio."""
    return notes_to_tokens(tune_spans(notes), int(round(seconds * frame_rate)), frame_rate)


def evaluate_melody(tokenizer: MelodyTokenizer, rows: list[dict], root: str) -> dict:
    """Mean agreement over corpus lead stems, and on the synthetic hum and whistle."""
    from ..audio import prepare_audio

    rate, sr = tokenizer.config.frame_rate, tokenizer.config.sample_rate
    stems = []
    for row in rows:
        audio = prepare_audio(os.path.join(root, row["lead_path"]), target_sample_rate=sr).audio
        predicted = tokenizer(audio)
        stems.append(agreement(predicted, notes_to_tokens(row["lead_notes"], predicted.numel(), rate)))
    report = {"stems": len(stems)}
    if stems:
        report["corpus_lead_stems"] = {k: float(np.nanmean([s[k] for s in stems])) for k in stems[0]}
    for voice in ("hum", "whistle"):
        audio = hummed_melody(DEFAULT_TUNE, sample_rate=sr, voice=voice)
        predicted = tokenizer(torch.from_numpy(audio))
        report[voice] = agreement(predicted, tune_tokens(DEFAULT_TUNE, audio.size / sr, rate))
        report[voice]["line"] = MelodyTokenizer.describe(predicted[::5])
    return report


def cmd_eval(args: argparse.Namespace) -> int:
    from ..config import MelodyConfig
    from ..train.data import corpus_entries

    start = time.perf_counter()
    rows = [r for r in corpus_entries(args.data, args.split) if r.get("lead_path") and r.get("lead_notes")][: args.n]
    if not rows:
        raise ValueError(f"No clips with lead stems in {args.data!r}: build the corpus with --stems.")
    report = evaluate_melody(MelodyTokenizer(MelodyConfig(method=args.method)), rows, args.data)
    report["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(report, indent=2)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "melody_eval.json"), "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


def register(sub) -> None:
    melody = sub.add_parser("melody", help="melody tokens: accuracy on corpus lead stems and hummed tunes")
    kinds = melody.add_subparsers(dest="melody_command", required=True)
    e = kinds.add_parser("eval", help="pitch-class agreement with the MIDI truth")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test")
    e.add_argument("--n", type=int, default=50)
    e.add_argument("--method", default="auto", choices=TRACKERS)
    e.add_argument("--out", default=None)
    e.set_defaults(func=cmd_eval)
