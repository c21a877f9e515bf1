"""The jam's controls for both UIs (the Gradio Jam tab and the Jupyter ``Jam`` widget), defined once.

``JAM_CONTROLS`` lists them (up to ``MAX_PROMPTS`` prompts with weights, tempo and key from the
studio's ``CONTROLS``, one temperature for the semantic and coarse stages, semantic guidance,
chunk length, seed); ``jam_changes`` turns the values a UI collected into the keyword arguments of
``JamSession.set`` / ``MusicLMPipeline.jam`` (range checks stay in the pipeline);
``JamMonitor`` keeps what a front end shows while a jam plays: the scrolling token window, the
headroom per chunk and the underruns of the browser's player, as one status line.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch

from .. import viz
from ..jam import JamChunk
from ..jam_script import Playback
from ..outputs import TokenStreams
from ..sampling_args import DEFAULTS, LIMITS
from .controls import CONTROLS, Control

MAX_PROMPTS = 4
TOKEN_WINDOW_S = 10.0  # the token view shows the last this many seconds
AHEAD_CHUNKS = 1.5  # the app keeps at most this many chunks queued ahead of playback
KEEP_S = 600.0  # JamMonitor.recording() keeps this many seconds

JAM_CONTROLS: dict[str, Control] = {c.name: c for c in (
    *(Control(f"prompt_{i}", f"Prompt {i}", "text", "", info="Describe the music" if i == 1 else "Optional: mix in")
      for i in range(1, MAX_PROMPTS + 1)),
    *(Control(f"weight_{i}", f"Weight {i}", "float", 1.0 if i == 1 else 0.0, 0.0, 1.0, 0.05,
              "How much of this prompt (weights are normalised; mixed in MuLan's embedding space)")
      for i in range(1, MAX_PROMPTS + 1)),
    CONTROLS["bpm"],
    CONTROLS["key"],
    Control("temperature", "Temperature", "float", DEFAULTS["temperature_coarse"], *LIMITS["temperature"], 0.05,
            "Randomness of the semantic and coarse stages (the fine stage keeps its default)."),
    Control("guidance_scale", "Guidance", "float", DEFAULTS["guidance_scale"], *LIMITS["guidance_scale"], 0.1,
            "How strongly the composition follows the prompt (semantic stage; 1 = off)."),
    Control("chunk_s", "Chunk length (s)", "float", 2.0, *LIMITS["chunk_s"], 0.5,
            "Seconds of audio per step; set when the jam starts."),
    Control("seed", "Seed", "seed", 0, info="The same seed and the same changes give the same jam."),
)}
LIVE = ("prompt", "weight", "bpm", "key", "temperature", "guidance_scale")  # controls that steer a running jam


def jam_changes(values: dict[str, Any]) -> dict[str, Any]:
    """UI values (keyed like ``JAM_CONTROLS``) -> keyword arguments of ``JamSession.set``: one prompt
    alone (or at weight 1 with the others at 0) is that prompt; several are ``prompts={text: weight}``."""
    parts = [((values.get(f"prompt_{i}") or "").strip(), values.get(f"weight_{i}", 0.0))
             for i in range(1, MAX_PROMPTS + 1)]
    parts = [(text, weight) for text, weight in parts if text]
    if len(parts) == 1:
        prompt = {"prompt": parts[0][0], "prompts": None}
    elif parts:
        prompt = {"prompt": None, "prompts": dict(parts)}
    else:
        prompt = {"prompt": values.get("prompt_1") or "", "prompts": None}  # the pipeline says what to write
    return {**prompt, "bpm": values.get("bpm") or None, "key": values.get("key") or None,
            "temperature": {"semantic": values["temperature"], "coarse": values["temperature"]},
            "guidance_scale": {"semantic": values["guidance_scale"]}}


class JamMonitor:
    """What a front end shows of a playing jam: the last ``TOKEN_WINDOW_S`` seconds of tokens as a
    picture, and a status line with the headroom (generation time / chunk length) and the underruns
    of a player that started with the first chunk (``jam_script.Playback``)."""

    def __init__(self, pipe, chunk_s: float, palettes=None):
        self.pipe, self.chunk_s = pipe, chunk_s
        self.palettes = palettes if palettes is not None else viz.token_palettes(pipe)
        self.player = Playback(chunk_s)
        self.recent: deque[JamChunk] = deque()  # the chunks of the last TOKEN_WINDOW_S seconds
        self.kept: deque[torch.Tensor] = deque()  # the audio of the last KEEP_S seconds (``recording``)
        self.ratios: deque[float] = deque(maxlen=100)
        self.last = None

    def add(self, chunk: JamChunk, now: float) -> None:
        self.player.ready(now, chunk.duration_s)
        self.ratios.append(chunk.elapsed_s / chunk.duration_s)
        self.last = chunk
        self.recent.append(chunk)
        self.kept.append(chunk.audio)
        _trim(self.recent, lambda c: c.audio.numel(), TOKEN_WINDOW_S * chunk.sample_rate)
        _trim(self.kept, torch.numel, KEEP_S * chunk.sample_rate)

    def recording(self) -> torch.Tensor:
        """The last ``KEEP_S`` seconds played, joined: audio [S] at ``pipe.sample_rate``."""
        return torch.cat(list(self.kept)) if self.kept else torch.zeros(0)

    def token_image(self) -> np.ndarray:
        """RGB uint8 [H, W, 3]: the streams of the last chunks, newest at the right."""
        chunks = list(self.recent)
        streams = TokenStreams(mulan=chunks[-1].tokens.mulan,
                               **{name: torch.cat([getattr(c.tokens, name) for c in chunks], -1)
                                  for name in ("semantic", "coarse", "fine")})
        return viz.token_strip_image(streams, self.palettes, self.pipe, duration_s=sum(c.duration_s for c in chunks))

    def status(self) -> str:
        """'chunk 12 · 24.0 s · headroom 0.45 x (p95 0.52) · underruns 0 · 120 bpm · A minor'."""
        c = self.last
        if c is None:
            return "Starting…"
        p95 = float(np.percentile(list(self.ratios), 95))
        parts = [f"chunk {c.index + 1}", f"{c.start_s + c.duration_s:.1f} s",
                 f"generation {self.ratios[-1]:.2f} x chunk length (p95 {p95:.2f})",
                 f"underruns {self.player.underruns}"]
        if c.settings.get("bpm_heard"):
            parts.append(f"{c.settings['bpm_heard']:g} bpm")
        if c.settings.get("key_heard"):
            parts.append(c.settings["key_heard"])
        return " · ".join(parts)


def _trim(window: deque, size, limit: float) -> None:
    """Drop the oldest items of ``window`` while the newer ones still hold ``limit`` (in ``size`` units)."""
    total = sum(size(item) for item in window)
    while len(window) > 1 and total - size(window[0]) >= limit:
        total -= size(window.popleft())
