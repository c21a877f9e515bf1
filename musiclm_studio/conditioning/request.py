"""One validated request: the arguments of every generation entry point, checked before any model runs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch

from ..audio import AudioLike
from ..key_lock import key_guidance, names_key
from .prompt_mix import check_negative_prompt, mix_label, parse_prompt
from ..sampling_args import SamplingArgs, check_bpm, check_key, check_sampling_args, check_seed, check_story

Prompt = Union[str, Sequence[tuple[str, float]]]  # a prompt, or story mode: [(prompt, seconds), ...]


@dataclass
class GenerationRequest:
    """A generation's inputs, checked: ``story`` [(prompt, seconds or None = the whole clip)],
    ``duration_s`` of new audio (a story: the sum of its segments), ``sampling`` with its generator,
    ``seed`` (None when the caller gave a generator), and what conditions it besides the text."""

    story: list[tuple[str, Optional[float]]]
    duration_s: float
    sampling: SamplingArgs
    seed: Optional[int]
    num_candidates: int
    melody: Optional[AudioLike] = None
    melody_sample_rate: Optional[int] = None
    continuation: Optional[AudioLike] = None
    continuation_sample_rate: Optional[int] = None
    bpm: Optional[float] = None
    key: Optional[tuple[Optional[int], str]] = None  # (tonic or None, mode)
    negative_prompt: Optional[str] = None  # the unconditional branch of guidance (None: the null conditioning)
    key_lock: bool = True  # a named key: transpose the clip onto it where it plays in the asked mode (key_lock.py)


def check_inputs(pipe, prompt: Prompt, *, duration_s: float, temperature=None, top_k=None, top_p=None,
                 guidance_scale=None, seed=None, generator: Optional[torch.Generator] = None,
                 num_candidates: Optional[int] = None, melody: Optional[AudioLike] = None,
                 melody_sample_rate: Optional[int] = None, continuation: Optional[AudioLike] = None,
                 continuation_sample_rate: Optional[int] = None, bpm=None, key=None, prompts=None,
                 negative_prompt: Optional[str] = None, key_lock: bool = True) -> GenerationRequest:
    """Check a generation's arguments against ``pipe`` (its limits and what its LMs hear); raise
    ``ValueError`` saying what to do on the first bad one. ``prompts`` ({text: weight}) stands for
    the prompt as a weighted mix (``prompt_mix``); ``negative_prompt`` replaces the null conditioning
    of classifier-free guidance and moves the prompt's MuLan embedding away from the negative's; ``key_lock``
    (``key_lock.py``) transposes a clip told a named key onto it."""
    if not isinstance(key_lock, bool):
        raise ValueError(f"key_lock must be True or False (got {key_lock!r}).")
    if prompts is not None:
        if prompt is not None and prompt != "":
            raise ValueError("Give either a prompt or prompts={text: weight}, not both.")
        prompt = mix_label(prompts)
    if prompt is None:
        raise ValueError("Describe the music: give a prompt, e.g. 'a calm piano piece', or prompts={text: weight}.")
    if isinstance(prompt, str):
        story = [(prompt, duration_s)]
    else:
        story = check_story(prompt, pipe.config.max_duration_s)
        duration_s = sum(seconds for _, seconds in story)
    num_candidates = pipe.config.num_candidates if num_candidates is None else num_candidates
    sampling = check_sampling_args(duration_s, temperature, top_k, top_p, guidance_scale, num_candidates,
                                   pipe.config.max_duration_s)
    if continuation is not None and bpm is not None:
        raise ValueError("bpm lays a beat grid from the clip's first frame, which continued audio does not "
                         "share: leave bpm out when continuing (the continuation keeps the audio's tempo).")
    if continuation is not None and key is not None:
        raise ValueError("key names the key the LMs play in, and continued audio keeps its own: leave key out "
                         "when continuing.")
    for text, _ in story:
        parse_prompt(text)  # a mix's syntax and weights
    negative_prompt = check_negative_prompt(negative_prompt)
    bpm = None if bpm is None else check_bpm(bpm, pipe.lms_hear("beat"))
    key = None if key is None else check_key(key, pipe.lms_hear("key"))
    if generator is None:
        seed = check_seed(seed)
        seed = random.randrange(2**31) if seed is None else seed
        generator = torch.Generator().manual_seed(seed)
    sampling.generator = generator
    sampling.key_guidance = key_guidance(pipe, key_lock, names_key([text for text, _ in story], key))  # key_lock.py
    return GenerationRequest(story, duration_s, sampling, seed, num_candidates, melody, melody_sample_rate,
                             continuation, continuation_sample_rate, bpm, key, negative_prompt, key_lock)

