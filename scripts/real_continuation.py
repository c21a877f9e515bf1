"""Continuation of real recordings (issue 23's target): tempo and key kept, seam loudness jump.

Reads the clips of a corpus split (by default our own real-music test set: the ``test`` split of
``musiclm-studio corpus recordings``, the held-out ``singularity-music`` soundtrack), continues
each clip's first 5 s by 5 s and compares with the real continuation (``eval.continuation``).

    python scripts/real_continuation.py --data recordings --split test --clips 24 [--pipeline DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

from musiclm_studio.eval.continuation import continuation_report, format_report
from musiclm_studio.pipeline import MusicLMPipeline
from musiclm_studio.train.data import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a corpus folder of real recordings")
    parser.add_argument("--split", default="test")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--pipeline", default=None, help="a saved pipeline (default: the shipped one)")
    parser.add_argument("--candidates", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    rows, clips = load_split(args.data, args.split, pipe.sample_rate)
    step = max(1, len(clips) // args.clips)  # spread over the tracks
    clips = [c.float() for c in clips[::step][: args.clips]]
    start = time.perf_counter()
    report = continuation_report(pipe, clips, pipe.sample_rate, seed=args.seed, num_candidates=args.candidates,
                                 progress=True)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
