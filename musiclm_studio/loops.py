"""Loops for producers: a bar-aligned clip whose end joins its start, saved as a WAV that DAWs read the tempo of.

A loop is ``bars`` bars of ``beats_per_bar`` beats at ``bpm``, cut from a clip at a bar line
(``start_s``). Its first ``crossfade`` samples are an equal-power crossfade *from* the audio that
followed the loop's end in the clip *into* the loop's own start, so that playing end -> start is
the clip's own continuous audio across the wrap (no step at all), and the join is one short fade
starting on the downbeat (a beat boundary), from the next bar's downbeat into the first's. Where
the loop's last beat is louder or quieter than its first (a build, or the output level still
settling after the clip's start), a slow gain ramp across the loop evens them out, so the wrap
does not jump in loudness either (``level_match``).

``generate_loop`` (``pipe.loop``) makes one from a prompt: the shipped model's LMs hear a beat grid
that starts at the clip's first sample (``vocab.beat_grid``), so the pipeline is asked for the
bars at ``bpm`` (default: the tempo the prompt asks for, rounded to a whole bpm) and the loop is
cut on that grid from the first sample (``start_bar`` bars can be skipped first; that costs their
generation, and measured over 8 loops it joined no better, docs/midi_and_loops.md). ``loop_from``
turns any output or audio into a loop: on the grid the LMs were given where there was one, else on
the beats librosa finds. ``measure_seam`` compares the wrap with the inside of the loop (sample
step, loudness jump, spectral jump) and reads its tempo;
``Loop.save`` writes 16-bit PCM with the tempo in the file name, an ``acid`` chunk (tempo,
beats, metre), a ``smpl`` chunk (the loop points) and a ``LIST/INFO`` comment;
``read_loop_metadata`` reads them back.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from .analysis import estimate_tempo, tempo_agrees, to_mono_numpy
from .audio import AudioLike, append_wav_chunks, prepare_audio, read_wav_chunks, save_audio
from .sampling_args import check_bpm

if TYPE_CHECKING:
    from .outputs import MusicLMOutput
    from .pipeline import MusicLMPipeline

MAX_BARS = 64
MAX_RAMP_DB = 6.0  # the largest level difference between a loop's last beat and its first that level matching evens out
DEFAULT_CROSSFADE_BEATS = 0.25  # a sixteenth: long enough to hide the join, short enough not to blur the downbeat


@dataclass
class Loop:
    """A seamless, bar-aligned loop: ``audio`` [S] at ``sample_rate``, S = bars * beats_per_bar beats at ``bpm``.

    ``start_s``: where in the source clip it starts; ``crossfade_s``: the fade at its start;
    ``tempo_from``: "grid" (the beat grid the LMs played on), "given" or "librosa" (read from the
    audio); ``ramp_db``: the gain ramp level matching applied across it (0 at the start); ``output``: the generation it was cut from, where there is one."""

    audio: torch.Tensor
    sample_rate: int
    bpm: float
    bars: int
    beats_per_bar: int = 4
    start_s: float = 0.0
    crossfade_s: float = 0.0
    tempo_from: str = "given"
    ramp_db: float = 0.0
    prompt: Optional[str] = None
    seed: Optional[int] = None
    output: Optional["MusicLMOutput"] = field(default=None, repr=False)

    @property
    def beats(self) -> int:
        return self.bars * self.beats_per_bar

    @property
    def duration_s(self) -> float:
        return self.audio.numel() / self.sample_rate

    def filename(self, stem: str = "loop") -> str:
        """``{stem}_{bpm}bpm_{bars}bars_{beats_per_bar}-4.wav`` (the tempo a DAW user looks for first)."""
        return f"{stem}_{self.bpm:g}bpm_{self.bars}bars_{self.beats_per_bar}-4.wav"

    def save(self, path: str, stem: str = "loop") -> str:
        """Write the loop as WAV with its tempo in the name and the metadata; ``path`` is a ``.wav`` file or a
        folder (then ``filename(stem)`` inside it). Returns the file's path."""
        if not path.lower().endswith(".wav"):
            path = os.path.join(path, self.filename(stem))
        save_audio(path, self.audio, self.sample_rate)
        return append_wav_chunks(path, loop_chunks(self))

    def seam(self) -> "SeamReport":
        """``measure_seam`` of this loop at its tempo."""
        return measure_seam(self.audio, self.sample_rate, self.bpm, self.beats_per_bar)


