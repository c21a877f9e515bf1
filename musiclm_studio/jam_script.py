"""Timed control changes for a reproducible jam, the loop that records one, and a player's clock.

A script is JSON: a list (or ``{"changes": [...]}``) of changes, each ``{"at_s": SECONDS, CONTROL:
VALUE, ...}`` with the controls of ``JamSession.set`` (prompt, prompts, bpm, key, temperature,
top_k, guidance_scale), e.g.::

    [{"at_s": 20, "prompt": "techno with drums"},
     {"at_s": 40, "prompts": {"jazz trio": 0.7, "techno": 0.3}, "bpm": 120}]

A change at ``at_s`` is set just before the first chunk that starts at or after ``at_s`` is
generated, so it applies to that chunk's new frames: the same seed, chunk length and script give
the same audio, sample for sample.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from .jam import JamChunk, JamSession


@dataclass
class ScriptChange:
    """Controls to ``set`` on the jam from ``at_s`` seconds on."""

    at_s: float
    controls: dict = field(default_factory=dict)


def parse_script(data) -> list[ScriptChange]:
    """JSON data (see the module docstring) -> changes sorted by time; ``ValueError`` saying what is wrong."""
    items = data.get("changes") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('A jam script is a JSON list of changes such as [{"at_s": 20, "prompt": "techno"}] '
                         '(or {"changes": [...]}).')
    changes = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "at_s" not in item:
            raise ValueError(f'Change {i + 1} of the jam script must be an object with "at_s", got {item!r}.')
        at = item["at_s"]
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or at < 0:
            raise ValueError(f'Change {i + 1}: "at_s" must be a number of seconds >= 0, got {at!r}.')
        controls = {k: v for k, v in item.items() if k != "at_s"}
        if not controls:
            raise ValueError(f"Change {i + 1} (at {at:g} s) changes nothing; name a control such as \"prompt\".")
        changes.append(ScriptChange(float(at), controls))
    return sorted(changes, key=lambda c: c.at_s)


def load_script(path: str) -> list[ScriptChange]:
    if not os.path.isfile(path):
        raise ValueError(f"Jam script {path!r} not found.")
    try:
        with open(path, encoding="utf-8") as f:
            return parse_script(json.load(f))
    except json.JSONDecodeError as error:
        raise ValueError(f"Jam script {path!r} is not valid JSON: {error}.") from None


def check_script(session: JamSession, changes: list[ScriptChange]) -> None:
    """Resolve every change in turn on a copy of the settings, so that a bad one fails before the jam starts."""
    import dataclasses

    settings = session.settings
    for change in changes:
        try:
            settings = dataclasses.replace(settings, **session.normalise_changes(change.controls))
            session.check_settings(settings)
        except (ValueError, TypeError) as error:
            raise ValueError(f"Jam script change at {change.at_s:g} s: {error}") from None


def scripted_chunks(session: JamSession, changes: list[ScriptChange], seconds: Optional[float] = None,
                    on_change: Optional[Callable[[ScriptChange, float], None]] = None) -> Iterator[JamChunk]:
    """The jam's chunks with the script's changes set on time; ``seconds`` of audio (None: for ever).
    ``on_change(change, start_s)`` hears each change as it is set, with the start of the chunk it applies to."""
    pending = list(changes)
    while seconds is None or session.emitted / session.sample_rate < seconds - 1e-9:
        start_s = session.emitted / session.sample_rate
        while pending and pending[0].at_s <= start_s + 1e-9:
            change = pending.pop(0)
            session.set(**change.controls)
            if on_change is not None:
                on_change(change, start_s)
        yield session.next_chunk()


class Playback:
    """The clock of a player that plays a jam's chunks in real time, for pacing and underruns.

    It starts playing when the first chunk is ready and starts each next chunk when the one before
    has played, or, when that chunk is not ready yet (an underrun), as soon as it is. ``wait_s``
    tells a generator how long to wait so that it stays at most ``ahead`` chunks ahead of playback
    (a control change is then heard after at most that many chunks).
    """

    def __init__(self, chunk_s: float):
        self.chunk_s = chunk_s
        self.next_play: Optional[float] = None  # when the next chunk is due to start playing
        self.chunks, self.underruns, self.stalled_s = 0, 0, 0.0

    def ready(self, now: float, seconds: Optional[float] = None) -> None:
        """A chunk of ``seconds`` (default ``chunk_s``) became ready at ``now`` (seconds on any steady clock)."""
        if self.next_play is None:
            self.next_play = now
        elif now > self.next_play:
            self.underruns, self.stalled_s, self.next_play = self.underruns + 1, self.stalled_s + now - self.next_play, now
        self.next_play += self.chunk_s if seconds is None else seconds
        self.chunks += 1

    def wait_s(self, now: float, ahead: float) -> float:
        """Seconds to wait before making the next chunk so that playback has at most ``ahead`` chunks queued."""
        if self.next_play is None:
            return 0.0
        return max(0.0, self.next_play - ahead * self.chunk_s - now)


def save_jam_png(path: str, audio, sample_rate: int, marks: list[tuple[float, str]]) -> str:
    """A recorded jam's mel spectrogram with each control change marked at the chunk it applied to."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .viz import plot_spectrogram

    seconds = len(audio) / sample_rate
    fig = plt.figure(figsize=(max(10.0, min(40.0, seconds / 10)), 3.5), layout="constrained")
    ax = plot_spectrogram(audio, sample_rate, ax=fig.add_subplot(), title="jam: mel spectrogram (dB), control changes marked")
    for i, (at, label) in enumerate(marks):
        ax.axvline(at, color="cyan", lw=1.0)
        ax.text(at, ax.get_ylim()[1] * (0.95 - 0.12 * (i % 4)), " " + label[:40], color="cyan", fontsize=7, va="top")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def describe(controls: dict) -> str:
    """A change as a short label: 'prompt=techno, bpm=120'."""
    return ", ".join(f"{k}={v}" for k, v in controls.items())


