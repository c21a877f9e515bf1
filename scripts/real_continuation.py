"""Continuation of real recordings (issue 23's target): tempo and key kept, seam loudness jump.

Reads the clips of a corpus split (by default our own real-music test set: the ``test`` split of
``musiclm-studio corpus recordings``, the held-out ``singularity-music`` soundtrack), continues
each clip's first 5 s by 5 s and compares with the real continuation (``eval.continuation``).

    python scripts/real_continuation.py --data recordings --split test --clips 24 [--pipeline DIR] [--json out.json]
        [--png real_vs_generated.png]

``--png``: the first clip's real 10 s above the same opening continued by the pipeline, as mel
spectrograms with the seam marked.
"""

from __future__ import annotations

import argparse
import json
import time

from musiclm_studio.eval.continuation import PROMPT, continuation_report, format_report
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
    parser.add_argument("--png", default=None, help="also draw the first clip: real vs continued")
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
    if args.png:
        draw(pipe, clips[0], rows[0] if step == 1 else rows[::step][0], args.png, args.seed)


def draw(pipe, clip, row: dict, path: str, seed: int, opening_s: float = 5.0) -> None:
    """The real clip over the pipeline's continuation of its first ``opening_s`` (what ``continuation_report``
    generates), as mel spectrograms with the seam marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from musiclm_studio.viz import plot_spectrogram

    sr = pipe.sample_rate
    opening = clip[: int(opening_s * sr)]
    out = pipe(PROMPT, continuation=opening, continuation_sample_rate=sr, duration_s=len(clip) / sr - opening_s, seed=seed)
    fig, axes = plt.subplots(2, 1, figsize=(10, 5.6), sharex=True)
    name = f"{row.get('package', '')} {row.get('track', '')} at {row.get('start_s', 0):.0f} s".strip()
    plot_spectrogram(clip, sr, ax=axes[0], pipe=pipe, title=f"real recording ({name}, held out)")
    plot_spectrogram(out.audio, sr, ax=axes[1], pipe=pipe, title=f"its first {opening_s:g} s continued by the model")
    for ax in axes:
        ax.axvline(opening_s, color="white", linestyle="--", linewidth=1.2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
