"""The Gradio Jam tab: endless music that each browser session steers while it plays.

Start runs a generator (one per browser session, ``JamHandler.start``) that has the jam's chunks
made on a thread of its own (``jam_lanes.JamLanes``) and yields each, with the scrolling token view and a
status line (headroom: generation time / chunk length; underruns), until Stop. The chunks play in
the page itself (``PLAYER_JS``, Web Audio): each arrives as 16-bit PCM (``pcm_message``) and is
scheduled to start where the one before ends, so chunks join sample-exactly and the first plays as
soon as it arrives. (Gradio's streaming audio output re-encodes the stream to AAC and plays it
through HLS, which held the first sound back 1-3 s after the first chunk had arrived: docs/jam.md.)
The jam starts with a short first chunk (``FIRST_CHUNK_S``) and ramps up to the chunk length
(``jam.JamSession``). Before Start, the page's current control values are primed (``JamHandler.prime``,
on page load and on every change, ``PRIME_DELAY_S`` after the last): their jam is built and its first
``PRIME_CHUNKS`` chunks made on an idle lane, so that a Start with those values plays at once (the
same audio: a jam depends on its seed and settings alone). It keeps at most ``AHEAD_CHUNKS`` chunks
ahead of playback, so a change is heard within about two chunks. Moving a control calls
``JamHandler.update``, which sets the new values on this session's jam from its next chunk on (a bad
value shows its message and the jam plays on). Stop ends the generator, frees the jam and offers the
last ``jam_controls.KEEP_S`` seconds as a recording; at most ``MUSICLM_MAX_JAMS`` (default 2) jams
play at once. The threads and the priming live in ``jam_lanes``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from concurrent.futures import Future
from itertools import count
from typing import Iterator, Optional

import gradio as gr
import torch

from .. import viz
from ..jam import JamChunk
from .jam_controls import AHEAD_CHUNKS, JAM_CONTROLS, KEEP_S, LIVE, JamMonitor, jam_changes
from .jam_lanes import PRIME_CHUNKS, PRIME_DELAY_S, JamLanes, PrimedJam, jam_threads

log = logging.getLogger(__name__)
INPUTS = tuple(JAM_CONTROLS)


JAM_THREADS_ENV = "MUSICLM_JAM_THREADS"  # torch threads per jam in the app (default: ``jam_threads``)
FIRST_CHUNK_S = 0.25  # the jam's first chunk in the app: the sooner it is made, the sooner it plays
PRIME_ENV = "MUSICLM_JAM_PRIME"  # chunks made before Start in the app (0: none; default ``PRIME_CHUNKS``)
IMAGE_EVERY_S = 1.0  # the token view is redrawn at most this often (each redraw costs the server and the page)
STOPPING = "Stopping…"  # what Stop says while a jam plays (the jam's own last message then says "Stopped.")
_RUNS = count(1)  # one number per Start: the page's player starts afresh on a new one

PLAYER_JS = """
  // (the body of gr.HTML's js_on_load: ``element`` is the HTML's own element)
  // One player per page (window.musiclmJam): Web Audio plays each chunk where the one before ends.
  const player = window.musiclmJam || (window.musiclmJam = {
    ctx: null, next: 0, t0: null, run: null, ended: null, chunks: 0, underruns: 0, sources: new Set(),
    unlock() {  // on Start's click: the gesture that lets a page make sound
      if (!this.ctx) {
        try { this.ctx = new AudioContext({sampleRate: %(rate)d, latencyHint: "interactive"}); }
        catch (error) { this.ctx = new AudioContext({latencyHint: "interactive"}); }
      }
      if (this.ctx.state !== "running") this.ctx.resume();
    },
    stop() {
      this.sources.forEach((source) => { try { source.stop(); } catch (error) {} });
      this.sources.clear(); this.ended = this.run; this.run = null; this.t0 = null;
    },
    play(message) {
      if (!message) return;
      const m = JSON.parse(message);
      if (m.run === this.ended) return;  // a chunk that was on its way when Stop was pressed
      if (this.wanted === false) {  // a jam that started after Stop (its Start had waited): stop it too
        this.ended = m.run;
        const button = document.querySelector("#jam-stop");
        if (button) button.click();
        return;
      }
      if (m.run !== this.run) { this.stop(); this.run = m.run; this.chunks = 0; this.underruns = 0; }
      this.unlock();
      const bytes = atob(m.pcm), n = bytes.length >> 1;
      const buffer = this.ctx.createBuffer(1, n, m.rate), data = buffer.getChannelData(0);
      for (let i = 0; i < n; i++) {
        const v = bytes.charCodeAt(2 * i) | (bytes.charCodeAt(2 * i + 1) << 8);
        data[i] = (v >= 32768 ? v - 65536 : v) / 32768;
      }
      // seconds to hand the first samples to the device; after an underrun, a little more, so that the
      // next chunk has time to come (a stall, then playing on, rather than a stutter per chunk)
      const now = this.ctx.currentTime, lead = 0.05, rebuffer = 0.3;
      if (this.t0 === null) { this.t0 = now + lead; this.next = this.t0; }
      else if (this.next < now) { this.underruns += 1; this.t0 += now + rebuffer - this.next; this.next = now + rebuffer; }
      const source = this.ctx.createBufferSource();
      source.buffer = buffer; source.connect(this.ctx.destination); source.start(this.next);
      source.onended = () => this.sources.delete(source);
      this.sources.add(source); this.next += n / m.rate; this.chunks += 1;
    },
    played() {  // seconds of the jam played in this page (stalls left out)
      return this.ctx && this.t0 !== null ? Math.max(0, this.ctx.currentTime - this.t0) : 0;
    },
  });
  if (!player.listening) {  // a click listener of the page's own, so the browser counts it as a gesture
    document.addEventListener("click", (event) => {
      if (event.target.closest("#jam-start")) { player.wanted = true; player.unlock(); }
      if (event.target.closest("#jam-stop")) { player.wanted = false; player.stop(); }
    }, true);
    player.listening = true;
  }
  const line = element.querySelector(".jam-player-line") || element;
  setInterval(() => {
    line.textContent = player.t0 === null ? "Player: idle." :
      `Player: ${player.played().toFixed(1)} s played in this page, ${player.chunks} chunks, ` +
      `${player.underruns} underruns (Web Audio, ${player.ctx.sampleRate} Hz).`;
  }, 250);
