"""Batched generation: several prompts with the same settings in one pass of the three LMs.

``MusicLMPipeline.__call__`` takes one prompt (a list of prompts is story mode), sampling its
candidates as one batch. ``generate_batch`` runs N prompts x C candidates as one batch of N*C
rows through the same steps (``MusicLMPipeline.generate_resolved``, steps 2-7 of ``__call__``):
every row keeps its own prompt's MuLan tokens (and attributes, beat grid and key, where
the LMs hear them) as prefix conditioning, each prompt's candidates are ranked among
themselves (the attribute critic after the coarse stage, else MuLan after decoding), and only
the chosen rows go through the fine LM and the codec. Measured on the 2-core machine (shared
with other jobs, so only roughly): 5-s clips with 4 candidates took 4.2 s alone through
``pipe(...)``, and 2.5 / 2.0 / 1.7 s per prompt in batches of 2 / 4 / 8 prompts; one batch of
16 prompts (64 rows) was slower per prompt than one at a time (the app's default batch is 8;
``scripts/load_bench.py`` measures the served app).

One generator draws every row, so a row's music depends on its batch: outputs carry
``seed=None`` (not reproducible alone). Melody, story and continuation requests take the
pipeline's own ``__call__``. A prompt the pipeline refuses gives a ``ValueError`` in its place
of the result list; the others are generated.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import torch

from .key_lock import key_guidance, names_key
from .outputs import MusicLMOutput
from .pipeline import StageTimer
from .sampling_args import DEFAULTS


@torch.no_grad()
def generate_batch(pipe, prompts: list[str], *, duration_s: float = 10.0, temperature=None, top_k: Optional[int] = DEFAULTS["top_k"],
                   top_p: Optional[float] = None, guidance_scale=None, seed: Optional[int] = None,
                   num_candidates: Optional[int] = None, bpm: Optional[float] = None, key: Optional[str] = None,
                   key_lock: bool = True, negative_prompt: Optional[str] = None,
                   callback=None) -> list[Union[MusicLMOutput, ValueError]]:
    """Generate one clip per prompt (same settings as ``pipe(prompt, ...)``) in one batch; a refused
    prompt's place holds its ``ValueError`` (a bad shared setting raises it for the whole call). ``callback`` gets ``StageEvent``s with every row's
    tokens (row i*C + c: prompt i, candidate c; conditioning: one MuLan row per prompt)."""
    # 0. the settings every prompt shares, checked once as the pipeline checks a call's (one generator for all
    # rows, so no clip is reproducible alone: seed None)
    shared = dataclasses.replace(pipe.check_inputs(
        prompts[0] if prompts else "", duration_s=duration_s, temperature=temperature, top_k=top_k, top_p=top_p,
        guidance_scale=guidance_scale, seed=seed, num_candidates=num_candidates, bpm=bpm, key=key,
        key_lock=key_lock, negative_prompt=negative_prompt), seed=None)
    # key guidance (key_lock.py) runs on every row of the batch, so only where every prompt names a key or a
    # mode (or key= names one for all); in a mixed batch none is guided (the key lock's mode pick and
    # transposition still apply to each prompt that names one)
    shared.sampling.key_guidance = key_guidance(pipe, key_lock, all(names_key([prompt], key) for prompt in prompts))
    timer, results, conds, rows = StageTimer(), [None] * len(prompts), [], []
    # 1. conditioning, prompt by prompt (each one checked on its own)
    with timer("conditioning"):
        for i, prompt in enumerate(prompts):
            try:
                conds.append(pipe.resolve_conditioning(dataclasses.replace(shared, story=[(prompt, duration_s)])))
                rows.append(i)
            except ValueError as error:
                results[i] = error
    # 2-7. the pipeline's own stages, the N prompts x C candidates as one batch
    for i, out in zip(rows, pipe.generate_resolved(conds, shared, timer, callback) if conds else []):
        results[i] = out
    return results
