"""The jam: endless music that continues its own tokens and follows controls moved while it plays.

``pipe.jam(prompt, chunk_s=2.0, seed=0)`` returns a ``JamSession``; each ``next_chunk()`` (or
each step of iterating it) returns the next ``chunk_s`` seconds of audio, for ever. Every chunk
runs the three LMs for the new frames only, with the last ``context_s`` seconds of their own
tokens as the prompt (the sliding window of long generation, ``windowing.generate_windowed``),
and decodes only the frames its samples need: the context, the memory and the time per chunk
stay flat however long the jam runs.

Joins are sample-exact: the codec decoder reads ``R`` frames on either side of a sample
(``streaming.decoder_lookahead``), so a chunk's samples are decoded with the ``R`` frames before them
and once the ``LOOKAHEAD_FRAMES`` frames after them exist, and the output level runs through one
``audio.CausalGain`` (the ``auto_gain`` of the whole jam, applied piece by piece). Every emitted sample
is final; the chunks, concatenated, are what decoding all the jam's tokens at once gives, to within
float noise (frames past the 20th ahead barely reach a sample: see ``LOOKAHEAD_FRAMES``).

``set(...)`` changes the prompt (or a weighted mix of up to 4 prompts, mixed in MuLan's
embedding space: ``conditioning.prompt_mix``), the tempo, the key, temperature, top-k and
guidance. A change is checked and resolved at once (a bad value raises ``ValueError`` and the
jam plays on as it was) and applies to every frame generated from the next chunk on; the first
``LOOKAHEAD_FRAMES`` (0.4 s) of the next chunk were already made for the decoder's look-ahead, so a
change is heard that far into the next chunk. A new tempo starts on the next bar line of the running
beat grid, whose phase runs on across the change (``BeatClock``). A new prompt or tempo cuts the
semantic and coarse LMs' context where it takes effect (``CHANGE_CONTEXT_S``): from there on they
continue only the music made since, so the change is not outweighed by seconds of the old music.

``first_chunk_s`` (default: ``chunk_s``) makes the first chunk shorter, so that a player can start
sooner, and the chunks after it ramp up, each ``RAMP`` (1.5) times the one before, to ``chunk_s``: a
player that starts on the first chunk keeps ahead when generation runs at up to 1 / ``RAMP`` (two
thirds) of real time (a chunk must be made while the audio before it plays; the app's Jam tab starts
with ``ui.jam_tab.FIRST_CHUNK_S``). The first chunk also makes the decoder's look-ahead, so it costs
its own length plus ``LOOKAHEAD_FRAMES``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections import deque
import time
from dataclasses import dataclass
from typing import Iterator, Mapping, Optional

import torch

from .audio import CausalGain
from .conditioning import resolver as resolving
from .conditioning.prompt_mix import reading_text
from .outputs import StageTimer, TokenStreams
from .sampling_args import DEFAULTS, SamplingArgs, check_limit
from .streaming import decoder_lookahead
from .vocab.beat_grid import phase_tokens
from .vocab.musical_key import NO_KEY, key_name, stated_key
from .windowing import Segment, generate_windowed

BEATS_PER_BAR = 4
CHANGE_CONTEXT_S = 0.0
CHANGE_STAGES = ("semantic", "coarse")
"""Where a new prompt or tempo takes effect (a prompt: the next chunk's first new frame; a tempo: its
bar line, where the chunk's generation is split), the semantic and coarse LMs' context is cut: they
read back no further than ``change_context_s`` seconds (default ``CHANGE_CONTEXT_S``: none, a fresh
start on the running beat grid) before that frame, until their context has slid past it (None: the
full context throughout). The coarse context is the one that matters: it holds the old sound and the
old groove, which the coarse LM continues whatever the semantic tokens and the beat grid say. Drums
heard within 2 chunks of a switch from a solo piano to a drum groove (``scripts/jam_control_checks.py``,
docs/jam.md): 3 / 10 jams with only the semantic context cut (to 1 s), 15 / 20 with both cut to 0.1 s
for two chunks, 16 / 20 with both cut to none for two chunks, 18 / 20 with the cut above (jams started
on the drum prompt show drums in their first 2 chunks in 8 / 10 by the same test). The first full bar
after a tempo change is at the new tempo in 0.73 of 60 changes with only a prompt change cutting, 0.82
with the tempo change cutting too (docs/jam.md)."""
RAMP = 1.5
"""Each chunk after a short first one is this many times the one before, up to ``chunk_s``."""
LOOKAHEAD_FRAMES = 20
"""Frames made past a chunk's end before it is emitted (at most the decoder's reach ``R``; the frames
before a chunk are always read in full). The shipped codec reaches 31 frames (0.62 s), but the last of
them hardly touch a sample: over 3 jams of 8 chunks the concatenated chunks differed from one decode of
all their tokens by at most 1.07e-6 of the peak with 20 frames ahead, 9.5e-7 with all 31 (the float
noise of decoding in windows), 1.2e-5 with 16. 11 frames fewer are 0.22 s less to make before the
first chunk can play (the first 0.25-s chunk: 0.19-0.28 s instead of 0.29-0.44 s, session 22)."""
FINE_CONTEXT_S = 1.0
"""The fine LM's context in a jam (at most ``context_s``): it reads its whole window both ways, 8
passes, so its cost grows with the window; on the shipped model a 2-s chunk's fine pass took 0.33 CPU
seconds with 5 s of context and 0.14 with 1 s (one thread)."""


@dataclass(frozen=True)
class JamSettings:
    """What the jam plays: ``prompt`` or ``prompts`` ({text: weight}, up to 4), ``bpm`` and ``key``
    (None: what the prompt asks), ``temperature`` / ``guidance_scale`` (one number or per stage;
    None: the defaults) and ``top_k``."""

    prompt: Optional[str] = None
    prompts: Optional[tuple[tuple[str, float], ...]] = None
    bpm: Optional[float] = None
    key: Optional[str] = None
    temperature: object = None
    top_k: Optional[int] = DEFAULTS["top_k"]
    guidance_scale: object = None

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["prompts"] = None if self.prompts is None else dict(self.prompts)
        return out


@dataclass
class JamChunk:
    """``chunk_s`` seconds of new audio [S] (float32) at ``sample_rate`` (less in the first chunks when
    the jam ramps up from ``first_chunk_s``), starting ``start_s`` into the jam.

    tokens: the prompt's MuLan tokens [1, 12] and the tokens this chunk generated (semantic [1, Ts],
        coarse [1, 4, Ta], fine [1, 8, Ta]); concatenated over chunks they are the jam's whole streams.
    elapsed_s / cpu_s: wall and CPU seconds this chunk took to make (headroom = elapsed_s / duration_s).
    settings: what this chunk's new frames were made with (``JamSettings.as_dict``), with the tempo
        (bpm) and key the LMs heard.
    """

    audio: torch.Tensor
    sample_rate: int
    start_s: float
    tokens: TokenStreams
    elapsed_s: float
    cpu_s: float
    index: int
    settings: dict
    timings: dict = dataclasses.field(default_factory=dict)  # wall seconds per stage of this chunk

    @property
    def duration_s(self) -> float:
        return self.audio.numel() / self.sample_rate


class BeatClock:
    """The jam's beat grid: beats elapsed before each acoustic frame, running on across tempo changes.

    Beat 0 falls on the jam's first frame and bars are ``BEATS_PER_BAR`` beats. ``retempo`` schedules
    a new tempo on the next bar line; until then the old tempo runs on, and the phase never jumps.
    """

    def __init__(self, frame_rate: float):
        self.frame_rate = frame_rate
        self.frame = 0  # the next frame to lay
        self.beats = 0.0  # beats elapsed before it (kept modulo a bar)
        self.bpm: Optional[float] = None  # None: no grid
        self.pending: Optional[tuple[int, Optional[float]]] = None  # (first frame, bpm) of a scheduled tempo
        self.changes: deque[tuple[int, Optional[float]]] = deque(maxlen=64)  # the latest (first frame, bpm) laid

    def retempo(self, bpm: Optional[float]) -> None:
        """Play ``bpm`` from the next bar line on (at once when no grid runs yet, or to stop the grid)."""
        if bpm == self.bpm:
            self.pending = None
        elif self.bpm is None or bpm is None:
            self.pending = (self.frame, bpm)
        else:
            to_bar = (-self.beats) % BEATS_PER_BAR  # beats left to the next bar line
            self.pending = (self.frame + math.ceil(to_bar * 60.0 * self.frame_rate / self.bpm - 1e-9), bpm)

    def advance(self, frames: int) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        """Lay the next ``frames``: (beats before each [frames] float64, grid on [frames] bool, bpm per frame)."""
        bpms = []
        for i in range(frames):
            if self.pending is not None and self.frame + i >= self.pending[0]:
                self.bpm, self.pending = self.pending[1], None
                self.changes.append((self.frame + i, self.bpm))
            bpms.append(self.bpm)
        per_frame = torch.tensor([(b or 0.0) / 60.0 / self.frame_rate for b in bpms], dtype=torch.float64)
        before = self.beats + torch.cumsum(per_frame, 0) - per_frame
        self.beats = float(self.beats + per_frame.sum()) % BEATS_PER_BAR
        self.frame += frames
        return before, torch.tensor([b is not None for b in bpms]), bpms


@dataclass
class _Plan:
    """A resolved jam setting: what the LMs hear and how they sample."""

    settings: JamSettings
    conditioning: object  # outputs.Conditioning of one segment
    sampling: SamplingArgs
    tempo: Optional[float]
    key_token: int


class JamSession:
    """An endless jam (see the module docstring): ``next_chunk()``, ``set(...)``, iteration, ``close()``."""

    def __init__(self, pipe, settings: JamSettings, *, chunk_s: float = 2.0, seed: int = 0,
                 context_s: Optional[float] = None, change_context_s: Optional[float] = CHANGE_CONTEXT_S,
                 first_chunk_s: Optional[float] = None):
        from .sampling_args import check_seed

        self.pipe = pipe
        self.chunk_s = check_limit("chunk_s", chunk_s)
        self.first_chunk_s = self.chunk_s if first_chunk_s is None else check_limit("first_chunk_s", first_chunk_s)
        if self.first_chunk_s > self.chunk_s:
            raise ValueError(f"first_chunk_s ({self.first_chunk_s:g}) must not pass chunk_s ({self.chunk_s:g}): it "
                             "shortens the first chunk so that playback starts sooner.")
        self.context_s = check_limit("context_s", pipe.config.overlap_s if context_s is None else context_s)
        self.change_context_s = None if change_context_s is None else check_limit("change_context_s", change_context_s)
        self.floor: Optional[int] = None  # the first acoustic frame CHANGE_STAGES may read (see CHANGE_CONTEXT_S)
        seed = check_seed(seed)
        self.seed = random.randrange(2**31) if seed is None else seed
        self.sample_rate = pipe.sample_rate
        self.generator = torch.Generator().manual_seed(self.seed)  # every token drawn
        self._tonic: Optional[int] = None
        c = pipe.config
        self.hop = c.codec.hop_length
        self.ratio = round(c.coarse_lm.frame_rate / c.semantic_lm.frame_rate)  # acoustic frames per semantic frame
        self.reach = decoder_lookahead(pipe) // self.hop  # frames on either side that can change a sample
        self.lookahead = min(self.reach, LOOKAHEAD_FRAMES)  # frames made past a chunk's end before it is emitted
        self.clock = BeatClock(c.coarse_lm.frame_rate)
        self._lock = threading.Lock()  # guards the pending plan (set() may come from another thread)
        self._busy = threading.Lock()  # one chunk at a time
        self._pending: Optional[_Plan] = None
        self._plan = self._accept(self.check_settings(settings))
        self.index, self.emitted, self.closed = 0, 0, False
        self._reset_streams()

    # ---- controls ---------------------------------------------------------------------------
    @property
    def settings(self) -> JamSettings:
        """The latest accepted settings (applied from the next chunk on when still pending)."""
        with self._lock:
            return (self._pending or self._plan).settings

    def set(self, **changes) -> JamSettings:
        """Change some of ``prompt``, ``prompts`` ({text: weight}), ``bpm``, ``key``, ``temperature``,
        ``top_k``, ``guidance_scale`` from the next chunk on (``bpm`` / ``key`` None: the prompt's).
        Raises ``ValueError`` on a bad value; the jam then keeps its previous settings."""
        settings = dataclasses.replace(self.settings, **self.normalise_changes(changes))
        plan = self.check_settings(settings)  # raises before anything changes
        with self._lock:
            self._pending = self._accept(plan)
        return settings

    @staticmethod
    def normalise_changes(changes: dict) -> dict:
        """``set``'s keyword arguments, checked by name; a new prompt replaces a mix and the reverse."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(JamSettings)}
        if unknown:
            raise ValueError(f"Unknown jam control(s) {sorted(unknown)}; use prompt, prompts, bpm, key, temperature, "
                             "top_k, guidance_scale.")
        changes = dict(changes)
        if changes.get("prompts") is not None:
            changes.setdefault("prompt", None)
            changes["prompts"] = _as_pairs(changes["prompts"])
        elif changes.get("prompt") is not None:
            changes.setdefault("prompts", None)
        return changes

    def _accept(self, plan: _Plan) -> _Plan:
        if plan.key_token != NO_KEY:  # later prompts that name no tonic keep this one
            self._tonic = plan.key_token % 12
        return plan

    def check_settings(self, settings: JamSettings) -> _Plan:
        """Check ``settings`` with the pipeline's one input check and resolve what the LMs would hear
        (MuLan tokens, attributes, tempo, key: cached until the next change)."""
        pipe = self.pipe
        if settings.prompts is not None and settings.prompt is not None:
            raise ValueError("Give the jam either a prompt or prompts={text: weight}, not both.")
        mix = {} if settings.prompts is None else {"prompts": dict(settings.prompts)}
        request = pipe.check_inputs(
            settings.prompt if settings.prompts is None else None, **mix, duration_s=self.chunk_s,
            temperature=settings.temperature, top_k=settings.top_k, guidance_scale=settings.guidance_scale,
            generator=self.generator, num_candidates=1, bpm=settings.bpm, key=settings.key)
        text = request.story[0][0]
        key = request.key
        stated = stated_key(reading_text(text))  # a mix: its heaviest part's words (prompt_mix)
        named_tonic = (key is not None and key[0] is not None) or stated[0] is not None
        if pipe.lms_hear("key") and not named_tonic and self._tonic is not None:  # the jam keeps its tonic
            key = (self._tonic, key[1] if key is not None else stated[1])
        tonic_draw = torch.Generator().manual_seed(self.seed)  # a key's tonic where nothing names one
        cond = resolving.encode(pipe, [(text, None)], bpm=request.bpm, key=key, generator=tonic_draw)
        key_token = cond.key_tokens[0] if cond.key_tokens else NO_KEY
        tempo = cond.tempo_bpm[0] if cond.tempo_bpm else None
        return _Plan(settings, cond, request.sampling, tempo, key_token)

    # ---- generation -------------------------------------------------------------------------
    def _reset_streams(self) -> None:
        Q = {s: getattr(self.pipe.config, f"{s}_lm").num_levels for s in ("semantic", "coarse", "fine")}
        empty = lambda q: torch.zeros(1, q, 0, dtype=torch.long, device=self.pipe.device)  # noqa: E731
        self.streams = {stage: empty(q) for stage, q in Q.items()}  # tails: semantic [1, 1, Ts], coarse / fine [1, Q, Ta]
        self.starts = {"semantic": 0, "acoustic": 0}  # absolute first frame of each tail
        self.history = {"beats": torch.zeros(0, dtype=torch.float64), "grid": torch.zeros(0, dtype=torch.bool),
                        "key": torch.zeros(0, dtype=torch.long)}  # per acoustic frame: what the LMs heard
        self.history_start = 0
        self.gain = CausalGain(self.sample_rate, self.pipe.config.output_level_db) \
            if self.pipe.config.output_level_db is not None else None

    def chunk_samples(self, index: int) -> int:
        """Samples in chunk ``index``: ``first_chunk_s``, growing ``RAMP``-fold per chunk up to ``chunk_s``."""
        return round(min(self.chunk_s, self.first_chunk_s * RAMP ** min(index, 64)) * self.sample_rate)

    @property
    def frames(self) -> int:
        """Acoustic frames generated so far (the jam's token clock)."""
        return self.starts["acoustic"] + self.streams["coarse"].shape[-1]

    def _aligned(self, lm, first: int, count: int) -> dict[str, torch.Tensor]:
        """The beat grid and key ``lm`` hears for its frames first..first+count-1 [1, count]."""
        step = self.ratio if lm is self.pipe.components.semantic_lm else 1
        index = torch.arange(first, first + count) * step - self.history_start
        out = {}
        if "beat" in lm.conditions:
            out["beat"] = phase_tokens(self.history["beats"][index], self.history["grid"][index])
        if "key" in lm.conditions:
            out["key"] = self.history["key"][index]
        return {name: tokens[None].to(self.pipe.device) for name, tokens in out.items()}

    def _continue(self, stage: str, lm, new: int, plan: _Plan, upstream: Optional[str] = None) -> torch.Tensor:
        """``new`` more frames of ``stage`` after its tail, with the last ``context_s`` seconds of the
        tail as the prompt; ``upstream`` names the stream it hears aligned (coarse: semantic, fine: coarse)."""
        tail, start = self.streams[stage], self._start(stage)
        seconds = min(self.context_s, FINE_CONTEXT_S) if stage == "fine" else self.context_s
        context = min(tail.shape[-1], round(seconds * lm.config.frame_rate), lm.config.max_frames // 2)
        if stage in CHANGE_STAGES and self.floor is not None:  # a change: none of the music before the cut
            per = self.ratio if stage == "semantic" else 1
            context = min(context, max(0, start + tail.shape[-1] - self.floor // per))
        context -= context % self.ratio if stage != "semantic" else 0  # keep the semantic stream in step
        first, total = start + tail.shape[-1] - context, context + new  # the window's frames (absolute)
        aligned = self._aligned(lm, first, total)
        if upstream is not None:  # its frames of this window
            per = self.ratio if upstream == "semantic" else 1
            offset = first // per - self._start(upstream)
            tokens = self.streams[upstream]
            aligned[upstream] = (tokens[:, 0] if upstream == "semantic" else tokens)[..., offset: offset + -(-total // per)]
        segments = (resolving.segments(plan.conditioning, lm.config.frame_rate, total, 1, lm)
                    if "mulan" in lm.conditions else [Segment(total, {})])  # the fine LM hears coarse tokens only
        out = generate_windowed(lm, total, segments=segments, aligned=aligned,
                                prompt=tail[..., tail.shape[-1] - context:] if context else None,
                                overlap=max(context, 1), **plan.sampling.for_stage(stage))
        return out[..., context:]

    def _start(self, stage: str) -> int:
        """The absolute first frame of ``stage``'s tail (semantic frames, else acoustic)."""
        return self.starts["semantic" if stage == "semantic" else "acoustic"]

    @torch.no_grad()
    def next_chunk(self) -> JamChunk:
        """Generate and return the next ``chunk_s`` seconds (see the module docstring)."""
        with self._busy:
            if self.closed:
                raise ValueError("This jam was closed; start a new one with pipe.jam(...).")
            clock, cpu = time.perf_counter(), time.process_time()
            with self._lock:  # 1. settings accepted since the last chunk take effect now
                if self._pending is not None:
                    if self._pending.conditioning.prompts != self._plan.conditioning.prompts:
                        self._cut(self.frames)
                    self._plan, self._pending = self._pending, None
                plan = self._plan
            self.clock.retempo(plan.tempo)
            # 2. the frames this chunk's samples need: up to its end plus the decoder's look-ahead
            end = self.emitted + self.chunk_samples(self.index)
            need = -(-(-(-end // self.hop) + self.lookahead) // self.ratio) * self.ratio
            new = need - self.frames
            first = self.frames
            before, grid, _ = self.clock.advance(new)
            self._extend_history(before, grid, plan.key_token, new)
            # a tempo taking effect in these frames: generate up to its bar line, cut, generate the rest
            bars = sorted({f - f % self.ratio for f, _ in self.clock.changes if first <= f < first + new and f > 0})
            timer = StageTimer()
            for start, stop in zip([first] + bars, bars + [first + new]):
                if start in bars:
                    self._cut(start)
                if stop > start:
                    self._generate(plan, stop - start, timer)
            made = {stage: self.streams[stage][..., -(new // self.ratio if stage == "semantic" else new):].cpu()
                    for stage in ("semantic", "coarse", "fine")}
            tokens = TokenStreams(mulan=plan.conditioning.mulan_tokens[:1].cpu(), semantic=made["semantic"][:, 0],
                                  coarse=made["coarse"], fine=made["fine"])
            with timer("decode"):
                audio = self._decode(end)
            self._trim(end)
            chunk = JamChunk(audio, self.sample_rate, self.emitted / self.sample_rate, tokens,
                             time.perf_counter() - clock, time.process_time() - cpu, self.index,
                             {**plan.settings.as_dict(), "bpm_heard": plan.tempo, "key_heard": key_name(plan.key_token)},
                             dict(timer))
            self.emitted, self.index = end, self.index + 1
            return chunk

    def _cut(self, frame: int) -> None:
        """From now on the semantic and coarse LMs read nothing from before ``change_context_s`` ahead of
        acoustic ``frame`` (a prompt or tempo change; see ``CHANGE_CONTEXT_S``)."""
        if self.change_context_s is not None:
            keep = round(self.change_context_s * self.pipe.config.coarse_lm.frame_rate)
            self.floor = max(0, (frame - keep) // self.ratio * self.ratio)

    def _extend_history(self, before, grid, key_token: int, new: int) -> None:
        self.history["beats"] = torch.cat([self.history["beats"], before])
        self.history["grid"] = torch.cat([self.history["grid"], grid])
        self.history["key"] = torch.cat([self.history["key"], torch.full((new,), key_token, dtype=torch.long)])

    def _generate(self, plan: _Plan, new: int, timer) -> None:
        """3-5. the three LMs continue their tails by ``new`` acoustic frames (``new / ratio`` semantic ones)."""
        c = self.pipe.components
        for stage, lm, count, upstream in (("semantic", c.semantic_lm, new // self.ratio, None),
                                           ("coarse", c.coarse_lm, new, "semantic"), ("fine", c.fine_lm, new, "coarse")):
            with timer(stage):
                self.streams[stage] = torch.cat([self.streams[stage], self._continue(stage, lm, count, plan, upstream)], -1)

    def _decode(self, end: int) -> torch.Tensor:
        """6. decode the frames around samples [emitted, end) and level them: audio [end - emitted]."""
        first = max(self.starts["acoustic"], self.emitted // self.hop - self.reach)
        offset = first - self.starts["acoustic"]
        codes = torch.cat([self.streams["coarse"], self.streams["fine"]], 1)[..., offset:]
        raw = self.pipe.components.codec.decode(codes)[0].float()
        audio = raw[self.emitted - first * self.hop: end - first * self.hop]
        if self.gain is not None:
            return self.gain(audio).cpu()
        return audio.clamp(-1.0, 1.0).cpu()  # the codec's own level (output_level_db None): clipped only

    def _trim(self, end: int) -> None:
        """7. keep only what later chunks read: the LMs' context and the decoder's window."""
        keep_from = min(self.frames - round(self.context_s * self.pipe.config.coarse_lm.frame_rate),
                        end // self.hop - self.reach)
        keep_from = max(self.starts["acoustic"], keep_from // self.ratio * self.ratio)
        drop = keep_from - self.starts["acoustic"]
        for stage in ("coarse", "fine"):
            self.streams[stage] = self.streams[stage][..., drop:]
        self.starts["acoustic"] = keep_from
        drop_semantic = keep_from // self.ratio - self.starts["semantic"]
        self.streams["semantic"] = self.streams["semantic"][..., drop_semantic:]
        self.starts["semantic"] = keep_from // self.ratio
        cut = keep_from - self.history_start
        self.history = {name: values[cut:] for name, values in self.history.items()}
        self.history_start = keep_from

    # ---- iteration and lifetime -------------------------------------------------------------
    def __iter__(self) -> Iterator[JamChunk]:
        while not self.closed:
            yield self.next_chunk()

    def close(self) -> None:
        """Stop the jam and free its tokens (a later ``next_chunk`` raises)."""
        with self._busy:
            self.closed = True
            self._reset_streams()

    def __enter__(self) -> "JamSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _as_pairs(prompts) -> tuple[tuple[str, float], ...]:
    if not isinstance(prompts, Mapping):
        raise ValueError("prompts must be a dict of prompt -> weight, e.g. {'jazz trio': 0.7, 'techno': 0.3}.")
    return tuple(prompts.items())


def start_jam(pipe, prompt: Optional[str] = None, *, prompts: Optional[Mapping[str, float]] = None,
              chunk_s: float = 2.0, seed: int = 0, bpm: Optional[float] = None, key: Optional[str] = None,
              temperature=None, top_k: Optional[int] = DEFAULTS["top_k"], guidance_scale=None,
              context_s: Optional[float] = None, change_context_s: Optional[float] = CHANGE_CONTEXT_S,
              first_chunk_s: Optional[float] = None) -> JamSession:
    """A new ``JamSession`` (what ``MusicLMPipeline.jam`` returns); every argument checked first."""
    settings = JamSettings(prompt, None if prompts is None else _as_pairs(prompts), bpm, key, temperature, top_k,
                           guidance_scale)
    return JamSession(pipe, settings, chunk_s=chunk_s, seed=seed, context_s=context_s,
                      change_context_s=change_context_s, first_chunk_s=first_chunk_s)


__all__ = ["JamSession", "JamChunk", "JamSettings", "BeatClock", "start_jam"]
