"""Saving an output with its tokens, so that it can be edited later (``vary`` / ``repaint`` / ``extend``).

``save_output("song.wav", out)`` writes the WAV (16-bit, for listening) and beside it
``song.tokens.safetensors``: the float audio, every token stream and the resolved conditioning
as tensors, the rest (prompts, segment lengths, tempo, key, seed, scores, notices) as JSON in
the safetensors metadata. No pickles. ``load_output("song.wav")`` (or the ``.tokens.safetensors``
path) gives back a ``MusicLMOutput`` equal to the one saved, audio included, bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Union

from .audio import save_audio
from .outputs import Conditioning, MusicLMOutput, TokenStreams

FORMAT = "musiclm-studio-output"
VERSION = 1
SUFFIX = ".tokens.safetensors"
_STREAMS = ("mulan", "melody", "semantic", "coarse", "fine")
_COND_TENSORS = ("text_embeddings", "mulan_tokens", "text_features", "melody_tokens", "attribute_tokens",
                 "negative_mulan_tokens", "negative_text_features", "negative_text_embeddings")
_COND_VALUES = ("prompts", "seconds", "notices", "tempo_bpm", "key_tokens", "duration_s", "negative_attributes")
_OUT_VALUES = ("sample_rate", "chosen_by", "mulan_score", "timings", "notices", "seed", "asked", "edit")


def sidecar_path(path: Union[str, os.PathLike]) -> str:
    """The tokens file of a WAV path (``song.wav`` -> ``song.tokens.safetensors``); a tokens path is itself."""
    path = os.fspath(path)
    if path.endswith(SUFFIX):
        return path
    return os.path.splitext(path)[0] + SUFFIX


def save_output(path: Union[str, os.PathLike], out: MusicLMOutput) -> tuple[str, str]:
    """Write ``out`` as a WAV at ``path`` and its tokens file beside it; returns (wav path, tokens path)."""
    from safetensors.torch import save_file

    if not isinstance(out, MusicLMOutput):
        raise ValueError(f"save_output takes a MusicLMOutput, got {type(out).__name__}.")
    wav = save_audio(path, out.audio, out.sample_rate)
    tensors = {"audio": out.audio.detach().float().cpu().contiguous()}
    for name in _STREAMS:
        value = getattr(out.tokens, name)
        if value is not None:
            tensors[f"tokens.{name}"] = value.detach().cpu().clone().contiguous()
    meta = {name: getattr(out, name) for name in _OUT_VALUES}
    if out.conditioning is not None:
        cond = out.conditioning
        for name in _COND_TENSORS:
            value = getattr(cond, name)
            if value is not None:
                tensors[f"conditioning.{name}"] = value.detach().cpu().clone().contiguous()
        meta["conditioning"] = {name: getattr(cond, name) for name in _COND_VALUES}
    sidecar = sidecar_path(wav)
    save_file(tensors, sidecar, metadata={"format": FORMAT, "version": str(VERSION), "output": json.dumps(meta)})
    return wav, sidecar


def load_output(path: Union[str, os.PathLike]) -> MusicLMOutput:
    """The ``MusicLMOutput`` saved by ``save_output`` at ``path`` (the WAV or its tokens file)."""
    from safetensors import safe_open

    sidecar = sidecar_path(path)
    if not os.path.isfile(sidecar):
        raise ValueError(f"{os.path.basename(sidecar)} is missing: edits need the tokens file that generation writes "
                         "beside the WAV (musiclm-studio generate writes it; a WAV alone has no tokens).")
    try:
        with safe_open(sidecar, framework="pt") as f:
            header = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as error:  # a damaged or foreign file
        raise ValueError(f"{os.path.basename(sidecar)} is not a readable tokens file ({error}).") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{os.path.basename(sidecar)} is not a MusicLM Studio output (format {header.get('format')!r}).")
    meta = json.loads(header["output"])
    tokens = TokenStreams(**{name: tensors.get(f"tokens.{name}") for name in _STREAMS})
    cond = None
    if "conditioning" in meta:
        values = meta["conditioning"]
        cond = Conditioning(**{name: tensors.get(f"conditioning.{name}") for name in _COND_TENSORS},
                            **{name: values[name] for name in _COND_VALUES if name != "negative_attributes"},
                            negative_attributes=tuple(values.get("negative_attributes", ())))  # absent before it
    kept = {name: meta.get(name) for name in _OUT_VALUES}  # "edit": absent from files saved before it
    return MusicLMOutput(audio=tensors["audio"], tokens=tokens, candidates=dataclasses.replace(tokens, fine=None),
                         chosen=0, scores=[kept["mulan_score"]] if kept["mulan_score"] is not None else [],
                         conditioning=cond, **kept)