# ---- arguments ----------------------------------------------------------------------------------
def check_loop(bars, beats_per_bar=4, crossfade_beats=DEFAULT_CROSSFADE_BEATS, start_bar=0) -> None:
    """Loop arguments of every entry point (``pipe.loop``, ``loop_from``, the CLI); ValueError saying what to do."""
    def whole(name, value, low, high):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}.")
    whole("bars", bars, 1, MAX_BARS)
    whole("beats_per_bar", beats_per_bar, 1, 12)
    whole("start_bar", start_bar, 0, MAX_BARS)
    if (isinstance(crossfade_beats, bool) or not isinstance(crossfade_beats, (int, float))
            or not 0.0 <= crossfade_beats <= 1.0 or not math.isfinite(crossfade_beats)):
        raise ValueError(f"crossfade_beats must be between 0 and 1 beat (default {DEFAULT_CROSSFADE_BEATS}), "
                         f"got {crossfade_beats!r}.")


def loop_seconds(bars: int, bpm: float, beats_per_bar: int = 4) -> float:
    """How long ``bars`` bars last at ``bpm``."""
    return bars * beats_per_bar * 60.0 / bpm


# ---- cutting ------------------------------------------------------------------------------------
def make_loop(audio: AudioLike, sample_rate: Optional[int], *, bpm: float, bars: int, beats_per_bar: int = 4,
              start_s: float = 0.0, crossfade_beats: float = DEFAULT_CROSSFADE_BEATS, level_match: bool = True,
              tempo_from: str = "given") -> Loop:
    """Cut ``bars`` bars at ``bpm`` from ``start_s`` (a bar line) and fold what follows into the start
    (see the module docstring). The clip must hold the loop plus its crossfade after ``start_s``.

    ``level_match``: where the last beat is louder or quieter than the first (a build, or the output
    level still settling), a slow gain ramp across the loop (linear in dB, at most ``MAX_RAMP_DB``)
    brings its end to its start's level, so the wrap does not jump in loudness; the audio folded into
    the start continues the ramp, so the wrap stays continuous sample by sample."""
    check_loop(bars, beats_per_bar, crossfade_beats)
    bpm = check_bpm(bpm)
    if isinstance(start_s, bool) or not isinstance(start_s, (int, float)) or not math.isfinite(start_s) \
            or start_s < 0:
        raise ValueError(f"start_s must be a time in seconds >= 0, got {start_s!r}.")
    wave = prepare_audio(audio, sample_rate, target_sample_rate=sample_rate or 24_000, name="audio")
    x, sr = wave.audio, wave.sample_rate
    n = round(loop_seconds(bars, bpm, beats_per_bar) * sr)
    fade, beat = round(crossfade_beats * 60.0 / bpm * sr), round(60.0 / bpm * sr)
    start = round(start_s * sr)
    if start + n + fade > x.numel():
        raise ValueError(f"A {bars}-bar loop at {bpm:g} bpm with its crossfade needs {(n + fade) / sr:.2f} s after "
                         f"{start_s:.2f} s; the clip has {max(0, x.numel() - start) / sr:.2f} s there. "
                         "Ask for fewer bars, a faster tempo or a longer clip.")
    part = x[start: start + n + fade].double()
    ramp_db = 0.0
    if level_match and n >= 2 * beat:  # first beat's level minus last beat's, in dB
        level = lambda a: 10 * math.log10(float(a.pow(2).mean()) + 1e-12)  # noqa: E731
        ramp_db = max(-MAX_RAMP_DB, min(MAX_RAMP_DB, level(part[:beat]) - level(part[n - beat: n])))
        part = part * 10 ** (ramp_db / 20 * torch.arange(n + fade, dtype=torch.float64) / n)
    out = part[:n].clone()
    if fade:
        t = (torch.arange(fade, dtype=torch.float64) + 0.5) / fade
        fade_in, fade_out = torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)  # equal power
        out[:fade] = part[:fade] * fade_in + part[n: n + fade] * fade_out
    return Loop(out.float(), sr, bpm, bars, beats_per_bar, start / sr, fade / sr, tempo_from, ramp_db=ramp_db)


