"""Melody from a realistic hum (issue 23's target): melody trackers x measures on the shipped model.

Hums a user would record (corpus v2's formant voice, breathy, vibrato, +-30 cents of drift, room
reverb, noise at 20 dB SNR; ``eval/synth.py``'s ``hum_set``) go through each melody tracker; the table
gives its token accuracy against the true notes, its time on 10 s of hum, and the chroma cosine of
what the pipeline generates from the hum, as ``musiclm-studio eval`` measures it, beside the cosine
with another hum (``eval/hum.py``). ``truth`` is a perfect tracker (the true notes' tokens).

    python scripts/hum_melody.py --hums 12 --seconds 8 --trackers auto,crepe,pesto,truth [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from musiclm_studio.eval.hum import format_report, hum_report
from musiclm_studio.pipeline import MusicLMPipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hums", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--trackers", default="auto,crepe,pesto,truth",
                        help="comma-separated: auto, pyin, chroma, crepe, pesto (MelodyConfig.method) or truth")
    parser.add_argument("--pipeline", default=None, help="a saved pipeline (default: the shipped one)")
    parser.add_argument("--candidates", type=int, default=None, help="default: the pipeline's own (4 shipped)")
    parser.add_argument("--no-generate", action="store_true", help="token accuracy and speed only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    start = time.perf_counter()
    report = hum_report(pipe, [t.strip() for t in args.trackers.split(",") if t.strip()], args.hums, args.seconds,
                        seed=args.seed, num_candidates=args.candidates, generate=not args.no_generate, progress=True)
    report["wall_s"] = round(time.perf_counter() - start, 1)
    report["load_average"] = os.getloadavg()
    print(format_report(report))
    print(f"wall {report['wall_s']} s, load average {', '.join(f'{x:.1f}' for x in report['load_average'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
