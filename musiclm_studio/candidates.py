"""A generation's candidates: which go on after the coarse stage, which one is returned, and its output.

With an attribute critic (and more than one candidate), the critic scores each candidate's coarse
tokens against what its prompt asks (``rank``) and only the best goes on to the fine stage and the
codec; without one, every candidate is finished and the best MuLan score is returned (``choose``).
``output`` assembles the ``MusicLMOutput`` every route returns (``__call__``, ``generate_batch``,
the edits), the key lock included.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from . import key_lock as keylock
from .conditioning import GenerationRequest
from .conditioning import resolver as resolving
from .outputs import Conditioning, MusicLMOutput, TokenStreams
from .vocab.musical_key import key_mode, key_name, key_token


def ranks_coarse(pipe, num_candidates: int) -> bool:
    """Whether the attribute critic picks one of several candidates after the coarse stage."""
    return num_candidates > 1 and pipe.components.critic is not None


@torch.no_grad()
def rank(pipe, conditioning: Conditioning, coarse_tokens: torch.Tensor) -> torch.Tensor:
    """The attribute critic's score per candidate [B] (higher = shows more of what the prompt asks).
    A story scores each segment's frames against its own prompt, its tempo against the beat grid
    and its mode against the key the LMs were given where these were laid; segments too short to
    hear a beat in (under 2 s) are left out."""
    critic, reader = pipe.components.critic, pipe.components.attribute_reader
    if critic is None:
        raise ValueError("This pipeline has no attribute critic; assemble one in (musiclm-studio train critic, "
                         "then musiclm-studio assemble --component critic=RUN --component attribute_reader=RUN).")
    B, total = coarse_tokens.shape[0], coarse_tokens.shape[-1]
    segments = resolving.segments(conditioning, critic.config.frame_rate, total, 1)
    avoid = (reader.asked(conditioning.negative_text_features[0].to(pipe.device))  # one negative for every segment
             if conditioning.negative_attributes else None)
    scores, start = torch.zeros(B, device=coarse_tokens.device), 0
    for i, segment in enumerate(segments):
        if segment.end - start >= 2 * critic.config.frame_rate or len(segments) == 1:
            part = coarse_tokens[..., start: segment.end].to(pipe.device)
            bpm = conditioning.tempo_bpm[i] if conditioning.tempo_bpm else None  # the grid's, where laid
            mode = key_mode(conditioning.key_tokens[i]) if conditioning.key_tokens else None  # the key's
            asked = reader.asked(conditioning.text_features[i].to(pipe.device))  # what this segment asks
            if avoid is not None:
                asked = avoiding(asked, avoid, conditioning.negative_attributes, critic.sizes)
            scores = scores + critic.score(asked, part, bpm, mode)
        start = segment.end
    return scores.cpu()


def avoiding(asked: dict[str, torch.Tensor], avoid: dict[str, torch.Tensor], names, sizes: dict[str, int]) -> dict:
    """What a prompt asks with a negative prompt's reading taken out, for the attributes the negative names
    (``prompt_reader.named_attributes``): each value is weighted by how little the negative asks for it
    (drums 'yes' -> 'no'; a negative 'piano' moves the lead family to the prompt's other families, or to
    any but piano where the prompt asked piano alone), and the attribute counts as stated."""
    out = dict(asked)
    for name in names:
        n = sizes[name]
        unwanted = avoid[name][:n] / avoid[name][:n].sum().clamp(min=1e-6)
        wanted = asked[name][:n] * (1 - unwanted)
        if float(wanted.sum()) < 1e-3:  # the prompt asks just what the negative forbids: anything else
            wanted = 1 - unwanted
        full = torch.zeros_like(asked[name])
        full[:n] = wanted / wanted.sum().clamp(min=1e-6)
        out[name] = full
    return out


def wanted_key(request: GenerationRequest, cond: Conditioning) -> Optional[tuple[Optional[int], str]]:
    """The key (tonic or None, mode) the chosen candidate should be heard in, with the key lock on
    (``request.key_lock``): a one-segment generation told a mode (``key=``, or a key or mode word in its
    prompt) -> (None, that mode), as the LMs were told it (the lock moves the tonic afterwards); a
    continuation whose opening plays in a key (read from its audio: ``resolver.opening_grid_and_key``) ->
    that key, tonic and mode (a continuation is never transposed); else None (a story, nothing named)."""
    from .vocab.musical_key import NO_KEY, stated_key

    if not request.key_lock or not cond.key_tokens or len(cond.key_tokens) != 1 or cond.key_tokens[0] == NO_KEY:
        return None
    token = int(cond.key_tokens[0])
    if cond.opening is not None:
        return token % 12, key_mode(token)
    named = request.key[1] if request.key is not None else stated_key(cond.prompts[0])[1]
    return None if named is None else (None, key_mode(token))


@torch.no_grad()
def keys_heard(pipe, coarse_tokens: torch.Tensor, start: int = 0) -> list[tuple[Optional[int], Optional[str]]]:
    """The key (tonic, mode; (None, None) where no key stands out) ``analysis.read_key`` hears in each
    candidate's coarse tokens [B, 4, T] from frame ``start`` on (after a continuation's opening), decoded
    alone (the codec decodes any first levels): a sketch of the sound, enough for its pitch classes."""
    from .analysis import read_key

    audio = pipe.components.codec.decode(coarse_tokens[..., start:].to(pipe.device)).float().cpu().numpy()
    return [read_key(row, pipe.sample_rate, min_fit=float("-inf"), min_seconds=0.0)[:2] for row in audio]


def clip_key(pipe, audio: torch.Tensor) -> Optional[tuple[int, str]]:
    """The key (tonic, mode) that stands out in a clip [S] (``analysis.read_key``, as a continuation's opening
    is read), or None: what an extension of it should be heard in (``editing.extend``)."""
    from .analysis import read_key

    tonic, mode, _ = read_key(audio.float().cpu().numpy(), pipe.sample_rate)
    return None if mode is None else (tonic, mode)


def heard_in(heard: tuple[Optional[int], Optional[str]], wanted: tuple[Optional[int], str]) -> bool:
    """Whether a key ``heard`` (``keys_heard``) is the ``wanted`` one (``wanted_key``; any tonic where it names none)."""
    return heard[1] == wanted[1] and (wanted[0] is None or heard[0] == wanted[0])


def critic_pass(pipe, conditioning: Conditioning, coarse_tokens: torch.Tensor,
                wanted: Optional[tuple[Optional[int], str]] = None, heard: Optional[list] = None
                ) -> tuple[Optional[list[float]], list[int], Optional[list]]:
    """(the critic's scores or None, the candidates that go on to the fine stage, the key heard in each or
    None): the best one where the critic ranks them, else all. ``wanted`` (``wanted_key``): a candidate
    heard in it (``keys_heard``; a continuation's after its opening) goes before any other, the critic
    ranking within each group; the key lock cannot change a mode. ``heard``: the keys already heard in
    the first candidates (``pipeline._another_batch``)."""
    B = coarse_tokens.shape[0]
    if not ranks_coarse(pipe, B):
        return None, list(range(B)), None
    scores = rank(pipe, conditioning, coarse_tokens).tolist()
    heard = list(heard or [])
    if wanted is not None:
        start = 0 if conditioning.opening is None else conditioning.opening.coarse.shape[-1]
        heard += keys_heard(pipe, coarse_tokens[len(heard):], start)
    else:
        heard += [None] * (B - len(heard))
    return scores, [max(range(B), key=lambda b: (wanted is not None and heard_in(heard[b], wanted), scores[b]))], heard


def key_words(wanted: tuple[Optional[int], str]) -> str:
    """'minor' for a mode alone, 'A minor' for a key (``wanted_key``)."""
    return wanted[1] if wanted[0] is None else key_name(key_token(*wanted))


def missed_key(pick: tuple, wanted: Optional[tuple[Optional[int], str]]) -> bool:
    """Whether ``critic_pass``'s ``pick`` found no candidate heard in the ``wanted`` key."""
    _, kept, heard = pick
    return wanted is not None and heard is not None and not heard_in(heard[kept[0]], wanted)


def choose(kept: list[int], critic_scores: Optional[list[float]], mulan_scores: list[float]) -> int:
    """The one candidate a generation returns: the one the critic kept, else (every candidate was
    finished) the best MuLan score (the first on a tie)."""
    if critic_scores:
        return kept[0]
    return kept[max(range(len(kept)), key=mulan_scores.__getitem__)]


def output(pipe, request: GenerationRequest, cond: Conditioning, semantic, coarse, fine, audio, kept: list[int],
           critic_scores: Optional[list[float]], mulan_scores: list[float], timings: dict[str, float]) -> MusicLMOutput:
    """One prompt's output, one shape on every route (see ``MusicLMOutput``): its rows of each stage
    (``semantic`` / ``coarse`` of every candidate, ``fine`` / ``audio`` of the ``kept`` ones)."""
    chosen = choose(kept, critic_scores, mulan_scores)
    B, k = semantic.shape[0], kept.index(chosen)
    mulan = cond.mulan_tokens.cpu()[None].expand(B, -1, -1)  # [B, segments, 12]
    candidates = TokenStreams(mulan[:, 0] if mulan.shape[1] == 1 else mulan,
                              None if cond.melody_tokens is None else cond.melody_tokens.cpu().expand(B, -1),
                              semantic.cpu(), coarse.cpu(), None)
    tokens = candidates.select(chosen)
    tokens.fine = fine[k: k + 1].cpu()
    clip, notices, lock = audio[k].float().cpu(), list(cond.notices), None
    named_key = keylock.asked_key(cond.prompts[0], request.key, cond.key_tokens) \
        if request.key_lock and cond.opening is None else None
    if named_key is not None:  # the key lock: onto the named key, its tokens re-read from the moved audio
        moved, lock = keylock.lock_key(clip.numpy(), pipe.sample_rate, *named_key)
        if (notice := lock.notice()) is not None:  # moved, or a move heard in another key undone
            notices.append(notice)
        if lock.semitones:
            clip = torch.from_numpy(moved)
            again = pipe.tokenize_audio(clip, pipe.sample_rate)
            tokens.semantic, tokens.coarse, tokens.fine = again.semantic, again.coarse, again.fine
    by = "critic" if critic_scores else ("mulan" if B > 1 else "only candidate")
    return MusicLMOutput(audio=clip, sample_rate=pipe.sample_rate, tokens=tokens,
                         candidates=candidates, chosen=chosen, scores=critic_scores or mulan_scores, chosen_by=by,
                         mulan_score=mulan_scores[k], timings=timings, notices=notices, seed=request.seed,
                         asked=pipe.asked(cond), conditioning=dataclasses.replace(cond, opening=None), key_lock=lock)