def loop_from(source, bars: int = 4, *, sample_rate: Optional[int] = None, bpm: Optional[float] = None,
              beats_per_bar: int = 4, start_bar: Optional[int] = None,
              crossfade_beats: float = DEFAULT_CROSSFADE_BEATS, level_match: bool = True) -> Loop:
    """A loop from any ``MusicLMOutput`` (or audio with its ``sample_rate``).

    Where the LMs played on a beat grid (an output whose ``asked`` names one tempo), the loop is cut on
    it: bar lines every ``beats_per_bar`` beats from the first sample. Else the tempo (unless ``bpm``
    is given) and the first beat come from librosa's beat tracker. ``start_bar``: bars skipped first
    (default 1 where the clip is long enough, else 0)."""
    from .outputs import MusicLMOutput

    check_loop(bars, beats_per_bar, crossfade_beats, start_bar or 0)
    output = source if isinstance(source, MusicLMOutput) else None
    if output is not None:
        audio, sample_rate = output.audio, output.sample_rate
    else:
        prepared = prepare_audio(source, sample_rate, target_sample_rate=sample_rate or 24_000, name="audio")
        audio, sample_rate = prepared.audio, prepared.sample_rate
    grid = grid_tempo(output)
    origin, tempo_from = 0.0, "grid"
    if grid is None or (bpm is not None and abs(bpm - grid) > 1e-6):
        origin, found = first_beat(audio, sample_rate)
        tempo_from = "given" if bpm is not None else "librosa"
        bpm = bpm if bpm is not None else found
    else:
        bpm = grid
    bpm = check_bpm(bpm)
    if start_bar is None:  # skip the opening bar where the clip holds it and the loop
        need = origin + loop_seconds(1 + bars, bpm, beats_per_bar) + crossfade_beats * 60.0 / bpm
        start_bar = 1 if need <= audio.numel() / sample_rate else 0
    start_s = origin + loop_seconds(start_bar, bpm, beats_per_bar)
    loop = make_loop(audio, sample_rate, bpm=bpm, bars=bars, beats_per_bar=beats_per_bar, start_s=start_s,
                     crossfade_beats=crossfade_beats, level_match=level_match, tempo_from=tempo_from)
    if output is not None:
        loop.output, loop.seed = output, output.seed
    return loop


def grid_tempo(output: Optional["MusicLMOutput"]) -> Optional[float]:
    """The tempo of the beat grid an output's LMs played on (one segment, a grid laid), else None."""
    if output is None or len(output.asked) != 1:
        return None
    tempo = output.asked[0].get("tempo")
    return float(tempo) if tempo else None


def first_beat(audio, sample_rate: int) -> tuple[float, float]:
    """(time of the first beat in s, tempo in bpm) from librosa's beat tracker."""
    import librosa

    y = to_mono_numpy(audio)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sample_rate, hop_length=512, units="time")
    tempo = float(np.atleast_1d(tempo)[0])
    if tempo <= 0 or len(beats) == 0:
        raise ValueError("No beat was found in this clip, so it cannot be cut into bars: give bpm and use "
                         "make_loop(audio, sample_rate, bpm=..., bars=..., start_s=...).")
    return float(beats[0]), round(tempo)


