"""A request -> the ``Conditioning`` every stage reads, and how each stage LM hears it.

Per story segment: MuLan tokens of its prompt; for LMs that hear a beat grid, its tempo (``bpm``,
else a number or tempo words in the prompt, ``prompt_reader``, the words moving the attribute
reader's reading of the genre's typical tempo into their band; else that reading); for LMs that hear
a key, its key (``key``, else one the prompt names, else its mode word or mood, else the attribute
reader's reading, on a tonic drawn from the generator); the attribute tokens
(``models.attribute_reader``) for LMs that hear them. A continuation's grid and key are its own
audio's, read by the analysers (``analysis.read_beat_grid``, ``read_key``): its tempo and first beat,
its key where one fits well. Several prompts sampled as one batch (``generate_batch``)
give ``segments`` and ``aligned_streams`` a list of conditionings: their rows in order.

A weighted prompt ('jazz trio:0.7 | techno:0.3') is mixed in MuLan's embedding space and read by
the attribute reader and the prompt reader as ``prompt_mix`` says; a negative prompt's MuLan tokens take the
place of the null MuLan tokens in the unconditional rows of classifier-free guidance, and the prompt's
embedding moves away from the negative's before it is tokenised (``steered``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional, Sequence, Union

import torch

from ..analysis import read_beat_grid, read_key
from ..audio import prepare_audio
from ..windowing import Segment, per_segment
from ..lyrics import voice_notice
from ..vocab.attributes import ATTRIBUTE_NAMES, read_attribute_tokens, set_asked_tempo
from ..vocab.beat_grid import beat_tokens
from ..vocab.musical_key import NO_KEY, key_mode, key_name, key_token, stated_key
from ..outputs import Conditioning, TokenStreams
from .prompt_mix import embed, reading_text
from .prompt_reader import named_attributes, read_mode, read_tempo
from .request import GenerationRequest

if TYPE_CHECKING:
    from ..pipeline import MusicLMPipeline

NEGATIVE_STEER = 0.3  # how far a negative prompt's MuLan embedding moves the prompt's (docs/editing.md)
UNTRAINED_NOTICE = ("Untrained placeholder: {names} still have random weights, so the output is noise-like "
                    "sound, not music. It shows how the studio works; load a trained pipeline for real results.")


def resolve(pipe: "MusicLMPipeline", request: GenerationRequest) -> Conditioning:
    """Everything the stages read, from a checked request (see the module docstring)."""
    opening, duration_s = None, request.duration_s
    if request.continuation is not None:
        opening = pipe.opening_tokens(request.continuation, request.continuation_sample_rate)
        opening = TokenStreams(**{name: t if t is None else t.to(pipe.device) for name, t in opening.as_dict().items()})
        duration_s += opening.semantic.shape[-1] / pipe.config.semantic_tokenizer.frame_rate
        if duration_s > pipe.config.max_duration_s:
            raise ValueError(f"Continuation audio plus duration is {duration_s:.1f} s; the cap is "
                             f"{pipe.config.max_duration_s:g} s. Use a shorter clip or duration.")
    story = request.story if len(request.story) > 1 else [(request.story[0][0], duration_s)]
    cond = encode(pipe, story, request.melody, request.melody_sample_rate, request.bpm, request.key,
                  request.sampling.generator)
    if request.negative_prompt is not None:  # its MuLan tokens replace the null ones in guidance, the prompt's
        mulan = pipe.components.mulan  # move away from it, and the critic avoids what it names
        features, negative = embed(mulan, [request.negative_prompt])
        cond = steered(mulan, dataclasses.replace(cond, negative_mulan_tokens=mulan.tokenize(negative),
                                                  negative_text_features=features, negative_text_embeddings=negative,
                                                  negative_attributes=named_attributes(request.negative_prompt)))
    if opening is None:
        return dataclasses.replace(cond, duration_s=duration_s)
    # the continued audio keeps its own beat grid and key, read from it: the LMs hear those
    n, opening_s = len(cond.prompts), opening.semantic.shape[-1] / pipe.config.semantic_tokenizer.frame_rate
    bpm, first_beat_s, key = opening_grid_and_key(request.continuation, request.continuation_sample_rate, opening_s,
                                                  pipe.sample_rate)
    return dataclasses.replace(cond, duration_s=duration_s, opening=opening, beat_start_s=first_beat_s,
                               tempo_bpm=None if cond.tempo_bpm is None else [bpm or None] * n,
                               key_tokens=None if cond.key_tokens is None else [key] * n)


def steered(mulan, cond: Conditioning) -> Conditioning:
    """``cond`` with the MuLan tokens the LMs hear as its prompt: each segment's embedding moved
    ``NEGATIVE_STEER`` of the negative prompt's away from it and renormalised (e - w * e_neg), where
    there is a negative prompt; else its own tokens. Guidance alone acts only on guided stages; this
    reaches every LM that hears MuLan (the coarse stage, which decides most of the drums' sound, too)."""
    embeddings = cond.text_embeddings
    if cond.negative_text_embeddings is not None:
        away = NEGATIVE_STEER * cond.negative_text_embeddings.to(embeddings.dtype)
        embeddings = torch.nn.functional.normalize(embeddings - away, dim=-1)
    return dataclasses.replace(cond, mulan_tokens=mulan.tokenize(embeddings))


def opening_grid_and_key(audio, sample_rate: Optional[int], seconds: float, target_rate: int) -> tuple[float, float, int]:
    """A continuation's own beat grid and key, read from its first ``seconds`` (``analysis``):
    (bpm or 0.0 where no steady beat is heard, the first beat's time in s, key token or "no key"
    where no key fits well)."""
    prepared = prepare_audio(audio, sample_rate, target_sample_rate=target_rate, max_seconds=seconds,
                             name="continuation")
    bpm, first_beat_s = read_beat_grid(prepared.audio, target_rate)
    tonic, mode, _ = read_key(prepared.audio, target_rate)
    return bpm, first_beat_s, NO_KEY if mode is None else key_token(tonic, mode)


def encode(pipe: "MusicLMPipeline", story: list[tuple[str, Optional[float]]], melody=None, melody_sample_rate=None,
           bpm: Optional[float] = None, key: Optional[tuple] = None,
           generator: Optional[torch.Generator] = None) -> Conditioning:
    """Story segments [(prompt, seconds)] -> MuLan embeddings and tokens per segment; melody -> melody
    tokens; each segment's tempo and key for LMs that hear them (``bpm`` / ``key`` already checked)."""
    texts = [text for text, _ in story]
    reading = [reading_text(text) for text in texts]  # a mix's heaviest part (prompt_mix); else the text
    seconds = [float(s) if s is not None else None for _, s in story]
    mulan = pipe.components.mulan
    features, embeddings = embed(mulan, texts)  # validates the prompts; a mix is mixed here
    notices = [] if pipe.trained else [UNTRAINED_NOTICE.format(names=", ".join(pipe.untrained_components))]
    notices += list(dict.fromkeys(n for n in (voice_notice(t, pipe.config.sings) for t in texts) if n))
    melody_tokens = None
    if melody is not None:
        clip_s = sum(s for _, s in story if s is not None) or pipe.config.max_duration_s
        prepared = prepare_audio(melody, melody_sample_rate, target_sample_rate=pipe.config.melody.sample_rate,
                                 max_seconds=min(pipe.config.max_duration_s, clip_s), allow_silent=False,
                                 name="melody")  # only what the clip plays is read
        notices += prepared.notices
        melody_tokens = pipe.components.melody(prepared.audio)[None].to(pipe.device)  # [1, Tm]
    beat, hears_key = pipe.lms_hear("beat"), pipe.lms_hear("key")
    attributes, read, tempo = None, None, None
    reader = pipe.components.attribute_reader  # check_contracts: one exists where the LMs hear attributes or a grid
    if (beat or pipe.lms_hear("attributes") or hears_key) and reader is not None:
        guessed = reader.asked_tokens(features.to(pipe.device))
        # a tempo given is taken as it is; else the prompt's number or tempo words (prompt_reader), the
        # words moving the reader's reading (the genre's typical tempo) into their band; else that reading
        typical = read_attribute_tokens(reader.config, guessed.cpu())
        stated = [bpm if bpm is not None else read_tempo(text, said["tempo"]) for text, said in zip(reading, typical)]
        attributes = set_asked_tempo(reader.config, guessed, stated)
        read = read_attribute_tokens(reader.config, attributes.cpu())
        if beat:
            tempo = [exact if exact is not None else said["tempo"] for exact, said in zip(stated, read)]
    keys = segment_keys(reading, key, read, generator) if hears_key else None
    return Conditioning(prompts=texts, seconds=seconds, text_embeddings=embeddings, text_features=features,
                        mulan_tokens=mulan.tokenize(embeddings), melody_tokens=melody_tokens, notices=notices,
                        attribute_tokens=attributes, tempo_bpm=tempo, key_tokens=keys)


def segment_keys(texts: list[str], key: Optional[tuple], read: Optional[list[dict]],
                 generator: Optional[torch.Generator]) -> list[int]:
    """Each segment's key token: ``key`` (tonic or None, mode) if given, else the key its prompt
    states, else its mode word, else the mode its mood words name (``prompt_reader.read_mode``), else
    the mode the attribute reader reads from it (``read``). A mode without a tonic keeps the tonic last named
    (the first one named, before any is), else one drawn from ``generator``, so a story that changes
    mode keeps its tonic. No mode: "no key", the LMs choose."""
    asked_keys = [key if key is not None else stated_key(text) for text in texts]
    named = [t for t, _ in asked_keys if t is not None]
    tonic = named[0] if named else int(torch.randint(0, 12, (1,), generator=generator))
    out = []
    for i, (asked_tonic, mode) in enumerate(asked_keys):
        tonic = tonic if asked_tonic is None else asked_tonic
        if mode is None:  # the mode its mood words name, else the attribute reader's
            mode = read_mode(texts[i]) or (read[i]["mode"] if read is not None else None)
        out.append(key_token(tonic, mode))
    return out


Conditionings = Union[Conditioning, Sequence[Conditioning]]  # one prompt's, or several sampled as one batch


def batch_rows(rows: Sequence[Optional[torch.Tensor]]) -> Optional[torch.Tensor]:
    """Several prompts' rows as one batch, in order (None where they have none)."""
    if rows[0] is None:
        return None
    return rows[0] if len(rows) == 1 else torch.cat(list(rows))


def segments(cond: Conditionings, frame_rate: float, total: int, batch: int,
             lm: Optional[torch.nn.Module] = None) -> list[Segment]:
    """Each story segment's last frame and prefix conditioning: its MuLan tokens, and what its prompt
    asks (``attributes``) where ``lm`` conditions on that; ``batch`` rows per conditioning (several
    conditionings: their segments end together); a negative prompt's MuLan tokens for guidance's
    unconditional rows (``Segment.negative``)."""
    conds = [cond] if isinstance(cond, Conditioning) else list(cond)
    out, end = [], 0.0
    attributes = lm is not None and "attributes" in lm.conditions and conds[0].attribute_tokens is not None
    negative = {}  # a negative prompt's MuLan tokens, for the unconditional rows of guidance
    if lm is not None and "mulan" in lm.conditions and conds[0].negative_mulan_tokens is not None:
        negative["mulan"] = batch_rows([c.negative_mulan_tokens.expand(batch, -1) for c in conds])
    for i, seconds in enumerate(conds[0].seconds):
        end = end + seconds if seconds is not None else total / frame_rate
        last = i == len(conds[0].seconds) - 1
        frames = total if last else min(total, round(end * frame_rate))
        prefix = {"mulan": batch_rows([c.mulan_tokens[i: i + 1].expand(batch, -1) for c in conds])}
        if attributes:
            prefix["attributes"] = batch_rows([c.attribute_tokens[i: i + 1].expand(batch, -1) for c in conds])
        out.append(Segment(frames, prefix, negative))
    return out


def aligned_streams(cond: Conditionings, lm: torch.nn.Module, parts: list[Segment], total: int, batch: int,
                    device: torch.device) -> dict[str, torch.Tensor]:
    """The aligned streams [B, total] ``lm`` hears of what each story segment asks: the beat grid
    of its tempo (``Conditioning.tempo_bpm``; ``vocab.beat_grid``, the phase counting from the
    clip's first frame, or from a continuation's first beat) and its key (``Conditioning.key_tokens``; ``vocab.musical_key``); ``batch``
    rows per conditioning."""
    ends, out = [s.end for s in parts], {}
    for c in [cond] if isinstance(cond, Conditioning) else cond:
        if "beat" in lm.conditions:
            bpm = per_segment(c.tempo_bpm or [], ends, total, 0.0)
            offset = -c.beat_start_s * float(bpm[0]) / 60.0  # a continuation's grid has a beat where its audio does
            beat = beat_tokens(bpm, lm.config.frame_rate, offset_beats=offset)
            out.setdefault("beat", []).append(beat[None].expand(batch, -1).to(device))
        if "key" in lm.conditions:
            key = per_segment(c.key_tokens or [], ends, total, NO_KEY)
            out.setdefault("key", []).append(key[None].expand(batch, -1).to(device))
    return {name: batch_rows(rows) for name, rows in out.items()}


def asked(pipe: "MusicLMPipeline", cond: Conditioning) -> list[dict]:
    """Per story segment, what the LMs hear that its prompt asks for: tempo (bpm), mode, drums and
    lead family (None: unstated; the tempo of a beat grid as laid), and the key ('A minor') where
    they hear one; empty when they hear none of these."""
    if cond.attribute_tokens is None and cond.key_tokens is None:
        return []
    if cond.attribute_tokens is not None:
        said = read_attribute_tokens(pipe.components.attribute_reader.config, cond.attribute_tokens.cpu())
    else:
        said = [dict.fromkeys(ATTRIBUTE_NAMES) for _ in cond.prompts]
    told_all = pipe.lms_hear("attributes")
    for i, row in enumerate(said):
        if not told_all:  # LMs that hear a beat grid or a key alone are told nothing else
            row.update(tempo=None, mode=None, drums=None, lead_family=None)
        if cond.tempo_bpm is not None:
            bpm = cond.tempo_bpm[i]
            row["tempo"] = None if bpm is None else round(bpm)
        if cond.key_tokens is not None:
            token = cond.key_tokens[i]
            row["key"], row["mode"] = key_name(token), key_mode(token)
    return said
