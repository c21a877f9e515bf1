"""The Gradio studio: ``build_demo(pipe)`` returns the app, ``launch(pipe, ...)`` serves it.

The controls come from ``ui/controls.py``. Generation runs the pipeline in a worker thread; its
callback keeps the newest ``StageEvent`` per stage for a generator that drives ``gr.Progress`` and
redraws the token-stream image as tokens arrive, then yields the audio, spectrogram, MuLan
score and timings. The Stop button sets a per-session flag that the callback checks, so the
worker ends at its next step and the stream ends normally with "Stopped.". Every ``ValueError`` from the pipeline becomes a ``gr.Error``
with its message; nothing else escapes either, so a bad input never takes the server down.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import replace
from typing import Any, Iterator, Optional

import gradio as gr

from .. import viz
from ..audio import save_audio
from ..config import STAGES
from . import controls

log = logging.getLogger(__name__)
REDRAW_S = 0.5  # at most one live token image per this many seconds (drawing costs CPU)
POLL_S = 0.25  # how often the UI thread looks at the newest pipeline event


class Stopped(Exception):
    """Raised from the pipeline callback when the user pressed Stop."""


class GenerateHandler:
    """The app's generate and stop callbacks for one pipeline (one handler per demo)."""

    def __init__(self, pipe, output_dir: Optional[str] = None):
        self.pipe = pipe
        self.palettes = viz.token_palettes(pipe)
        self.output_dir = output_dir or os.path.join(tempfile.gettempdir(), "musiclm-studio")
        self._stops: dict[str, threading.Event] = {}

    # ---- helpers ----------------------------------------------------------------------
    def _token_image(self, tokens):
        return viz.figure_to_array(viz.plot_token_streams(tokens, self.pipe, palettes=self.palettes))

    def _spectrogram_image(self, audio, sample_rate: int):
        return viz.figure_to_array(viz.plot_spectrogram(audio, sample_rate, pipe=self.pipe).figure)

    def _run(self, kwargs: dict, latest: dict, stop: threading.Event, done: threading.Event, result: dict) -> None:
        def callback(event):  # keep only the newest event per stage: no queue, no wake-ups
            if stop.is_set():
                raise Stopped()
            latest[event.stage] = event

        try:
            result["output"] = self.pipe(**kwargs, callback=callback)
        except BaseException as error:  # noqa: BLE001 - handed to the UI thread, which reports it
            result["error"] = error
        finally:
            done.set()

    def _files(self, out) -> tuple[str, str]:
        folder = tempfile.mkdtemp(prefix="gen-", dir=_makedirs(self.output_dir))
        wav = save_audio(os.path.join(folder, f"musiclm-seed{out.seed}.wav"), out.audio, out.sample_rate)
        png = viz.save_overview_png(os.path.join(folder, f"musiclm-seed{out.seed}.png"), out.audio, out.sample_rate,
                                    out.tokens, pipe=self.pipe)
        return str(wav), png

    # ---- the callbacks ----------------------------------------------------------------
    def generate(self, prompt: str, story: str, melody: Optional[str], duration_s: float, temperature_semantic: float,
                 temperature_coarse: float, temperature_fine: float, top_k: float, top_p: float,
                 guidance_scale: float, seed: Optional[float], randomise_seed: bool, num_candidates: float,
                 bpm: float, key: str, progress=gr.Progress(), request: gr.Request = None) -> Iterator[tuple]:
        """Yield (audio, files, spectrogram, tokens, summary, notices, seed) updates while generating."""
        values = dict(locals())
        try:
            kwargs = controls.pipeline_kwargs({k: values[k] for k in controls.SETTINGS}, melody=melody or None)
        except ValueError as error:
            raise gr.Error(str(error)) from None
        session = getattr(request, "session_hash", None) or "local"
        stop = self._stops[session] = threading.Event()
        latest, done, result = {}, threading.Event(), {}
        worker = threading.Thread(target=self._run, args=(kwargs, latest, stop, done, result), daemon=True)
        worker.start()
        segments = kwargs["prompt"] if not isinstance(kwargs["prompt"], str) else None
        total_s = sum(seconds for _, seconds in segments) if segments else duration_s
        skip = gr.update()
        try:
            yield from self._follow(latest, done, progress, total_s, skip)
        finally:
            stop.set()  # a closed / cancelled stream stops the worker too
            worker.join(timeout=60)
            if self._stops.get(session) is stop:
                del self._stops[session]
        yield self._finish(result, skip)

    def _follow(self, latest: dict, done: threading.Event, progress, total_s, skip) -> Iterator[tuple]:
        """Poll the newest events (a sleeping reader leaves the CPU and the GIL to the worker)."""
        streams: dict[str, Any] = {}
        seen, last_draw = set(), 0.0
        progress(0.0, desc="conditioning")
        while not done.wait(POLL_S):
            snapshot = dict(latest)
            if not snapshot:
                continue
            stage = max(snapshot, key=STAGES.index)
            event = snapshot[stage]
            progress((STAGES.index(stage) + event.fraction) / len(STAGES), desc=f"{stage}: {event.step}/{event.total}")
            if "conditioning" in snapshot:
                streams["mulan"] = snapshot["conditioning"].tokens[None]  # [1, N, 12]
            streams.update({s: snapshot[s].tokens for s in ("semantic", "coarse", "fine") if s in snapshot})
            due = stage not in seen or time.perf_counter() - last_draw > REDRAW_S
            seen.add(stage)
            if due and stage != "decode":
                last_draw = time.perf_counter()
                live = viz.token_strip_image(streams, self.palettes, self.pipe, duration_s=total_s)
                yield skip, skip, skip, live, skip, f"Generating: {stage} …", skip

    def _finish(self, result: dict, skip) -> tuple:
        error = result.get("error")
        if isinstance(error, Stopped):
            return skip, skip, skip, skip, skip, "Stopped.", skip
        if isinstance(error, ValueError):
            raise gr.Error(str(error))
        if error is not None:
            log.error("generation failed", exc_info=error)
            raise gr.Error(f"Generation failed ({type(error).__name__}: {error}). Try other settings.")
        out = result["output"]
        wav, png = self._files(out)
        notices = "\n".join(f"- {n}" for n in out.notices) or "No notices."
        return (wav, [wav, png], self._spectrogram_image(out.audio, out.sample_rate),
                self._token_image(out.tokens), controls.summary_markdown(out), notices, out.seed)

    def stop(self, request: gr.Request = None) -> str:
        session = getattr(request, "session_hash", None) or "local"
        if session in self._stops:
            self._stops[session].set()
        return "Stopping…"


