"""Batched generation: several prompts with the same settings in one pass of the three LMs.

``MusicLMPipeline.__call__`` takes one prompt (a list of prompts is story mode), sampling its
candidates as one batch. ``generate_batch`` runs N prompts x C candidates as one batch of N*C
rows: every row keeps its own prompt's MuLan tokens (and attributes, beat grid and key, where
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
import time
from typing import Optional, Union

import torch

from .conditioning.resolver import aligned_streams
from .outputs import Conditioning, MusicLMOutput, StageEvent, TokenStreams
from .sampling_args import DEFAULTS
from .windowing import Segment


def _rows(conds: list[Conditioning], C: int, get) -> torch.Tensor:
    """One tensor per prompt (``get(cond)``: [1, ...]) repeated for its C candidates, stacked: [N*C, ...]."""
    return torch.cat([get(cond).expand(C, *get(cond).shape[1:]) for cond in conds])


def _prefix_and_told(pipe, conds: list[Conditioning], lm, total: int, C: int):
    """Each row's prefix conditioning (MuLan tokens, attributes) and aligned streams (beat grid, key)."""
    device = pipe.device
    prefix = {"mulan": _rows(conds, C, lambda k: k.mulan_tokens[:1]).to(device)}
    if "attributes" in lm.conditions:
        prefix["attributes"] = _rows(conds, C, lambda k: k.attribute_tokens[:1]).to(device)
    segments = [Segment(total, prefix)]
    told = [aligned_streams(cond, lm, [Segment(total, {})], total, C, device) for cond in conds]
    aligned = {name: torch.cat([t[name] for t in told]) for name in (told[0] if told else {})}
    return segments, aligned


@torch.no_grad()
def generate_batch(pipe, prompts: list[str], *, duration_s: float = 10.0, temperature=None, top_k: Optional[int] = DEFAULTS["top_k"],
                   top_p: Optional[float] = None, guidance_scale=None, seed: Optional[int] = None,
                   num_candidates: Optional[int] = None, bpm: Optional[float] = None, key: Optional[str] = None,
                   callback=None) -> list[Union[MusicLMOutput, ValueError]]:
    """Generate one clip per prompt (same settings as ``pipe(prompt, ...)``) in one batch; a refused
    prompt's place holds its ``ValueError`` (a bad shared setting raises it for the whole call). ``callback`` gets ``StageEvent``s with every row's
    tokens (row i*C + c: prompt i, candidate c; conditioning: one MuLan row per prompt)."""
    # the settings every prompt shares, checked once as the pipeline checks a call's (one generator for all rows)
    shared = pipe.check_inputs(prompts[0] if prompts else "", duration_s=duration_s, temperature=temperature,
                               top_k=top_k, top_p=top_p, guidance_scale=guidance_scale, seed=seed,
                               num_candidates=num_candidates, bpm=bpm, key=key)
    C, args = shared.num_candidates, shared.sampling
    clock, timings = time.perf_counter(), {}
    # 1. conditioning, prompt by prompt (each one checked on its own)
    results: list = [None] * len(prompts)
    conds, rows = [], []
    for i, prompt in enumerate(prompts):
        try:
            conds.append(pipe.resolve_conditioning(dataclasses.replace(shared, story=[(prompt, duration_s)])))
            rows.append(i)
        except ValueError as error:
            results[i] = error
    if not conds:
        return results
    N, c = len(conds), pipe.components
    timings["conditioning"] = time.perf_counter() - clock
    if callback is not None:
        callback(StageEvent("conditioning", 1, 1, torch.cat([k.mulan_tokens[:1] for k in conds]).cpu()))
    # 2. semantic tokens [N*C, Ts]
    start, lm = time.perf_counter(), c.semantic_lm
    total = round(duration_s * lm.config.frame_rate)
    segments, aligned = _prefix_and_told(pipe, conds, lm, total, C)
    semantic = pipe._run_stage("semantic", lm, total, segments, {"melody": None, **aligned}, None,  # noqa: SLF001
                               N * C, args, callback)[:, 0]
    timings["semantic"] = time.perf_counter() - start
    # 3. coarse tokens [N*C, 4, Ta]
    start, lm = time.perf_counter(), c.coarse_lm
    total = round(semantic.shape[-1] / pipe.config.semantic_tokenizer.frame_rate * lm.config.frame_rate)
    segments, aligned = _prefix_and_told(pipe, conds, lm, total, C)
    coarse = pipe._run_stage("coarse", lm, total, segments, {"semantic": semantic, **aligned}, None,  # noqa: SLF001
                             N * C, args, callback)
    timings["coarse"] = time.perf_counter() - start
    # each prompt keeps the candidate the critic likes best; without a critic every row goes on
    start, critic = time.perf_counter(), pipe.ranks_coarse(C)
    critic_scores = [pipe.rank_candidates(k, coarse[i * C:(i + 1) * C]).tolist() for i, k in enumerate(conds)] \
        if critic else [[] for _ in conds]
    timings["critic"] = time.perf_counter() - start
    picked = [i * C + max(range(C), key=lambda j: s[j]) for i, s in enumerate(critic_scores)] if critic \
        else list(range(N * C))
    # 4-5. fine tokens and audio for the picked rows, then MuLan scores
    start = time.perf_counter()
    fine = pipe.generate_fine(coarse[picked], sampling=args, callback=callback)
    timings["fine"] = time.perf_counter() - start
    start = time.perf_counter()
    audio = pipe.decode(coarse[picked], fine)
    timings["decode"] = time.perf_counter() - start
    if callback is not None:
        callback(StageEvent("decode", 1, 1, audio.cpu()))
    timings["total"] = time.perf_counter() - clock
    for n, (i, cond) in enumerate(zip(rows, conds)):
        mine = [n] if critic else list(range(n * C, (n + 1) * C))  # this prompt's rows of ``picked`` / audio
        scores = pipe.score(cond.prompts[0], audio[mine]).tolist()
        best = mine[0] if critic else mine[max(range(len(mine)), key=lambda j: scores[j])]
        chosen = picked[best] - n * C
        candidates = TokenStreams(cond.mulan_tokens.cpu()[:1].expand(C, -1), None, semantic[n * C:(n + 1) * C].cpu(),
                                  coarse[n * C:(n + 1) * C].cpu(), None)
        tokens = candidates.select(chosen)
        tokens.fine = fine[best:best + 1].cpu()
        by = "critic" if critic else ("mulan" if C > 1 else "only candidate")
        results[i] = MusicLMOutput(audio=audio[best].float().cpu(), sample_rate=pipe.sample_rate, tokens=tokens,
                                   candidates=candidates, chosen=chosen, scores=critic_scores[n] if critic else scores,
                                   chosen_by=by, mulan_score=scores[mine.index(best)], timings=dict(timings),
                                   notices=cond.notices, seed=None, asked=pipe.asked(cond), conditioning=cond)
    return results