def cmd_jam(args) -> int:
    import sys
    import time

    import soundfile as sf

    from .pipeline import MusicLMPipeline
    from .sampling_args import from_flag

    if not args.minutes > 0:
        raise ValueError("--minutes must be positive, e.g. --minutes 5.")
    changes = load_script(args.script) if args.script else []
    pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device, int8=False if args.no_int8 else None)
    pipe.show_progress = False
    session = pipe.jam(args.prompt, chunk_s=args.chunk, seed=args.seed, bpm=args.bpm, key=args.key,
                       temperature=from_flag(args.temperature), top_k=args.top_k, guidance_scale=from_flag(args.guidance),
                       context_s=args.context)
    check_script(session, changes)
    marks, log = [], []
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    clock = time.perf_counter()
    with sf.SoundFile(args.out, "w", samplerate=session.sample_rate, channels=1, subtype="PCM_16") as wav:
        on_change = lambda change, start: marks.append((start, describe(change.controls)))  # noqa: E731
        for chunk in scripted_chunks(session, changes, args.minutes * 60.0, on_change):
            wav.write(chunk.audio.clamp(-1, 1).numpy())
            log.append({"index": chunk.index, "start_s": chunk.start_s, "elapsed_s": round(chunk.elapsed_s, 4),
                        "cpu_s": round(chunk.cpu_s, 4), "bpm": chunk.settings["bpm_heard"],
                        "key": chunk.settings["key_heard"]})
            if not args.quiet:
                print(f"\r{chunk.start_s + session.chunk_s:7.1f} s  chunk {chunk.index}: "
                      f"{chunk.elapsed_s / session.chunk_s:.2f} x chunk length", end="", file=sys.stderr, flush=True)
    session.close()
    total = time.perf_counter() - clock
    print(f"\nwrote {args.out} ({args.minutes * 60:g} s at {session.sample_rate} Hz, seed {session.seed}, "
          f"{len(changes)} scripted changes, {total:.1f} s)")
    with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump({"seed": session.seed, "chunk_s": session.chunk_s, "changes": [[m, label] for m, label in marks],
                   "chunks": log}, f, indent=1)
    if not args.no_png:
        audio, rate = sf.read(args.out, dtype="float32")
        print("wrote " + save_jam_png(os.path.splitext(args.out)[0] + ".png", audio, rate, marks))
    return 0


def register(sub) -> None:
    from .sampling_args import DEFAULTS

    j = sub.add_parser("jam", help="record an endless jam for N minutes, optionally steered by a script of timed changes")
    j.add_argument("prompt", help="what the jam starts as")
    j.add_argument("--minutes", type=float, default=1.0, help="minutes of audio to record (default 1)")
    j.add_argument("--out", default="jam.wav", help="WAV to write (a .json chunk log and a .png beside it)")
    j.add_argument("--script", default=None, help="JSON list of timed changes: [{\"at_s\": 20, \"prompt\": \"...\"}, ...]")
    j.add_argument("--chunk", type=float, default=2.0, help="seconds per chunk (0.5-10, default 2)")
    j.add_argument("--context", type=float, default=None,
                   help="seconds of its own tokens each chunk continues (default: the pipeline's overlap_s)")
    j.add_argument("--seed", type=int, default=0)
    j.add_argument("--bpm", type=float, default=None, help="tempo of the beat grid (default: what the prompt asks)")
    j.add_argument("--key", default=None, help="'A minor', 'F# major', 'minor' ... (default: what the prompt asks)")
    j.add_argument("--temperature", type=float, nargs="+", default=None, help="one value or semantic coarse fine")
    j.add_argument("--top-k", type=int, default=DEFAULTS["top_k"])
    j.add_argument("--guidance", type=float, nargs="+", default=None, help="one value or semantic coarse fine")
    j.add_argument("--pipeline", default=None, help="saved pipeline folder or Hub id (default: the shipped model)")
    j.add_argument("--device", default=None)
    j.add_argument("--no-int8", action="store_true", help="keep the LMs in float on a CPU (default: int8 weights)")
    j.add_argument("--no-png", action="store_true", help="skip the spectrogram PNG")
    j.add_argument("--quiet", action="store_true", help="no per-chunk progress line")
    j.set_defaults(func=cmd_jam)