def generate_loop(pipe: "MusicLMPipeline", prompt: str, *, bars: int = 4, bpm: Optional[float] = None,
                  beats_per_bar: int = 4, start_bar: int = 0, crossfade_beats: float = DEFAULT_CROSSFADE_BEATS,
                  level_match: bool = True, seed: Optional[int] = None, **kwargs) -> Loop:
    """Generate ``start_bar + bars`` bars (plus the crossfade) on a beat grid at ``bpm`` and cut the loop
    on it. ``bpm`` None: the tempo the prompt asks for (as the pipeline reads it), rounded. Other keyword
    arguments go to the pipeline's ``__call__`` (temperature, guidance_scale, num_candidates, key, ...)."""
    check_loop(bars, beats_per_bar, crossfade_beats, start_bar)
    if not isinstance(prompt, str):
        raise ValueError("A loop takes one text prompt (story mode changes the music, which a loop repeats).")
    if not pipe.lms_hear("beat"):
        raise ValueError("This pipeline's LMs hear no beat grid, so it cannot be asked for bars at a tempo: "
                         "generate a clip and cut it with loops.loop_from(output, bars), which finds the beat.")
    for name in ("duration_s", "continuation", "bpm"):
        if name in kwargs:
            raise ValueError(f"A loop sets {name} itself (from bars and bpm); leave {name} out.")
    request = pipe.check_inputs(prompt, duration_s=pipe.config.max_duration_s, bpm=bpm, seed=seed, **kwargs)
    if bpm is None:  # the tempo the prompt asks for, as the pipeline would lay its grid
        bpm = round(pipe.encode_conditioning(prompt).tempo_bpm[0])
    bpm = check_bpm(bpm)
    frame = 1.0 / pipe.config.semantic_tokenizer.frame_rate
    seconds = loop_seconds(start_bar + bars, bpm, beats_per_bar) + crossfade_beats * 60.0 / bpm
    duration = math.ceil(seconds / frame + 1) * frame  # whole semantic frames, one to spare
    if duration > pipe.config.max_duration_s:
        raise ValueError(f"{start_bar} + {bars} bars at {bpm:g} bpm need {duration:.1f} s of music, more than this "
                         f"pipeline's {pipe.config.max_duration_s:g} s: ask for fewer bars or a faster tempo.")
    seed = request.seed if "generator" not in kwargs else None
    out = pipe(prompt, duration_s=duration, bpm=bpm, seed=seed, **kwargs)
    loop = make_loop(out.audio, out.sample_rate, bpm=bpm, bars=bars, beats_per_bar=beats_per_bar,
                     start_s=loop_seconds(start_bar, bpm, beats_per_bar), crossfade_beats=crossfade_beats,
                     level_match=level_match, tempo_from="grid")
    loop.prompt, loop.seed, loop.output = prompt, out.seed, out
    return loop


# ---- measuring the seam -------------------------------------------------------------------------
@dataclass
class SeamReport:
    """The wrap (last sample -> first) against the loop's inside, at its beat lines.

    step_at_wrap / step_p99: |x[0] - x[-1]| and the 99th percentile of |x[t+1] - x[t]| inside (a click).
    level_jump_db: the RMS level change from the beat before the wrap to the beat after it (loudness);
    level_jump_db_inside: the same across every beat line inside the loop (median, max).
    spectral_jump: the RMS difference (dB over 40 mel bands) of the mean spectra of those two beats
    (timbre); spectral_jump_inside: the same across the beat lines inside (median, max).
    tempo_bpm: librosa's tempo of the loop played four times; tempo_agrees: within 8 % of the loop's
    bpm, half / double allowed (``analysis.tempo_agrees``)."""

    step_at_wrap: float
    step_p99: float
    level_jump_db: float
    level_jump_db_inside: tuple[float, float]
    spectral_jump: float
    spectral_jump_inside: tuple[float, float]
    tempo_bpm: float
    tempo_agrees: bool

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def measure_seam(audio, sample_rate: int, bpm: float, beats_per_bar: int = 4) -> SeamReport:
    """How the loop's wrap compares with its beat lines inside (see ``SeamReport``); the loop holds whole beats."""
    import librosa

    x = to_mono_numpy(audio).astype(np.float64)
    n, beat = x.size, 60.0 / bpm * sample_rate
    beats = int(round(n / beat))
    if beats < 2:
        raise ValueError("A loop needs at least two beats to compare its wrap with its inside.")
    tiled = np.concatenate([x, x])  # the wrap sits at n
    n_fft = 2048
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=40)

    def beat_at(k: int) -> tuple[float, np.ndarray]:  # (RMS dB, mean mel power dB) of beat k of the tiled loop
        part = tiled[round(k * beat): round((k + 1) * beat)]
        power = np.abs(librosa.stft(part, n_fft=n_fft, hop_length=512)) ** 2
        return 10 * np.log10(np.mean(part ** 2) + 1e-12), 10 * np.log10(mel @ power.mean(1) + 1e-10)

    measured = [beat_at(k) for k in range(beats + 1)]  # beats 0 .. beats-1 of the loop, then beat 0 again

    def jump(k: int) -> tuple[float, float]:  # across the line between beat k-1 and beat k
        (l0, s0), (l1, s1) = measured[k - 1], measured[k]
        return abs(l1 - l0), float(np.sqrt(np.mean((s1 - s0) ** 2)))

    inside = np.array([jump(k) for k in range(1, beats)])
    wrap = jump(beats)
    steps = np.abs(np.diff(x))
    tempo = estimate_tempo(np.tile(x, 4), sample_rate)
    return SeamReport(step_at_wrap=float(abs(x[0] - x[-1])), step_p99=float(np.percentile(steps, 99)),
                      level_jump_db=float(wrap[0]),
                      level_jump_db_inside=(float(np.median(inside[:, 0])), float(inside[:, 0].max())),
                      spectral_jump=float(wrap[1]),
                      spectral_jump_inside=(float(np.median(inside[:, 1])), float(inside[:, 1].max())),
                      tempo_bpm=tempo, tempo_agrees=tempo_agrees(tempo, bpm))


