"""Fixed-seed generations of the shipped model on every route, as digests: the refactors of the
pipeline must leave them bit-identical (``test_shipped.py``). ``python tests/reference_outputs.py``
rewrites ``tests/data/shipped_digests.json`` (only when a change is *meant* to alter outputs)."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import torch

from musiclm_studio.eval.machine import environment

SR = 24_000
PATH = os.path.join(os.path.dirname(__file__), "data", "shipped_digests.json")


def digest(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        if t is not None:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def routes(pipe) -> dict[str, str]:
    """name -> digest of the audio and every token stream of one fixed-seed generation."""
    from musiclm_studio.eval.synth import hummed_melody

    def out_digest(out):
        t = out.tokens
        return digest(out.audio, t.mulan, t.melody, t.semantic, t.coarse, t.fine, out.candidates.semantic,
                      out.candidates.coarse)

    opening = pipe("a calm piano piece", duration_s=2.0, seed=5, num_candidates=1).audio
    melody = hummed_melody(sample_rate=SR)
    out = {
        "plain": out_digest(pipe("a fast rock song with loud drums", duration_s=3.0, seed=0)),
        "one candidate": out_digest(pipe("a slow jazz ballad", duration_s=3.0, seed=1, num_candidates=1)),
        "bpm and key": out_digest(pipe("a house track", duration_s=3.0, seed=2, bpm=124, key="A minor")),
        "story": out_digest(pipe([("ambient pads", 2.0), ("a techno beat, in F# minor", 2.0)], seed=3)),
        "continuation": out_digest(pipe("a calm piano piece", duration_s=2.0, seed=4, continuation=opening,
                                        continuation_sample_rate=SR)),
        "stream": digest(torch.cat([c.audio for c in pipe.stream("a funk groove", duration_s=3.0, chunk_s=1.0, seed=6)])),
    }
    out["melody"] = out_digest(pipe("a flute melody", duration_s=3.0, seed=7, melody=melody, melody_sample_rate=SR))
    return out


if __name__ == "__main__":
    from musiclm_studio.pipeline import MusicLMPipeline

    torch.set_num_threads(2)
    pipe = MusicLMPipeline.from_pretrained()
    pipe.show_progress = False
    result = {"environment": environment(), "digests": routes(pipe)}
    if "--check" in sys.argv:
        print(json.dumps(result, indent=1))
    else:
        with open(PATH, "w") as f:
            json.dump(result, f, indent=1)
        print(json.dumps(result, indent=1))