"""


def pcm_message(chunk: JamChunk, run: int) -> str:
    """A chunk for the page's player: JSON with its run, index, sample rate and base64 16-bit PCM."""
    pcm = (chunk.audio.clamp(-1, 1) * 32767).round().to(torch.int16).numpy().astype("<i2").tobytes()
    return json.dumps({"run": run, "index": chunk.index, "rate": chunk.sample_rate,
                       "pcm": base64.b64encode(pcm).decode("ascii")})


def _settings(values: dict) -> str:
    """What makes a jam's audio: all its controls' values (seed included), as one comparable string."""
    return json.dumps(values, sort_keys=True, default=str)


class JamHandler:
    """Start / update / stop callbacks; one jam per browser session."""

    def __init__(self, pipe, max_jams: int = 2, torch_threads: Optional[int] = None, prime_chunks: int = PRIME_CHUNKS):
        self.pipe = pipe
        self.lanes = JamLanes(max_jams, torch_threads)
        self.palettes = viz.token_palettes(pipe)
        self._runs: dict[str, tuple] = {}  # session -> (JamSession, stop Event)
        self._primed: dict[str, PrimedJam] = {}  # session -> the jam its next Start would start
        self._wanted: dict[str, dict] = {}  # session -> the control values its page sent while it played
        self.max_primed = 2 * max_jams  # pages whose next Start is primed at once
        self.prime_chunks, self.prime_delay_s = prime_chunks, PRIME_DELAY_S
        self._lock = threading.Lock()

    @staticmethod
    def _session(request: Optional[gr.Request]) -> str:
        return getattr(request, "session_hash", None) or "local"

    def _build(self, values: dict):
        """The jam these control values start (``ValueError`` for a bad value)."""
        chunk_s, seed = values["chunk_s"], values.get("seed")
        first_s = min(FIRST_CHUNK_S, chunk_s) if isinstance(chunk_s, (int, float)) else None
        return self.pipe.jam(**jam_changes(values), chunk_s=chunk_s, first_chunk_s=first_s,
                             seed=0 if seed is None else int(seed) if float(seed).is_integer() else seed)

    def start(self, prompt_1, prompt_2, prompt_3, prompt_4, weight_1, weight_2, weight_3, weight_4, bpm, key,
              temperature, guidance_scale, chunk_s, seed, request: gr.Request = None) -> Iterator[tuple]:
        """Start this session's jam (the controls named as in ``JAM_CONTROLS``) and stream it until Stop."""
        values = {name: value for name, value in locals().items() if name in INPUTS}
        session, stop = self._session(request), threading.Event()
        with self._lock:  # registered before the jam is built, so that a Stop meanwhile is not lost
            previous = self._runs.get(session)
            if previous is not None:
                previous[1].set()  # a second Start in the same page replaces the first jam
            self._runs[session] = (None, stop)
            primed = self._primed.pop(session, None)
        ready: list[Future] = []  # chunks made before the click (``prime``), for the same values only
        if primed is not None and primed.settings == _settings(values):
            try:
                jam, ready = primed.take() or (None, [])
            except Exception:  # e.g. a bad value: built again below, which says what is wrong
                primed.discard()
        elif primed is not None:
            primed.discard()
        if not ready:
            try:
                jam = self._build(values)
            except ValueError as error:
                log.info("jam refused: %s", error)
                self._forget(session, stop)
                raise gr.Error(str(error)) from None
        with self._lock:
            if self._runs.get(session, (None, None))[1] is stop:
                self._runs[session] = (jam, stop)
        monitor, run = JamMonitor(self.pipe, jam.chunk_s, self.palettes), next(_RUNS)
        drawn = time.monotonic()  # the token view waits for the second image's time: the first chunk goes alone
        with self.lanes.lane() as lane:
            def make() -> Future:  # the next chunk: one made before the click, or made now
                return ready.pop(0) if ready else lane.submit(jam.next_chunk)

            pending = None if stop.is_set() else make()
            try:
                while pending is not None:
                    chunk, pending = pending.result(), None
                    now = time.monotonic()
                    monitor.add(chunk, now)
                    if not stop.is_set() and (ready or monitor.player.wait_s(now, AHEAD_CHUNKS) <= 0):
                        pending = make()  # behind: the next chunk is made while this one is sent
                    drawn, image = (now, monitor.token_image()) if now - drawn >= IMAGE_EVERY_S else (drawn, gr.skip())
                    yield pcm_message(chunk, run), image, monitor.status(), gr.skip()
                    if stop.is_set():
                        break
                    if pending is None and not stop.wait(monitor.player.wait_s(time.monotonic(), AHEAD_CHUNKS)):
                        pending = make()
            finally:
                for future in [pending, *ready]:
                    if future is not None:
                        future.cancel()
                jam.close()  # after the chunk in the making, if any
                self._forget(session, stop)
                with self._lock:
                    again = self._wanted.pop(session, values)
        # a Start again plays at once: primed with the values the page sent last
        self.prime(*(again[name] for name in INPUTS), request=request)
        recording = monitor.recording()
        yield (gr.skip(), gr.skip(), f"Stopped. {monitor.status()}",
               (jam.sample_rate, recording.numpy()) if recording.numel() else gr.skip())

    def prime(self, prompt_1, prompt_2, prompt_3, prompt_4, weight_1, weight_2, weight_3, weight_4, bpm, key,
              temperature, guidance_scale, chunk_s, seed, request: gr.Request = None) -> None:
        """Build the jam that Start would start with these control values, and make its first
        ``PRIME_CHUNKS`` chunks, on a lane no jam holds, before Start is pressed (the page calls this on
        load and on every change; the work begins ``PRIME_DELAY_S`` later, unless a change replaces it).
        A Start with the same values sends them at once, so that the page plays at once and has 1.2 s in
        hand while the next chunks are made: a jam depends on its seed and settings alone, so the audio
        is the same as if it were made after the click. A page that is playing is primed when its jam
        stops; values a jam refuses, or all lanes busy, prime nothing."""
        values = {name: value for name, value in locals().items() if name in INPUTS}
        session, settings = self._session(request), _settings(values)
        with self._lock:
            if session in self._runs:
                self._wanted[session] = values
                return
            if session in self._primed and self._primed[session].settings == settings:
                return
            if self.prime_chunks < 1:
                return
            discard = [self._primed.pop(session, None)]
            self._primed[session] = PrimedJam(settings, self.lanes, lambda: self._build(values), self.prime_chunks,
                                              self.prime_delay_s)
            while len(self._primed) > self.max_primed:  # the oldest page's goes
                discard.append(self._primed.pop(next(iter(self._primed))))
        for primed in discard:
            if primed is not None:
                primed.discard()

    def primed(self, request: gr.Request = None) -> Optional[PrimedJam]:
        """This page's primed jam, if any (``prime``)."""
        return self._primed.get(self._session(request))

    def _forget(self, session: str, stop: threading.Event) -> None:
        with self._lock:
            if self._runs.get(session, (None, None))[1] is stop:
                del self._runs[session]

    def update(self, prompt_1, prompt_2, prompt_3, prompt_4, weight_1, weight_2, weight_3, weight_4, bpm, key,
               temperature, guidance_scale, chunk_s, seed, request: gr.Request = None) -> str:
        """Set the live controls on this session's jam, from its next chunk on (chunk length and seed are
        the jam's own: they apply to the next Start)."""
        values = {name: value for name, value in locals().items() if name in INPUTS}
        run = self._runs.get(self._session(request))
        if run is None or run[0] is None:
            return "No jam is playing: press Start."
        changes = jam_changes(values)
        try:
            run[0].set(**changes)
        except ValueError as error:
            return f"Not applied (the jam plays on as it was): {error}"
        return "Applied from the next chunk."

    def stop(self, request: gr.Request = None) -> str:
        run = self._runs.get(self._session(request))
        if run is None:
            return "No jam is playing."
        run[1].set()
        return STOPPING

    def stop_clicked(self, request: gr.Request = None):
        """Stop, for the page's button: while a jam plays the status line is left to the jam, whose last
        message says "Stopped." (a "Stopping…" sent from here raced it, and arriving after it, stayed)."""
        message = self.stop(request)
        return gr.skip() if message == STOPPING else message

    def warm_up(self) -> None:
        """Make one short chunk on every lane, so that each lane's torch set-up is done and the first
        jam starts as fast as the next (its first audio is what the Jam tab is timed by)."""
        def one_chunk():
            with self.pipe.jam("warm-up", chunk_s=0.5, first_chunk_s=0.25) as jam:
                jam.next_chunk()

        self.lanes.each(one_chunk)

    @property
    def playing(self) -> int:
        return len(self._runs)


