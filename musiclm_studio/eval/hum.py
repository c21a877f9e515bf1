"""Melody from a realistic hum (issue 23's target): each melody tracker on hums a user would record.

``hum_set`` (``eval/synth.py``) renders the hums: corpus v2's formant voice humming a tune, breathy,
with vibrato and +-30 cents of drift, in a reverberant room, under noise at 20 dB SNR, with the true
notes. For each tracker (``MelodyConfig.method``), ``hum_report`` measures

- the melody-token accuracy against the true notes (pitch class per voiced frame, ``agreement``), on
  the realistic hums (also away from note changes, where the voice glides) and on clean renditions of
  the same tunes;
- its speed on 10 s of hum (after one warm-up call that loads any weights);
- the chroma cosine of what the pipeline generates from each hum with the hum, exactly as
  ``musiclm-studio eval`` measures melody (``melody_report``: the conditioning audio against the
  output, and the same outputs against another hum as the floor), and against a clean rendition of
  the same tune (the melody the user meant, without room, noise or drift).

``"truth"`` stands for a perfect tracker (the true notes' tokens): what the LMs make of the melody
when the tokens are right, the ceiling of any tracker.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
import torch

from ..config import MelodyConfig
from ..models.melody_tokenizer import MelodyTokenizer, notes_to_tokens
from .harness import MELODY_PROMPT
from .melody_eval import agreement
from .metrics import melody_report
from .synth import DEFAULT_TUNE, hum_set, realistic_hum

TRUTH = "truth"


class TruthTokens:
    """A perfect tracker for the measurement: hands out the true tokens of each hum in turn."""

    def __init__(self, spans: list, frame_rate: int, hop: int):
        self.spans, self.frame_rate, self.hop, self.next = spans, frame_rate, hop, 0

    def __call__(self, audio) -> torch.Tensor:
        spans = self.spans[self.next % len(self.spans)]
        self.next += 1
        return notes_to_tokens(spans, -(-int(audio.shape[-1]) // self.hop), self.frame_rate)


def tracker_accuracy(tokenizer: MelodyTokenizer, hums: list) -> dict[str, float]:
    """Mean ``agreement`` of the tokenizer's tokens with the true notes over [(audio, spans)]."""
    found = []
    for audio, spans in hums:
        tokens = tokenizer(torch.from_numpy(audio))
        found.append(agreement(tokens, notes_to_tokens(spans, tokens.numel(), tokenizer.config.frame_rate)))
    return {k: float(np.mean([f[k] for f in found])) for k in found[0]}


def tracker_speed(tokenizer: MelodyTokenizer, seconds: float = 10.0) -> float:
    """Seconds the tokenizer takes on ``seconds`` of realistic hum (weights already loaded)."""
    audio = torch.from_numpy(realistic_hum(DEFAULT_TUNE, seconds, tokenizer.config.sample_rate, seed=99))
    tokenizer(audio[: tokenizer.config.sample_rate])  # warm-up: loads a pretrained tracker's weights
    start = time.perf_counter()
    tokenizer(audio)
    return time.perf_counter() - start


def hum_report(pipe, methods=("auto",), count: int = 12, seconds: float = 8.0, seed: int = 0,
               num_candidates: Optional[int] = None, generate: bool = True, progress: bool = False) -> dict:
    """Per tracker in ``methods`` (``MelodyConfig.method`` names, or ``"truth"``): token accuracy, speed
    on 10 s, and the chroma cosines of the pipeline's outputs; the pipeline's own tracker is put back."""
    sr = pipe.config.melody.sample_rate
    hums, clean = hum_set(count, seconds, sr), hum_set(count, seconds, sr, clean=True)
    own = pipe.components.melody
    report = {"hums": count, "seconds": seconds, "prompt": MELODY_PROMPT, "trackers": {}}
    try:
        for method in methods:
            row, start = {}, time.perf_counter()
            if method == TRUTH:
                tokenizer = TruthTokens([spans for _, spans in hums], pipe.config.melody.frame_rate, own.hop)
                row.update(dict.fromkeys(("pitch_class_accuracy", "accuracy_inside_notes",
                                          "pitch_class_accuracy_clean"), 1.0))
            else:
                tokenizer = MelodyTokenizer(MelodyConfig(**{**pipe.config.melody.to_dict(), "method": method}))
                row.update(tracker_accuracy(tokenizer, hums))
                row["pitch_class_accuracy_clean"] = tracker_accuracy(tokenizer, clean)["pitch_class_accuracy"]
                row["seconds_per_10s"] = tracker_speed(tokenizer)
            if generate:
                pipe.components.melody = tokenizer
                outputs = [pipe(MELODY_PROMPT, melody=audio, melody_sample_rate=sr, duration_s=seconds,
                                seed=seed + n, num_candidates=num_candidates).audio.reshape(-1).cpu()
                           for n, (audio, _) in enumerate(hums)]
                as_eval = melody_report([a for a, _ in hums], outputs, sr)
                meant = melody_report([a for a, _ in clean], outputs, sr)
                row.update({"chroma_cosine": as_eval["matched"], "chroma_cosine_other_hum": as_eval["mismatched"],
                            "chroma_cosine_clean_tune": meant["matched"],
                            "chroma_cosine_clean_other": meant["mismatched"]})
            row["wall_s"] = time.perf_counter() - start
            report["trackers"][method] = row
            if progress:
                print(method, {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    finally:
        pipe.components.melody = own
    return report


COLUMNS = (("pitch_class_accuracy", "token accuracy"), ("accuracy_inside_notes", "inside notes"),
           ("pitch_class_accuracy_clean", "on the clean tune"),
           ("seconds_per_10s", "s per 10 s"),
           ("chroma_cosine", "chroma cos (hum)"), ("chroma_cosine_other_hum", "other hum"),
           ("chroma_cosine_clean_tune", "chroma cos (clean tune)"), ("chroma_cosine_clean_other", "other tune"))


def format_report(report: dict) -> str:
    """The tracker x measure table (markdown)."""
    lines = [f"{report['hums']} realistic hums x {report['seconds']:g} s, prompt {report['prompt']!r}", "",
             "| tracker | " + " | ".join(name for _, name in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for method, row in report["trackers"].items():
        cells = [("-" if row.get(k) is None else f"{row[k]:.3f}") for k, _ in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
