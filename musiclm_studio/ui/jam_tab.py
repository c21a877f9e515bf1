"""The Gradio Jam tab: endless music that each browser session steers while it plays.

Start runs a generator (one per browser session, ``JamHandler.start``) that makes the jam's chunks
and yields each as WAV bytes to a streaming ``gr.Audio`` (Gradio encodes the stream with ffmpeg and
the browser plays it without gaps), with the scrolling token view and a status line (headroom:
generation time / chunk length; underruns of the browser's player). It keeps at most
``AHEAD_CHUNKS`` chunks ahead of playback, so a change is heard within about two chunks. Moving a
control calls ``JamHandler.update``, which sets the new values on this session's jam from its next
chunk on (a bad value shows its message and the jam plays on). Stop ends the generator and frees
the jam; at most ``MUSICLM_MAX_JAMS`` (default 2) jams play at once.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from typing import Iterator, Optional

import gradio as gr
import soundfile as sf

from .. import viz
from ..jam import JamChunk
from .jam_controls import AHEAD_CHUNKS, JAM_CONTROLS, LIVE, JamMonitor, jam_changes

log = logging.getLogger(__name__)
INPUTS = tuple(JAM_CONTROLS)


def wav_bytes(chunk: JamChunk) -> bytes:
    """A chunk as 16-bit WAV bytes (what Gradio's streaming audio output takes)."""
    buffer = io.BytesIO()
    sf.write(buffer, chunk.audio.clamp(-1, 1).numpy(), chunk.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


class JamHandler:
    """Start / update / stop callbacks; one jam per browser session."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.palettes = viz.token_palettes(pipe)
        self._runs: dict[str, tuple] = {}  # session -> (JamSession, stop Event)
        self._lock = threading.Lock()

    @staticmethod
    def _session(request: Optional[gr.Request]) -> str:
        return getattr(request, "session_hash", None) or "local"

    def start(self, prompt_1, prompt_2, prompt_3, prompt_4, weight_1, weight_2, weight_3, weight_4, bpm, key,
              temperature, guidance_scale, chunk_s, seed, request: gr.Request = None) -> Iterator[tuple]:
        """Start this session's jam (the controls named as in ``JAM_CONTROLS``) and stream it until Stop."""
        values = {name: value for name, value in locals().items() if name in INPUTS}
        seed = values.get("seed")
        try:
            jam = self.pipe.jam(**jam_changes(values), chunk_s=values["chunk_s"],
                                seed=0 if seed is None else int(seed) if float(seed).is_integer() else seed)
        except ValueError as error:
            log.info("jam refused: %s", error)
            raise gr.Error(str(error)) from None
        session, stop = self._session(request), threading.Event()
        with self._lock:
            previous = self._runs.get(session)
            if previous is not None:
                previous[1].set()  # a second Start in the same page replaces the first jam
            self._runs[session] = (jam, stop)
        monitor = JamMonitor(self.pipe, jam.chunk_s, self.palettes)
        try:
            while not stop.is_set():
                if stop.wait(monitor.player.wait_s(time.monotonic(), AHEAD_CHUNKS)):
                    break
                chunk = jam.next_chunk()
                monitor.add(chunk, time.monotonic())
                yield wav_bytes(chunk), monitor.token_image(), monitor.status()
        finally:
            jam.close()
            with self._lock:
                if self._runs.get(session, (None,))[0] is jam:
                    del self._runs[session]
        yield gr.skip(), gr.skip(), f"Stopped. {monitor.status()}"

    def update(self, prompt_1, prompt_2, prompt_3, prompt_4, weight_1, weight_2, weight_3, weight_4, bpm, key,
               temperature, guidance_scale, chunk_s, seed, request: gr.Request = None) -> str:
        """Set the live controls on this session's jam, from its next chunk on (chunk length and seed are
        the jam's own: they apply to the next Start)."""
        values = {name: value for name, value in locals().items() if name in INPUTS}
        run = self._runs.get(self._session(request))
        if run is None:
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
        return "Stopping…"

    @property
    def playing(self) -> int:
        return len(self._runs)


def add_jam_tab(pipe) -> JamHandler:
    """The Jam tab, inside the caller's ``gr.Blocks``; returns its handler."""
    from .gradio_app import _component

    handler = JamHandler(pipe)
    max_jams = int(os.environ.get("MUSICLM_MAX_JAMS", "2"))
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
                audio = gr.Audio(label="Jam", streaming=True, autoplay=True, interactive=False, elem_id="jam-audio")
                status = gr.Markdown("Press Start.", elem_id="jam-status")
                tokens = gr.Image(label="Token streams, last 10 s (newest at the right)", type="numpy",
                                  interactive=False, elem_id="jam-tokens")
        for name, widget in widgets.items():  # elem_ids of the shared controls are prefixed in this tab
            widget.elem_id = f"jam-{name.replace('_', '-')}" if not widget.elem_id.startswith("jam-") else widget.elem_id
        inputs = [widgets[name] for name in INPUTS]
        start.click(handler.start, inputs, [audio, tokens, status], concurrency_limit=max_jams,
                    concurrency_id="jam", api_name="jam_start")
        live = [w for name, w in widgets.items() if name.startswith(LIVE)]
        triggers = [apply.click] + [w.submit for w in live if isinstance(w, gr.Textbox)] + \
                   [w.release for w in live if isinstance(w, gr.Slider)] + \
                   [w.input for w in live if isinstance(w, gr.Dropdown)]
        gr.on(triggers, handler.update, inputs, status, queue=False, api_name="jam_update")
        stop.click(handler.stop, None, status, queue=False, api_name="jam_stop")
    return handler
