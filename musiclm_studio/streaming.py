"""Streaming generation: playable audio chunk by chunk, long before the whole clip is done.

MusicLM's stages are causal in time: the coarse LM at acoustic frame t needs semantic tokens
up to t, the fine LM needs coarse tokens up to t. So the clip is grown in chunks of
``chunk_s`` seconds, each chunk running the three LMs with everything generated so far as
their prompt (the same sliding-window machinery as long generation) and decoding. The codec
decoder looks a few frames ahead (ConvNeXt kernels and the iSTFT window), so the last
``holdback`` samples of each chunk are held back until the next chunk has decoded them with
their full context: every emitted sample is final.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Union

import torch

from .audio import AudioLike
from .outputs import TokenStreams
from .sampling_args import DEFAULTS


@dataclass
class AudioChunk:
    """New audio [S] at ``sample_rate`` from ``start_s``; ``tokens`` holds every stream so far."""

    audio: torch.Tensor
    sample_rate: int
    start_s: float
    elapsed_s: float  # wall time since the call began
    done: bool
    tokens: TokenStreams
    notices: list[str]
    seed: Optional[int]


def decoder_lookahead(pipe) -> int:
    """Samples of audio that later frames can still change (the decoder's receptive field)."""
    c = pipe.config.codec
    frames = 3 * c.decoder_layers + 3 + c.n_fft // c.hop_length  # ConvNeXt k=7 blocks, input conv, iSTFT
    return frames * c.hop_length


def chunk_ends(duration_s: float, chunk_s: float, first_s: Optional[float] = None) -> list[float]:
    """Chunk end times: ``first_s`` (default ``chunk_s``), then every ``chunk_s``, then the end."""
    if chunk_s <= 0:
        raise ValueError(f"chunk_s must be positive, got {chunk_s}.")
    ends, t = [], first_s or chunk_s
    while t < duration_s - 1e-9:
        ends.append(round(t, 6))
        t += chunk_s
    return ends + [duration_s]


@torch.no_grad()
def stream_generation(
    pipe,
    prompt: Union[str, Sequence[tuple[str, float]], None] = None,
    *,
    duration_s: float = 10.0,
    chunk_s: float = 2.0,
    melody: Optional[AudioLike] = None,
    melody_sample_rate: Optional[int] = None,
    temperature=None,
    top_k: Optional[int] = DEFAULTS["top_k"],
    top_p: Optional[float] = None,
    guidance_scale: Union[float, Sequence[float], dict, None] = None,
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    bpm: Optional[float] = None,
    key: Optional[str] = None,
    prompts: Optional[dict[str, float]] = None,
    negative_prompt: Optional[str] = None,
    callback=None,
) -> Iterator[AudioChunk]:
    """Yield ``AudioChunk``s whose audio, concatenated, is the whole clip."""
    clock = time.perf_counter()
    request = pipe.check_inputs(prompt, duration_s=duration_s, temperature=temperature, top_k=top_k, top_p=top_p,
                                guidance_scale=guidance_scale, seed=seed, generator=generator, num_candidates=1,
                                melody=melody, melody_sample_rate=melody_sample_rate, bpm=bpm, key=key,
                                prompts=prompts, negative_prompt=negative_prompt)
    args, seed, duration_s = request.sampling, request.seed, request.duration_s
    # 1. conditioning once; then grow every stream chunk by chunk
    cond = pipe.resolve_conditioning(request)
    semantic = coarse = fine = None
    emitted, hold, rate = 0, decoder_lookahead(pipe), pipe.sample_rate
    for end_s in chunk_ends(duration_s, chunk_s):
        # 2-4. the three LMs continue from what exists (their prompt), up to end_s
        semantic = pipe.generate_semantic(cond, end_s, prompt_tokens=semantic, sampling=args, callback=callback)
        coarse = pipe.generate_coarse(cond, semantic, prompt_tokens=coarse, sampling=args, callback=callback)
        fine = pipe.generate_fine(coarse, prompt_tokens=fine, sampling=args, callback=callback)
        # 5. decode, and release every sample that later frames can no longer change
        audio = pipe.decode(coarse, fine)[0].float().cpu()
        done = end_s >= duration_s
        ready = audio.numel() if done else max(emitted, audio.numel() - hold)
        tokens = TokenStreams(cond.mulan_tokens.cpu()[:1] if cond.mulan_tokens.shape[0] == 1 else cond.mulan_tokens.cpu()[None],
                              None if cond.melody_tokens is None else cond.melody_tokens.cpu(),
                              semantic.cpu(), coarse.cpu(), fine.cpu())
        yield AudioChunk(audio[emitted:ready], rate, emitted / rate, time.perf_counter() - clock, done, tokens,
                         list(cond.notices), seed)
        emitted = ready