# ---- WAV metadata -------------------------------------------------------------------------------
ACID_STRETCH = 0x04  # acid chunk flag: the loop may be time-stretched to the song's tempo


def loop_chunks(loop: Loop) -> list[tuple[bytes, bytes]]:
    """The RIFF chunks that tell a DAW / sampler what the loop is: ``acid`` (tempo, beats, metre),
    ``smpl`` (one forward loop over the whole file) and ``LIST``/``INFO`` (title, comment, software)."""
    acid = struct.pack("<IHHfIHHf", ACID_STRETCH, 60, 0x8000, 0.0, loop.beats, 4, loop.beats_per_bar, loop.bpm)
    n = loop.audio.numel()
    smpl = struct.pack("<9I", 0, 0, round(1e9 / loop.sample_rate), 60, 0, 0, 0, 1, 0)
    smpl += struct.pack("<6I", 0, 0, 0, n - 1, 0, 0)
    comment = f"tempo={loop.bpm:g} bpm; bars={loop.bars}; beats={loop.beats}; metre={loop.beats_per_bar}/4"
    if loop.prompt:
        comment += f"; prompt={loop.prompt}"
    if loop.seed is not None:
        comment += f"; seed={loop.seed}"
    info = b"INFO"
    for key, text in ((b"INAM", f"loop {loop.bpm:g} bpm {loop.bars} bars"), (b"ICMT", comment),
                      (b"ISFT", "MusicLM Studio")):
        data = text.encode("utf-8") + b"\0"
        info += key + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return [(b"acid", acid), (b"smpl", smpl), (b"LIST", info)]


def read_loop_metadata(path: str) -> dict:
    """What ``Loop.save`` wrote, read back from the file's chunks: bpm, beats, beats_per_bar (acid),
    loop_start / loop_end in samples (smpl), title and comment (LIST/INFO); missing chunks are left out."""
    chunks, out = read_wav_chunks(path), {}
    if b"acid" in chunks and len(chunks[b"acid"]) >= 24:
        _, _, _, _, beats, _, numerator, bpm = struct.unpack("<IHHfIHHf", chunks[b"acid"][:24])
        out.update(bpm=float(bpm), beats=beats, beats_per_bar=numerator)
    if b"smpl" in chunks and len(chunks[b"smpl"]) >= 60:
        loops = struct.unpack("<I", chunks[b"smpl"][28:32])[0]
        if loops:
            out["loop_start"], out["loop_end"] = struct.unpack("<II", chunks[b"smpl"][44:52])
    info = chunks.get(b"LIST", b"")
    if info[:4] == b"INFO":
        pos = 4
        while pos + 8 <= len(info):
            key, size = info[pos: pos + 4], struct.unpack("<I", info[pos + 4: pos + 8])[0]
            text = info[pos + 8: pos + 8 + size].rstrip(b"\0").decode("utf-8", "replace")
            out[{b"INAM": "title", b"ICMT": "comment", b"ISFT": "software"}.get(key, key.decode("latin-1"))] = text
            pos += 8 + size + (size % 2)
    return out
