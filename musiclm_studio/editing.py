"""Editing what was made: variations, repaint and extend, on an output's own tokens (no re-encoding).

MusicLM's hierarchy is the editing surface: the semantic tokens hold the composition (melody,
rhythm, structure), the acoustic tokens the sound. Every edit starts from a ``MusicLMOutput``
(what ``pipe(...)`` returned, or ``output_io.load_output``), checks its arguments with
``pipe.check_inputs`` like any generation, and returns a new ``MusicLMOutput`` that can be edited
again.

- ``vary(keep="semantic")``: the semantic tokens are kept and the coarse and fine stages
  re-sampled, under the same prompt or another one (``VARY_CANDIDATES`` candidates under another,
  and the clip's own prompt as the negative prompt unless one is given: ``away_from``);
  ``keep="coarse"`` keeps the coarse tokens and re-samples the fine ones only (a micro-variation).
  The kept tokens are the original's, bit for bit.
- ``repaint(start_s, end_s)``: the tokens before the region are the prefix, the region is
  re-sampled at every stage (under the same or another prompt), and the acoustic stages run on past
  the region, hearing the original's semantic tokens there (the right context), so the new sound
  already plays the original's composition when the audio crossfades back to the original. The
  seam sits on one of the first ``seams.SEAM_BEATS`` beats at or after ``end_s`` (of the LMs' beat grid,
  else of the beats librosa tracks in the original; on ``end_s`` where there are none): the one
  where the splice's loudness steps least (RMS over ``SEAM_WINDOW_S`` either side of its fade). It
  fades over ``crossfade_s``; a second fade of ``crossfade_s`` ends at the region's start. Every
  other sample is the original's, copied. ``out.edit`` says where the new audio starts and ends.
- ``extend(seconds)``: the clip's tokens are the prompt of all three LMs, which continue them for
  ``seconds`` more (under the same or another prompt); the original audio is kept as it is and the
  new audio follows it.

A new prompt changes what MuLan (and, for LMs that hear them, the critic's attributes) say over
the edited span; the beat grid and the key stay those of the music around it, since the kept
tokens play them. Candidates are ranked over the edited span only, as a generation ranks them: by
the attribute critic, else by MuLan's score of the span (``out.mulan_score`` is the kept one's); a repaint
keeps, of the critic's best ``seams.START_CANDIDATES``, the one whose new audio steps least in loudness at
the region's start (``seams.start_steps``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Optional

import torch

from . import candidates
from .conditioning.resolver import steered
from .outputs import Conditioning, MusicLMOutput
from .seams import SEAM_WINDOW_S, START_CANDIDATES, quietest_seam, seam_frames, splice, start_steps
from .streaming import decoder_lookahead

if TYPE_CHECKING:
    from .pipeline import MusicLMPipeline

KEEPS = ("semantic", "coarse")
CROSSFADE_S = 0.1  # the seams' fade length
MIN_REGION_S = 0.5  # the shortest region a repaint re-samples (the shortest clip a generation makes)
VARY_CANDIDATES = 8
"""Candidates a variation under a new prompt makes by default (the critic keeps one): the new lead
instrument shows in fewer candidates than in a generation (docs/experiments/editing.md: 8 / 20 as asked
with 4, 12 / 20 with 8; 16, past the API's cap, gained nothing over 8 in session 31)."""
FINE_CONTEXT_S = 1.0
"""The kept fine tokens an edit's fine stage hears before the new ones (not the pipeline's ``overlap_s``): the
fine LM reads the new frames' coarse tokens and barely the older fine ones (its likelihood with 1 s against
5 s: docs/experiments/editing.md), while each of its eight passes costs the whole window."""

# the sampling keyword arguments every edit passes on to ``pipe.check_inputs``
SAMPLING_KEYS = ("temperature", "top_k", "top_p", "guidance_scale", "seed", "generator", "num_candidates",
                 "negative_prompt")


# ---- checks and conditioning -------------------------------------------------------------
def check_source(pipe: "MusicLMPipeline", out) -> Conditioning:
    """The conditioning an output was made with (on the pipeline's device), after checking that ``out``
    is a pipeline output with every token stream; ``ValueError`` saying what to pass otherwise."""
    if not isinstance(out, MusicLMOutput):
        raise ValueError(f"Edits take what the pipeline returned (a MusicLMOutput), got {type(out).__name__}: "
                         "pass pipe(...)'s result, or load a saved one with musiclm_studio.output_io.load_output(path).")
    t = out.tokens
    if any(x is None for x in (t.semantic, t.coarse, t.fine)) or out.conditioning is None:
        raise ValueError("This output lacks its token streams or conditioning (a MusicLMOutput from pipe(...) or "
                         "load_output has them): edits work on tokens, not on audio.")
    ratio = pipe.config.coarse_lm.frame_rate / pipe.config.semantic_tokenizer.frame_rate
    if t.coarse.shape[-1] != round(t.semantic.shape[-1] * ratio) or t.fine.shape[-1] != t.coarse.shape[-1] \
            or out.audio.numel() != t.coarse.shape[-1] * pipe.config.codec.hop_length:
        raise ValueError("This output's token streams do not fit each other or its audio: was it made by another "
                         "pipeline? Edit it with the pipeline that made it.")
    return _to(out.conditioning, pipe.device)


def _to(cond: Conditioning, device: torch.device) -> Conditioning:
    move = {f.name: getattr(cond, f.name).to(device) for f in dataclasses.fields(cond)
            if torch.is_tensor(getattr(cond, f.name))}
    return dataclasses.replace(cond, **move)


def check_edit(pipe: "MusicLMPipeline", out, prompt: Optional[str], duration_s: float, sampling: dict):
    """(the source's conditioning, the checked request): ``prompt`` (None: the source's own) and the
    sampling arguments go through ``pipe.check_inputs`` as any generation's do."""
    source = check_source(pipe, out)
    if prompt is not None and not isinstance(prompt, str):
        raise ValueError(f"An edit's prompt must be text (or None to keep the clip's own), got {prompt!r}.")
    text = prompt if prompt is not None else source.prompts[0]
    request = pipe.check_inputs(text, duration_s=duration_s, **sampling)
    return source, request


def splice_conditioning(source: Conditioning, new: Conditioning, start_s: float, end_s: float,
                        total_s: float) -> Conditioning:
    """``source``'s segments with ``new``'s prompt over [start_s, end_s): a story of the source's
    segments before, the new prompt, the source's after. The new segment keeps the beat grid's tempo
    and the key of the source segment it starts in."""
    story = source.story(total_s)
    ends = [sum(s for _, s in story[: i + 1]) for i in range(len(story))]
    pieces = []  # (source segment index or -1 for the new prompt, seconds)
    for i, end in enumerate(ends):
        begin = end - story[i][1]
        before = min(end, start_s) - begin
        if before > 1e-9:
            pieces.append((i, before))
        if begin <= start_s < end or (i == len(ends) - 1 and start_s >= end):
            pieces.append((-1, end_s - start_s))
            at = i
        after = end - max(begin, end_s)
        if after > 1e-9:
            pieces.append((i, after))
    rows = [at if i < 0 else i for i, _ in pieces]

    def pick(tensor_source, tensor_new):
        if tensor_source is None or tensor_new is None:
            return tensor_source
        return torch.stack([tensor_new[0] if i < 0 else tensor_source[i] for i, _ in pieces])

    return dataclasses.replace(
        source, prompts=[new.prompts[0] if i < 0 else source.prompts[i] for i, _ in pieces],
        seconds=[s for _, s in pieces], text_embeddings=pick(source.text_embeddings, new.text_embeddings),
        mulan_tokens=pick(source.mulan_tokens, new.mulan_tokens), text_features=pick(source.text_features, new.text_features),
        attribute_tokens=pick(source.attribute_tokens, new.attribute_tokens),
        tempo_bpm=None if source.tempo_bpm is None else [source.tempo_bpm[r] for r in rows],
        key_tokens=None if source.key_tokens is None else [source.key_tokens[r] for r in rows],
        notices=list(dict.fromkeys(source.notices + new.notices)), duration_s=total_s, **negative_of(new))


def negative_of(cond: Optional[Conditioning]) -> dict:
    """A conditioning's negative prompt (its MuLan tokens, sentence features and named attributes), as
    ``dataclasses.replace`` arguments; None: no negative prompt."""
    return {"negative_mulan_tokens": None if cond is None else cond.negative_mulan_tokens,
            "negative_text_features": None if cond is None else cond.negative_text_features,
            "negative_text_embeddings": None if cond is None else cond.negative_text_embeddings,
            "negative_attributes": () if cond is None else cond.negative_attributes}


def edit_conditioning(pipe, source: Conditioning, request, prompt: Optional[str], start_s: float, end_s: float,
                      total_s: float) -> Conditioning:
    """The conditioning of an edit: the source's, with a new prompt spliced over [start_s, end_s) when
    one is given, and the request's negative prompt (which every segment's MuLan tokens move away from)."""
    if prompt is None:
        new = None if request.negative_prompt is None else pipe.resolve_conditioning(request)
        cond = dataclasses.replace(source, duration_s=total_s, **negative_of(new))
    else:
        cond = splice_conditioning(source, pipe.resolve_conditioning(request), start_s, end_s, total_s)
    return steered(pipe.components.mulan, cond)


def one_segment(cond: Conditioning, index: int) -> Conditioning:
    """Story segment ``index`` of a conditioning alone (for ranking an edited span against its prompt)."""
    take = lambda t: None if t is None else t[index: index + 1]  # noqa: E731
    return dataclasses.replace(
        cond, prompts=[cond.prompts[index]], seconds=[None], text_embeddings=take(cond.text_embeddings),
        mulan_tokens=take(cond.mulan_tokens), text_features=take(cond.text_features),
        attribute_tokens=take(cond.attribute_tokens),
        tempo_bpm=None if cond.tempo_bpm is None else [cond.tempo_bpm[index]],
        key_tokens=None if cond.key_tokens is None else [cond.key_tokens[index]])


def segment_at(cond: Conditioning, time_s: float, total_s: float) -> int:
    """The index of the story segment playing at ``time_s``."""
    start = 0.0
    for i, (_, seconds) in enumerate(cond.story(total_s)):
        if time_s < start + seconds - 1e-9:
            return i
        start += seconds
    return len(cond.prompts) - 1


# ---- the acoustic stages, ranked over a span --------------------------------------------------
def acoustic(pipe, cond: Conditioning, semantic: torch.Tensor, request, callback, timer, *,
             coarse_prompt: Optional[torch.Tensor] = None, fine_prompt: Optional[torch.Tensor] = None,
             coarse_frames: Optional[int] = None, rank: Optional[tuple[Conditioning, int, int]] = None,
             join: bool = False, wanted: Optional[tuple[int, str]] = None):
    """Coarse tokens for every candidate, the critic's pick over the span ``rank`` = (its
    conditioning, first frame, end frame; default: ``cond`` over every frame), fine tokens for the
    kept one: (coarse [B, 4, T], kept, critic
    scores or None, fine [K, 8, T]). ``coarse_frames``: stop the coarse stage there (default: all).
    ``join``: of the critic's best ``seams.START_CANDIDATES``, the one whose new audio steps least in
    loudness at the span's first frame (``seams.start_steps``) is kept. ``wanted``: a key (tonic, mode) a
    candidate heard in over the span goes first in (``candidates.critic_pass``)."""
    B, sampling = semantic.shape[0], request.sampling
    expand = lambda t: None if t is None else t.to(pipe.device).expand(B, *t.shape[1:])  # noqa: E731
    if coarse_frames is not None:
        semantic = semantic[:, : math.ceil(coarse_frames * pipe.config.semantic_tokenizer.frame_rate
                                           / pipe.config.coarse_lm.frame_rate)]
    with timer("coarse"):
        coarse = pipe.generate_coarse(cond, semantic, prompt_tokens=expand(coarse_prompt), sampling=sampling,
                                      callback=callback)
        coarse = coarse[..., :coarse_frames] if coarse_frames is not None else coarse
    with timer("critic"):
        span_cond, first, last = rank or (cond, 0, None)
        scores, kept, _ = candidates.critic_pass(pipe, span_cond, coarse[..., first:last], wanted)
        if join and scores is not None and first > 0:  # of the critic's best few, the one that joins best
            best = sorted(range(B), key=lambda b: -scores[b])[:START_CANDIDATES]
            steps = start_steps(pipe, coarse[best], first, round(SEAM_WINDOW_S * pipe.sample_rate))
            kept = [best[min(range(len(best)), key=steps.__getitem__)]]
    with timer("fine"):
        fine = fine_after(pipe, coarse[kept], fine_prompt, sampling, callback)
    return coarse, kept, scores, fine


def fine_after(pipe, coarse: torch.Tensor, prompt: Optional[torch.Tensor], sampling, callback) -> torch.Tensor:
    """Fine tokens [K, 8, T] for coarse [K, 4, T]: the kept ``prompt`` [1, 8, Tp] (None: none) as the first
    Tp frames, the new ones sampled hearing its last ``FINE_CONTEXT_S``."""
    if prompt is None:
        return pipe.generate_fine(coarse, sampling=sampling, callback=callback)
    prompt = prompt.to(pipe.device).expand(coarse.shape[0], -1, -1)
    first = max(0, prompt.shape[-1] - round(FINE_CONTEXT_S * pipe.config.fine_lm.frame_rate))  # first frame heard
    older = prompt[..., :first]

    def whole(event):  # progress and tokens over the whole clip, as the other stages report them
        tokens = None if event.tokens is None else torch.cat([older.to(event.tokens.device), event.tokens], -1)
        callback(dataclasses.replace(event, step=event.step + first, total=event.total + first, tokens=tokens))

    new = pipe.generate_fine(coarse[..., first:], prompt_tokens=prompt[..., first:], sampling=sampling,
                             callback=None if callback is None else whole)
    return torch.cat([older, new], -1)


def finish(pipe, request, cond: Conditioning, semantic, coarse, fine, audio, kept, scores, score_prompt: str,
           timer, clock: float, notice: str, edit: dict) -> MusicLMOutput:
    """The edit's ``MusicLMOutput`` (``candidates.output``), with ``edit`` (what it did and where the new audio
    lies) as its ``edit``; MuLan scores the new audio alone against ``score_prompt`` (it embeds a long clip
    window by window: the whole clip's score would cost more than the edit, docs/experiments/editing.md)."""
    span = slice(round(edit["start_s"] * pipe.sample_rate), round(edit["end_s"] * pipe.sample_rate))
    mulan_scores = pipe.score(score_prompt, audio[:, span]).tolist()
    timer["total"] = time.perf_counter() - clock
    out = candidates.output(pipe, request, cond, semantic, coarse, fine, audio, kept, scores, mulan_scores, dict(timer))
    out.notices, out.edit = [notice] + out.notices, edit
    return out


# ---- the edits ---------------------------------------------------------------------------
def vary(pipe, out: MusicLMOutput, keep: str = "semantic", prompt: Optional[str] = None, callback=None,
         **sampling) -> MusicLMOutput:
    """Keep ``out``'s semantic tokens (or coarse tokens) and re-sample the stages after them."""
    from .outputs import StageTimer

    source = check_source(pipe, out)
    if keep not in KEEPS:
        raise ValueError(f"keep must be one of {KEEPS} (the stream to keep), got {keep!r}.")
    if keep == "coarse":
        if prompt is not None:
            raise ValueError("keep='coarse' re-samples only the fine tokens, which do not hear the prompt: leave the "
                             "prompt out, or keep='semantic' to change the sound under a new prompt.")
        sampling = {**sampling, "num_candidates": 1}  # the fine stage is not ranked
    elif prompt is not None and sampling.get("num_candidates") is None and pipe.components.critic is not None:
        # the critic picks the new sound of VARY_CANDIDATES
        sampling = {**sampling, "num_candidates": VARY_CANDIDATES}
    old = away_from(source, prompt, sampling) if keep == "semantic" else None
    if old is not None:
        sampling = {**sampling, "negative_prompt": old}
    source, request = check_edit(pipe, out, prompt, out.duration_s, sampling)
    timer, clock, total_s = StageTimer(), time.perf_counter(), out.duration_s
    with timer("conditioning"):
        cond = edit_conditioning(pipe, source, request, prompt, 0.0, total_s, total_s)
        if old is not None:  # the critic steers off what the new prompt changes, not off what both ask
            cond = dataclasses.replace(cond, negative_attributes=changed_attributes(pipe, cond))
    B = request.num_candidates
    semantic = out.tokens.semantic.to(pipe.device).expand(B, -1)
    if keep == "semantic":
        coarse, kept, scores, fine = acoustic(pipe, cond, semantic, request, callback, timer,
                                              rank=(cond, 0, out.tokens.coarse.shape[-1]))
    else:
        coarse, kept, scores = out.tokens.coarse.to(pipe.device), [0], None
        with timer("fine"):
            fine = pipe.generate_fine(coarse, sampling=request.sampling, callback=callback)
    with timer("decode"):
        audio = pipe.decode(coarse[kept], fine)
    notice = (f"Variation keeping the {keep} tokens" + (f", under '{prompt}'" if prompt else "")
              + (f", moving away from '{old}'." if old is not None else "."))
    return finish(pipe, request, cond, semantic, coarse, fine, audio, kept, scores, prompt or source.prompts[0],
                  timer, clock, notice, {"edit": "vary", "keep": keep, "start_s": 0.0, "end_s": total_s})


def away_from(source: Conditioning, prompt: Optional[str], sampling: dict) -> Optional[str]:
    """The negative prompt a variation under a new ``prompt`` takes by default: the clip's own prompt, so
    the new sound is steered away from the old one as well as towards the new (more variations play the
    asked lead family: docs/experiments/editing.md, session 31). None where the caller gave a negative
    prompt (``""``: none at all), where there is no new prompt or it is the old one, or for a story
    (several prompts)."""
    if prompt is None or sampling.get("negative_prompt") is not None or len(set(source.prompts)) != 1:
        return None
    old = source.prompts[0]
    return old if old.strip() and old.strip() != prompt.strip() else None


def changed_attributes(pipe, cond: Conditioning) -> tuple[str, ...]:
    """Of the attributes the negative prompt names (``cond.negative_attributes``), those the attribute
    reader reads another value of in the prompt: a variation from "a jazz piano trio" to "a blues piano"
    avoids nothing of the piano it still asks for."""
    reader = pipe.components.attribute_reader
    if reader is None or not cond.negative_attributes:
        return ()
    asked = reader.asked(cond.text_features[0].to(pipe.device))
    avoid = reader.asked(cond.negative_text_features[0].to(pipe.device))
    likeliest = lambda reading, name: int(reading[name][: reader.sizes[name]].argmax())  # noqa: E731
    return tuple(name for name in cond.negative_attributes if likeliest(asked, name) != likeliest(avoid, name))


def check_region(out: MusicLMOutput, start_s, end_s) -> tuple[float, float]:
    try:
        start_s, end_s = float(start_s), float(end_s)
    except (TypeError, ValueError):
        raise ValueError(f"start_s and end_s must be numbers of seconds, got {start_s!r} and {end_s!r}.") from None
    total = out.duration_s
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0 or end_s > total + 1e-6:
        raise ValueError(f"The region {start_s:g}-{end_s:g} s lies outside the clip (0-{total:g} s): pick "
                         "start_s and end_s within it.")
    if end_s - start_s < MIN_REGION_S:
        raise ValueError(f"The region {start_s:g}-{end_s:g} s is {'empty' if end_s <= start_s else 'too short'}: make "
                         f"it at least {MIN_REGION_S:g} s long (end_s > start_s).")
    return start_s, min(end_s, total)


def repaint(pipe, out: MusicLMOutput, start_s: float, end_s: float, prompt: Optional[str] = None,
            crossfade_s: float = CROSSFADE_S, callback=None, **sampling) -> MusicLMOutput:
    """Re-sample [start_s, end_s) of ``out`` (see the module docstring); the rest of the audio is kept."""
    from .outputs import StageTimer

    check_source(pipe, out)
    start_s, end_s = check_region(out, start_s, end_s)
    if not (isinstance(crossfade_s, (int, float)) and 0 <= crossfade_s <= 1.0):
        raise ValueError(f"crossfade_s must be between 0 and 1 s, got {crossfade_s!r}.")
    source, request = check_edit(pipe, out, prompt, end_s - start_s, sampling)
    timer, clock, total_s = StageTimer(), time.perf_counter(), out.duration_s
    t, c = out.tokens, pipe.config
    hop, ratio = c.codec.hop_length, round(c.coarse_lm.frame_rate / c.semantic_tokenizer.frame_rate)
    Ts, Ta = t.semantic.shape[-1], t.coarse.shape[-1]
    with timer("conditioning"):
        cond = edit_conditioning(pipe, source, request, prompt, start_s, end_s, total_s)
    # 1. the region in frames: it starts on a semantic frame; the seam is the first beat at or after its end
    s_sem = int(start_s * c.semantic_tokenizer.frame_rate)
    a_ac, e_ac = s_sem * ratio, min(Ta, math.ceil(end_s * c.coarse_lm.frame_rate))
    xf = round(crossfade_s * c.coarse_lm.frame_rate)
    seams = seam_frames(pipe, cond, end_s, Ta, xf, out.audio)
    seam = seams[0]  # the first that may be the seam: the region's semantic tokens end there
    tail = seam < Ta  # the original resumes after the region
    e_sem = min(Ts, math.ceil(seam / ratio))
    lookahead = -(-decoder_lookahead(pipe) // hop)
    stop = min(Ta, seams[-1] + xf + lookahead) if tail else Ta  # the acoustic stages run on into the right context
    B = request.num_candidates
    # 2. semantic tokens: the prefix kept, the region re-sampled, the original's after it (the right context)
    with timer("semantic"):
        region = pipe.generate_semantic(cond, e_sem / c.semantic_tokenizer.frame_rate, batch_size=B,
                                        prompt_tokens=t.semantic[:, :s_sem].to(pipe.device).expand(B, -1)
                                        if s_sem else None, sampling=request.sampling, callback=callback)
    semantic = torch.cat([region, t.semantic[:, e_sem:].to(pipe.device).expand(B, -1)], -1)
    # 3-5. acoustic stages from the kept prefix, ranked over the region, into the right context
    index = segment_at(cond, (start_s + end_s) / 2, total_s)
    coarse, kept, scores, fine = acoustic(
        pipe, cond, semantic, request, callback, timer, coarse_prompt=t.coarse[..., :a_ac] if a_ac else None,
        fine_prompt=t.fine[..., :a_ac] if a_ac else None, coarse_frames=stop,
        rank=(one_segment(cond, index), a_ac, seam), join=True)
    # 6. decode, then splice: the original, a fade into the new audio before the region, the new audio,
    # a fade back on the seam, the original
    with timer("decode"):
        new = pipe.decode(coarse[kept], fine)
        original = out.audio.to(new.device, new.dtype).expand(len(kept), -1)
        if tail:  # of the seams on offer, the one whose loudness steps least
            seam, audio = quietest_seam(original, new, a_ac * hop, [f * hop for f in seams], xf * hop,
                                        round(SEAM_WINDOW_S * pipe.sample_rate))
            seam //= hop
        else:
            audio = splice(original.clone(), new, a_ac * hop, None, xf * hop)
    coarse = torch.cat([coarse[..., :seam], t.coarse[..., seam:].to(pipe.device).expand(B, -1, -1)], -1)
    fine = torch.cat([fine[..., :seam], t.fine[..., seam:].to(pipe.device).expand(len(kept), -1, -1)], -1)
    where = f"{a_ac / c.coarse_lm.frame_rate:.2f}-{seam / c.coarse_lm.frame_rate:.2f} s"
    notice = (f"Repainted {where}" + (f" under '{prompt}'" if prompt else "")
              + (f"; back to the original on {'a beat' if seam != e_ac else 'the region end'} with a "
                 f"{crossfade_s:g}-s crossfade." if tail else "."))
    rate = c.coarse_lm.frame_rate
    return finish(pipe, request, cond, semantic, coarse, fine, audio, kept, scores, prompt or cond.prompts[index],
                  timer, clock, notice, {"edit": "repaint", "start_s": a_ac / rate, "end_s": seam / rate if tail else
                                         total_s, "fade_s": xf / rate})


def extend(pipe, out: MusicLMOutput, seconds: float, prompt: Optional[str] = None, callback=None,
           **sampling) -> MusicLMOutput:
    """Continue ``out`` for ``seconds`` (to whole semantic frames) from its own tokens; its audio is kept
    as the first part. Where a key stands out in it, a candidate whose new part is heard in that key goes
    first (the key lock's pick, as for a continuation; ``key_lock=False`` leaves the pick to the critic)."""
    from .outputs import StageTimer

    check_source(pipe, out)
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"seconds must be a number, got {seconds!r}.") from None
    cap, shortest = pipe.config.max_duration_s, MIN_REGION_S
    if not math.isfinite(seconds) or seconds < shortest:
        raise ValueError(f"seconds (how much to add) must be at least {shortest:g}, got {seconds!r}.")
    if out.duration_s + seconds > cap + 1e-6:
        raise ValueError(f"The clip ({out.duration_s:g} s) plus {seconds:g} s passes the cap of {cap:g} s: extend "
                         f"by at most {max(cap - out.duration_s, 0):g} s.")
    source, request = check_edit(pipe, out, prompt, seconds, sampling)
    timer, clock, t = StageTimer(), time.perf_counter(), out.tokens
    rate = pipe.config.semantic_tokenizer.frame_rate  # the new part lasts whole semantic frames (40 ms)
    L, total_s = out.duration_s, (t.semantic.shape[-1] + round(seconds * rate)) / rate
    with timer("conditioning"):
        cond = edit_conditioning(pipe, source, request, prompt, L, total_s, total_s)
    B, Ta = request.num_candidates, t.coarse.shape[-1]
    with timer("semantic"):
        semantic = pipe.generate_semantic(cond, total_s, batch_size=B, sampling=request.sampling, callback=callback,
                                          prompt_tokens=t.semantic.to(pipe.device).expand(B, -1))
    index = len(cond.prompts) - 1
    # the key it is in, kept: read only where candidates are picked (one candidate has no pick to make)
    wanted = candidates.clip_key(pipe, out.audio) if request.key_lock and candidates.ranks_coarse(pipe, B) else None
    coarse, kept, scores, fine = acoustic(pipe, cond, semantic, request, callback, timer, coarse_prompt=t.coarse,
                                          fine_prompt=t.fine, rank=(one_segment(cond, index), Ta, None),
                                          wanted=wanted)
    with timer("decode"):
        new = pipe.decode(coarse[kept], fine)
        audio = torch.cat([out.audio.to(new.device, new.dtype).expand(len(kept), -1), new[:, out.audio.numel():]], -1)
    notice = f"Extended by {seconds:g} s" + (f" under '{prompt}'." if prompt else ".")
    return finish(pipe, request, cond, semantic, coarse, fine, audio, kept, scores, prompt or cond.prompts[index],
                  timer, clock, notice,
                  {"edit": "extend", "start_s": out.duration_s, "end_s": audio.shape[-1] / pipe.sample_rate})
