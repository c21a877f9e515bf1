"""Do a pipeline's LMs play in the key they are told?

The check behind "A key the LMs play in" in docs/experiments/model_card_history.md.

For the first N held-out clips' first two aspect tags as prompts, generate 10 s told each of C major, A
minor, F# minor and Eb major (the same seed per prompt), and read the key back: from the decoded audio with
the eval's analyser, or, with ``--semantic-only``, from the chroma the semantic tokens spell. Prints the
share whose mode, and whose tonic and mode, match (chance for the key: 1/24).

    python scripts/key_following.py runs/cand --n 10 [--semantic-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from musiclm_studio.data.theory import NOTE_NAMES
from musiclm_studio.analysis import estimate_key_mode, key_scores
from musiclm_studio.vocab.musical_key import key_token
from musiclm_studio.pipeline import MusicLMPipeline
from musiclm_studio.sampling_args import check_sampling_args

KEYS = ((0, "major"), (9, "minor"), (6, "minor"), (3, "major"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("--data", default="corpus/heldout")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--semantic-only", action="store_true")
    args = parser.parse_args()
    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    with open(f"{args.data}/metadata.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][: args.n]
    modes = keys = n = 0
    start = time.time()
    for i, row in enumerate(rows):
        cond = pipe.encode_conditioning(", ".join(row["aspects"][:2]), duration_s=10.0)
        for tonic, mode in KEYS:
            told = dataclasses.replace(cond, key_tokens=[key_token(tonic, mode)])
            sampling = check_sampling_args(10.0, None, 250, None, None, 1, pipe.config.max_duration_s)
            sampling.generator = torch.Generator().manual_seed(100 + i)
            semantic = pipe.generate_semantic(told, 10.0, sampling=sampling)
            if args.semantic_only:
                read_tonic, read_mode, _ = key_scores(
                    pipe.components.semantic_tokenizer.chroma_profile(semantic[0].cpu()).numpy())
                read_tonic = NOTE_NAMES[read_tonic]
            else:
                coarse = pipe.generate_coarse(told, semantic, sampling=sampling)
                audio = pipe.decode(coarse, pipe.generate_fine(coarse, sampling=sampling))[0].float().cpu()
                read_tonic, read_mode = estimate_key_mode(audio.numpy(), pipe.sample_rate)
            n += 1
            modes += read_mode == mode
            keys += read_tonic == NOTE_NAMES[tonic] and read_mode == mode
    print(f"{args.pipeline}: mode {modes / n:.3f}, key {keys / n:.3f} over {n} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
