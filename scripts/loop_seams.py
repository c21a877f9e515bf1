"""How seamless the shipped model's loops are: ``pipe.loop`` over a set of prompts and tempos, the seam
measured (``loops.measure_seam``) on each loop and on a plain cut of the same bars, and the loop's tempo
read back with librosa. Prints a markdown table and writes rows as JSON:

    python scripts/loop_seams.py --out /tmp/loop_seams.json [--pipeline DIR] [--bars 4] [--start-bar 1]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from musiclm_studio import loops
from musiclm_studio.pipeline import MusicLMPipeline

PROMPTS = [("a funky drum groove with slap bass", 110), ("an energetic techno beat with a synth bass", 128),
           ("a laid-back hip hop beat with piano chords", 90), ("a rock song with distorted guitars and drums", 140),
           ("a bossa nova with nylon guitar and soft drums", 120), ("a reggae one drop groove with organ", 76),
           ("a house track with four on the floor drums and piano", 124), ("a calm solo piano piece", 80)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", default=None)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--n", type=int, default=len(PROMPTS))
    parser.add_argument("--candidates", type=int, default=1, help="candidates per loop (the seam is what is measured)")
    parser.add_argument("--start-bar", type=int, default=1, help="bars generated before the loop (pipe.loop's start_bar)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    rows = []
    for seed, (prompt, bpm) in enumerate(PROMPTS[: args.n]):
        clock = time.perf_counter()
        loop = pipe.loop(prompt, bars=args.bars, bpm=bpm, seed=seed, num_candidates=args.candidates,
                         start_bar=args.start_bar)
        seconds = time.perf_counter() - clock
        start, n = round(loop.start_s * loop.sample_rate), loop.audio.numel()
        plain = loops.measure_seam(loop.output.audio[start: start + n], loop.sample_rate, bpm)
        rows.append({"prompt": prompt, "bpm": bpm, "seed": seed, "seconds": round(seconds, 1),
                     "loop_s": loop.duration_s, "ramp_db": loop.ramp_db, "seam": loop.seam().as_dict(), "plain_cut": plain.as_dict()})
        s = rows[-1]["seam"]
        print(f"{prompt[:40]:<40} {bpm:>4} bpm: level jump {s['level_jump_db']:.2f} dB (inside median "
              f"{s['level_jump_db_inside'][0]:.2f}, max {s['level_jump_db_inside'][1]:.2f}; plain cut "
              f"{plain.level_jump_db:.2f}), step {s['step_at_wrap']:.4f} vs p99 {s['step_p99']:.4f} (plain "
              f"{plain.step_at_wrap:.4f}), ramp {loop.ramp_db:+.1f} dB, tempo {s['tempo_bpm']:.1f}, {seconds:.1f} s",
              flush=True)
    med = lambda key, part="seam", i=None: float(np.median([r[part][key] if i is None else r[part][key][i]  # noqa
                                                            for r in rows]))
    print("\n| measure (median over loops) | loop (crossfaded) | plain cut of the same bars | beat lines inside |")
    print("|---|---|---|---|")
    print(f"| level jump at the wrap, dB | {med('level_jump_db'):.2f} | {med('level_jump_db', 'plain_cut'):.2f} | "
          f"{med('level_jump_db_inside', i=0):.2f} (max {med('level_jump_db_inside', i=1):.2f}) |")
    print(f"| spectral jump, dB | {med('spectral_jump'):.2f} | {med('spectral_jump', 'plain_cut'):.2f} | "
          f"{med('spectral_jump_inside', i=0):.2f} (max {med('spectral_jump_inside', i=1):.2f}) |")
    print(f"| sample step / p99 step inside | {np.median([r['seam']['step_at_wrap'] / r['seam']['step_p99'] for r in rows]):.2f}"
          f" | {np.median([r['plain_cut']['step_at_wrap'] / r['plain_cut']['step_p99'] for r in rows]):.2f} | 1 |")
    agree = np.mean([r["seam"]["tempo_agrees"] for r in rows])
    print(f"\nlibrosa tempo within 8 % of the bpm (half / double allowed): {agree:.0%} of {len(rows)} loops; "
          f"generation {np.mean([r['seconds'] for r in rows]):.1f} s per loop (mean)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
