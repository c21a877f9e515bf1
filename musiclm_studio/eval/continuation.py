"""Continuing real recordings: does the continuation keep the opening's tempo, key and level?

For each clip (``opening_s`` + ``continue_s`` seconds of a real recording), the pipeline continues
the opening and the analysers compare the generated continuation with the opening, as they
compare the clip's own real continuation with it:

- tempo kept: librosa's tempo of the continuation agrees with the opening's within 8 %, half or
  double time allowed (``analysis.tempo_agrees``);
- key kept: the same tonic and mode (``analysis.estimate_key_mode``);
- seam jump: |loudness of the second after the seam - the second before| in LU (pyloudnorm),
  the seam being where the opening ends in the output (its codec resynthesis).

The report gives each rate for the generations and for the real continuations, the generated
rate as a share of the real one, and the median seam jump of both.
"""

from __future__ import annotations

import statistics
from typing import Optional

import numpy as np
import torch

from ..analysis import estimate_key_mode, estimate_tempo, tempo_agrees, to_mono_numpy

PROMPT = "instrumental game soundtrack music"


def seam_jump_db(audio: np.ndarray, sample_rate: int, seam_s: float, window_s: float = 1.0) -> float:
    """|loudness after - loudness before| (LU) over ``window_s`` either side of ``seam_s``."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    seam, width = int(round(seam_s * sample_rate)), int(round(window_s * sample_rate))
    before = meter.integrated_loudness(audio[max(0, seam - width): seam].astype(np.float64))
    after = meter.integrated_loudness(audio[seam: seam + width].astype(np.float64))
    if not (np.isfinite(before) and np.isfinite(after)):
        return float("nan")
    return float(abs(after - before))


def compare(opening: np.ndarray, continuation: np.ndarray, sample_rate: int) -> dict:
    """Tempo and key of a continuation against its opening."""
    t_open, t_cont = estimate_tempo(opening, sample_rate), estimate_tempo(continuation, sample_rate)
    k_open, k_cont = estimate_key_mode(opening, sample_rate), estimate_key_mode(continuation, sample_rate)
    return {"tempo_opening": round(t_open, 1), "tempo": round(t_cont, 1), "tempo_kept": tempo_agrees(t_cont, t_open),
            "key_opening": " ".join(k_open), "key": " ".join(k_cont), "key_kept": k_open == k_cont}


def continuation_report(pipe, clips: list[torch.Tensor], sample_rate: int, opening_s: float = 5.0,
                        continue_s: float = 5.0, prompt: str = PROMPT, seed: int = 0,
                        num_candidates: Optional[int] = None, progress: bool = False) -> dict:
    """Continue each clip's first ``opening_s`` by ``continue_s`` and compare (module docstring)."""
    rows = []
    for i, clip in enumerate(clips):
        audio = to_mono_numpy(clip)
        cut = int(round(opening_s * sample_rate))
        opening, real = audio[:cut], audio[cut: cut + int(round(continue_s * sample_rate))]
        out = pipe(prompt, continuation=torch.from_numpy(opening.copy()), continuation_sample_rate=sample_rate,
                   duration_s=continue_s, seed=seed + i, num_candidates=num_candidates)
        made = out.audio.numpy()
        seam_s = len(made) / out.sample_rate - continue_s
        generated = made[int(round(seam_s * out.sample_rate)):]
        row = {"clip": i, "generated": compare(opening, generated, sample_rate) if out.sample_rate == sample_rate
               else compare(_resample(opening, sample_rate, out.sample_rate), generated, out.sample_rate),
               "real": compare(opening, real, sample_rate),
               "seam_db": seam_jump_db(made, out.sample_rate, seam_s),
               "real_seam_db": seam_jump_db(audio, sample_rate, opening_s)}
        rows.append(row)
        if progress:
            g, r = row["generated"], row["real"]
            print(f"clip {i}: tempo {g['tempo_opening']} -> {g['tempo']} (real {r['tempo']}), key {g['key_opening']} -> "
                  f"{g['key']} (real {r['key']}), seam {row['seam_db']:.2f} dB", flush=True)
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    def rate(side: str, what: str) -> float:
        return sum(r[side][what] for r in rows) / len(rows)

    out = {"clips": len(rows), "rows": rows}
    for what in ("tempo_kept", "key_kept"):
        generated, real = rate("generated", what), rate("real", what)
        out[what] = {"generated": generated, "real": real, "share_of_real": generated / real if real else None}
    seams = [r["seam_db"] for r in rows if np.isfinite(r["seam_db"])]
    real_seams = [r["real_seam_db"] for r in rows if np.isfinite(r["real_seam_db"])]
    out["seam_db_median"] = {"generated": statistics.median(seams) if seams else None,
                             "real": statistics.median(real_seams) if real_seams else None}
    return out


def _resample(audio: np.ndarray, source: int, target: int) -> np.ndarray:
    import librosa

    return librosa.resample(audio, orig_sr=source, target_sr=target)


def format_report(report: dict) -> str:
    lines = [f"| measure ({report['clips']} clips) | generated | real continuation | share of real |", "|---|---:|---:|---:|"]
    for what, name in (("tempo_kept", "tempo kept"), ("key_kept", "key kept")):
        r = report[what]
        share = "" if r["share_of_real"] is None else f"{r['share_of_real']:.2f}"
        lines.append(f"| {name} | {r['generated']:.3f} | {r['real']:.3f} | {share} |")
    s = report["seam_db_median"]
    lines.append(f"| seam loudness jump, median (LU) | {s['generated']:.2f} | {s['real']:.2f} | |")
    return "\n".join(lines)