def _makedirs(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def _component(control: controls.Control, pipe):
    """The Gradio component of one shared control definition, starting at its value for ``pipe``."""
    c = replace(control, default=controls.control_default(control, pipe))
    if c.kind == "float" or c.kind == "int":
        return gr.Slider(c.minimum, c.maximum, value=c.default, step=c.step, label=c.label, info=c.info,
                         elem_id=c.name)
    if c.kind == "seed":
        return gr.Number(value=c.default, precision=0, label=c.label, info=c.info, elem_id=c.name, minimum=0)
    if c.kind == "bool":
        return gr.Checkbox(value=c.default, label=c.label, info=c.info, elem_id=c.name)
    if c.kind == "choice":
        return gr.Dropdown(choices=list(c.choices), value=c.default, label=c.label, info=c.info, elem_id=c.name)
    lines = 4 if c.name == "story" else 2
    return gr.Textbox(value=c.default, label=c.label, info=c.info, lines=lines, elem_id=c.name,
                      placeholder="5: calm piano intro\n5: drums and bass come in" if c.name == "story" else
                      controls.EXAMPLE_PROMPTS[0])


def build_demo(pipe, concurrency_limit: int = 1) -> gr.Blocks:
    """The studio app for a loaded ``MusicLMPipeline`` (queue set, not launched)."""
    handler = GenerateHandler(pipe)
    C = controls.CONTROLS
    with gr.Blocks(title="MusicLM Studio", delete_cache=(3600, 7200)) as demo:
        gr.Markdown("# MusicLM Studio\nText (and an optional melody) to music, with every token stream on show.")
        gr.Markdown(controls.model_status(pipe), elem_id="model-status")
        widgets: dict[str, Any] = {}
        with gr.Row():
            with gr.Column(scale=1):
                widgets["prompt"] = _component(C["prompt"], pipe)
                gr.Examples([[p] for p in controls.EXAMPLE_PROMPTS], inputs=[widgets["prompt"]], label="Example prompts")
                gr.Markdown(controls.MUSICCAPS_ATTRIBUTION)
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                widgets["duration_s"] = _component(C["duration_s"], pipe)
                widgets["bpm"] = _component(C["bpm"], pipe)
                widgets["key"] = _component(C["key"], pipe)
                with gr.Accordion("Story mode and melody", open=False):
                    widgets["story"] = _component(C["story"], pipe)
                    melody = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="melody",
                                      label="Melody to follow (hum, whistle or play; optional)")
                with gr.Accordion("Sampling", open=False):
                    for name in ("temperature_semantic", "temperature_coarse", "temperature_fine", "top_k", "top_p",
                                 "guidance_scale", "num_candidates"):
                        widgets[name] = _component(C[name], pipe)
                    with gr.Row():
                        widgets["seed"] = _component(C["seed"], pipe)
                        widgets["randomise_seed"] = _component(C["randomise_seed"], pipe)
            with gr.Column(scale=2):
                audio = gr.Audio(label="Generated audio", type="filepath", interactive=False, elem_id="audio",
                                 buttons=["download"])
                tokens = gr.Image(label="Token streams: similar codes, similar colours", type="numpy",
                                  interactive=False, elem_id="token-streams")
                spectrogram = gr.Image(label="Mel spectrogram (dB)", type="numpy", interactive=False,
                                       elem_id="spectrogram")
                summary = gr.Markdown(elem_id="summary")
                notices = gr.Markdown(elem_id="notices")
                files = gr.File(label="Download (WAV + overview PNG)", file_count="multiple", elem_id="files")
        with gr.Accordion("About this model", open=False):
            gr.Markdown(controls.about_markdown(pipe))
        inputs = [widgets["prompt"], widgets["story"], melody] + [widgets[n] for n in controls.SETTINGS[2:]]
        outputs = [audio, files, spectrogram, tokens, summary, notices, widgets["seed"]]
        events = [generate.click, widgets["prompt"].submit]
        gr.on(events, handler.generate, inputs, outputs, concurrency_limit=concurrency_limit,
              concurrency_id="generate", show_progress_on=[audio])  # the token image stays visible
        stop.click(handler.stop, None, notices, queue=False)  # the worker stops at its next step
    demo.queue(max_size=16, default_concurrency_limit=concurrency_limit)
    demo.handler = handler  # the Python callables, for tests and notebooks
    return demo


def launch(pipe, host: str = "127.0.0.1", port: int = 7860, share: bool = False, **kwargs) -> None:
    """Build the app for ``pipe`` and serve it (blocks until the server stops)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    pipe.show_progress = False
    pipe.encode_conditioning("warm-up")  # load the text tower now, so the first click is fast
    build_demo(pipe).launch(server_name=host, server_port=port, share=share, ssr_mode=False, **kwargs)