def add_jam_tab(pipe) -> JamHandler:
    """The Jam tab, inside the caller's ``gr.Blocks``; returns its handler."""
    from .gradio_app import _component

    max_jams = int(os.environ.get("MUSICLM_MAX_JAMS", "2"))
    handler = JamHandler(pipe, max_jams, int(os.environ.get(JAM_THREADS_ENV) or 0) or jam_threads(max_jams),
                         int(os.environ.get(PRIME_ENV, PRIME_CHUNKS)))
    with gr.Tab("Jam", elem_id="jam-tab"):
        gr.Markdown("### Jam\nEndless music that follows the controls while it plays: changes apply from the next "
                    "chunk; a new tempo starts on the next bar.")
        widgets = {}
        with gr.Row():
            with gr.Column(scale=1):
                for i in range(1, 5):
                    with gr.Row():
                        widgets[f"prompt_{i}"] = gr.Textbox(label=JAM_CONTROLS[f"prompt_{i}"].label, scale=3,
                                                            elem_id=f"jam-prompt-{i}",
                                                            value="a funky groove with drums and slap bass" if i == 1 else "")
                        widgets[f"weight_{i}"] = _component(JAM_CONTROLS[f"weight_{i}"], pipe)
                for name in ("bpm", "key", "temperature", "guidance_scale", "chunk_s", "seed"):
                    widgets[name] = _component(JAM_CONTROLS[name], pipe)
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="jam-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="jam-stop")
                    apply = gr.Button("Apply changes", elem_id="jam-apply")
            with gr.Column(scale=2):
                gr.HTML("<div class='jam-player-line'>Player: idle.</div>", elem_id="jam-player",
                        js_on_load=PLAYER_JS % {"rate": pipe.sample_rate})
                pcm = gr.Textbox(visible=False, elem_id="jam-pcm")  # each chunk on its way to the player
                status = gr.Markdown("Press Start.", elem_id="jam-status")
                tokens = gr.Image(label="Token streams, last 10 s (newest at the right)", type="numpy",
                                  interactive=False, elem_id="jam-tokens")
                recording = gr.Audio(label=f"Recording (the last {KEEP_S / 60:g} minutes, when stopped)",
                                     interactive=False, elem_id="jam-recording")
        for name, widget in widgets.items():  # elem_ids of the shared controls are prefixed in this tab
            widget.elem_id = f"jam-{name.replace('_', '-')}" if not widget.elem_id.startswith("jam-") else widget.elem_id
        inputs = [widgets[name] for name in INPUTS]
        start.click(handler.start, inputs, [pcm, tokens, status, recording], concurrency_limit=max_jams,
                    concurrency_id="jam", api_name="jam_start", show_progress="hidden")  # no spinner: it never ends
        pcm.change(None, pcm, None, js="(message) => { window.musiclmJam && window.musiclmJam.play(message); }")
        live = [w for name, w in widgets.items() if name.startswith(LIVE)]
        triggers = [apply.click] + [w.submit for w in live if isinstance(w, gr.Textbox)] + \
                   [w.release for w in live if isinstance(w, gr.Slider)] + \
                   [w.input for w in live if isinstance(w, gr.Dropdown)]
        gr.on(triggers, handler.update, inputs, status, queue=False, api_name="jam_update")
        # on page load and on every change: the jam these values start is made ready before Start (``prime``)
        gr.on(None, handler.prime, inputs, None, queue=False, show_progress="hidden", api_visibility="private")
        stop.click(handler.stop_clicked, None, status, queue=False, api_name="jam_stop")
    return handler
