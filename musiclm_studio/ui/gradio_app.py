"""The Gradio studio: ``build_demo(pipe)`` returns the app, ``launch(pipe, ...)`` serves it.

The controls come from ``ui/controls.py``. Requests go to the micro-batcher (``ui/batcher.py``),
whose worker thread runs the pipeline, users' compatible requests as one batch; its callback keeps
the newest ``StageEvent`` per stage for a generator that drives ``gr.Progress`` and redraws the
token-stream image as tokens arrive, then yields the audio, spectrogram, MuLan score and timings.
The Stop button sets a per-session flag that the callback checks, so the run ends at its next
step (a batch when all its users stopped) and the stream ends with "Stopped.", the previous clip cleared and
the tokens made so far drawn with labels. Every ``ValueError`` becomes a ``gr.Error`` with its
message (server paths shortened to file names) and one log line; anything else is logged with
its traceback and reported briefly, so a bad input never takes the server down.

``ServeLimits`` holds what a public server needs bounded (upload size, kept output files, queue
length), from ``MUSICLM_*`` environment variables or ``app.py`` flags (README, "Limits").
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Iterator, Optional

import gradio as gr

from .. import midi, viz
from ..audio import save_audio
from ..config import STAGES, TOKEN_STREAMS
from ..sampling_args import DEFAULTS
from . import controls, exports
from .batcher import MicroBatcher, Stopped
from .jam_tab import add_jam_tab
from .edit_panel import EditPanel

log = logging.getLogger(__name__)
REDRAW_S = 0.5  # at most one live token image per this many seconds (x the batch size: drawing costs CPU)
POLL_S = 0.25  # how often the UI thread looks at the newest pipeline event


@dataclass
class ServeLimits:
    """What a public server keeps bounded; ``from_env`` reads ``MUSICLM_<FIELD>`` (upper case)."""

    max_upload_mb: float = 20.0  # melody uploads (Gradio refuses bigger files before they reach us)
    output_ttl_s: float = 3600.0  # generated WAV / PNG files older than this are deleted
    max_outputs: int = 100  # and at most this many generations' files are kept
    queue_size: int = 64  # requests waiting beyond this get "Queue is full"
    max_batch_size: int = 16  # users' compatible requests generated as one batch (1: one at a time)

    @classmethod
    def from_env(cls, **overrides) -> "ServeLimits":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"MUSICLM_{f.name.upper()}")
            if overrides.get(f.name) is not None:
                values[f.name] = overrides[f.name]
            elif raw:
                try:
                    values[f.name] = type(f.default)(raw)
                except ValueError:
                    raise ValueError(f"MUSICLM_{f.name.upper()} must be a number, got {raw!r}.") from None
        limits = cls(**values)
        if min(limits.max_upload_mb, limits.output_ttl_s, limits.max_outputs, limits.queue_size) <= 0:
            raise ValueError(f"Serve limits must be positive, got {limits}.")
        return limits


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:,;()]+)+[\\/]([^\s'\"\\/:,;()]+)")


def public_message(message: str) -> str:
    """An error message for the browser: absolute paths (server temp folders) cut to their file name."""
    return _PATH.sub(r"\1", message)


def _user_error(message: str) -> gr.Error:
    """A refused input: one log line, no traceback, the message (paths cut) for the user."""
    message = public_message(message)
    log.info("input refused: %s", message.replace("\n", " "))
    return gr.Error(message, print_exception=False)


def prune_outputs(folder: str, ttl_s: float, max_count: int) -> int:
    """Delete the ``gen-*`` folders in ``folder`` older than ``ttl_s`` or beyond the newest ``max_count``;
    returns how many were deleted."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith("gen-") and e.is_dir()]
    except FileNotFoundError:
        return 0
    entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    now, removed = time.time(), 0
    for i, entry in enumerate(entries):
        if i >= max_count or now - entry.stat().st_mtime > ttl_s:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


class GenerateHandler:
    """The app's generate and stop callbacks for one pipeline (one handler per demo)."""

    def __init__(self, pipe, output_dir: Optional[str] = None, limits: Optional[ServeLimits] = None):
        self.pipe = pipe
        self.palettes = viz.token_palettes(pipe)
        self.output_dir = output_dir or os.path.join(tempfile.gettempdir(), "musiclm-studio")
        self.limits = limits or ServeLimits()
        self.batcher = MicroBatcher(pipe, max_batch_size=self.limits.max_batch_size)
        self._stops: dict[str, threading.Event] = {}
        self._outputs: dict[str, Any] = {}  # each session's last generated output, for the Edit area

    def last_output(self, session: str):
        """This session's last generated ``MusicLMOutput`` (None when its last run made none)."""
        return self._outputs.get(session)

    # ---- helpers ----------------------------------------------------------------------
    def _token_image(self, tokens):
        return viz.token_streams_image(tokens, self.pipe, palettes=self.palettes)

    def _spectrogram_image(self, audio, sample_rate: int):
        return viz.spectrogram_image(audio, sample_rate, self.pipe)

    def _files(self, out, spectrogram, tokens) -> tuple[str, str]:
        """The clip's WAV and an overview PNG: the spectrogram and token images already drawn for the page,
        one above the other (drawing them a third time cost each user of a batch 0.37 s of the server)."""
        folder = tempfile.mkdtemp(prefix="gen-", dir=_makedirs(self.output_dir))
        stem = os.path.join(folder, "musiclm" if out.seed is None else f"musiclm-seed{out.seed}")  # batched: no seed
        wav = save_audio(stem + ".wav", out.audio, out.sample_rate)
        png = viz.write_overview_png(stem + ".png", spectrogram, tokens)  # the CLI's overview too
        prune_outputs(self.output_dir, self.limits.output_ttl_s, self.limits.max_outputs)
        return str(wav), png

    # ---- the callbacks ----------------------------------------------------------------
    def generate(self, prompt: str = "", story: str = "", melody: Optional[str] = None,
                 duration_s: float = DEFAULTS["duration_s"],
                 temperature_semantic: float = DEFAULTS["temperature_semantic"],
                 temperature_coarse: float = DEFAULTS["temperature_coarse"],
                 temperature_fine: float = DEFAULTS["temperature_fine"], top_k: float = DEFAULTS["top_k"],
                 top_p: float = DEFAULTS["top_p"], guidance_scale: float = DEFAULTS["guidance_scale"],
                 seed: Optional[float] = 0, randomise_seed: bool = True, num_candidates: Optional[float] = None,
                 bpm: float = 0.0, key: str = "", negative_prompt: str = "", progress=gr.Progress(),
                 request: gr.Request = None) -> Iterator[tuple]:
        """Yield (audio, files, spectrogram, tokens, summary, notices, seed) updates while generating.

        The defaults are the app's own, so HTTP API callers may leave out any setting (melody too)."""
        values = dict(locals())
        if values["num_candidates"] is None:
            values["num_candidates"] = self.pipe.config.num_candidates
        try:
            kwargs = controls.pipeline_kwargs({k: values[k] for k in controls.SETTINGS}, melody=melody or None)
        except ValueError as error:
            raise _user_error(str(error)) from None
        session = getattr(request, "session_hash", None) or "local"
        job = self.batcher.submit(kwargs)
        self._stops[session] = job.stop
        streams: dict[str, Any] = {}
        segments = kwargs["prompt"] if not isinstance(kwargs["prompt"], str) else None
        total_s = sum(seconds for _, seconds in segments) if segments else duration_s
        skip = gr.update()
        try:
            yield from self._follow(job, progress, total_s, skip, streams)
        finally:
            job.stop.set()  # a closed / cancelled stream stops the job too
            if self._stops.get(session) is job.stop:
                del self._stops[session]
        self._outputs.pop(session, None)
        if "output" in job.result:
            self._outputs[session] = job.result["output"]
            while len(self._outputs) > self.limits.max_outputs:  # the oldest sessions' go first
                self._outputs.pop(next(iter(self._outputs)))
        yield self._finish(job.result, skip, streams, total_s)

    def _follow(self, job, progress, total_s, skip, streams: dict) -> Iterator[tuple]:
        """Poll the job's newest events (a sleeping reader leaves the CPU and the GIL to the worker) until
        it is done or stopped; ``streams`` collects the tokens so far."""
        seen, last_draw = set(), 0.0
        progress(0.0, desc="waiting for the batch ahead" if job.result.get("batch_size") is None else "conditioning")
        while not job.done.wait(POLL_S) and not job.stop.is_set():
            snapshot = dict(job.latest)
            if not snapshot:
                continue
            stage = max(snapshot, key=STAGES.index)
            event = snapshot[stage]
            progress((STAGES.index(stage) + event.fraction) / len(STAGES), desc=event.label)
            if "conditioning" in snapshot:
                streams["mulan"] = snapshot["conditioning"].tokens[None]  # [1, N, 12]
            streams.update({s: snapshot[s].tokens for s in ("semantic", "coarse", "fine") if s in snapshot})
            # each live image is encoded and sent per user: a batch of n redraws n times less often, so the
            # server draws about as much for a batch as for one request; alone, each new stage is drawn at once
            batch = job.result.get("batch_size", 1)
            due = (stage not in seen and batch == 1) or time.perf_counter() - last_draw > REDRAW_S * batch
            seen.add(stage)
            if due and stage != "decode":
                last_draw = time.perf_counter()
                live = viz.token_strip_image(streams, self.palettes, self.pipe, duration_s=total_s)
                yield skip, skip, skip, live, skip, f"Generating: {stage} …", skip

    def _stopped(self, streams: dict, total_s: float) -> tuple:
        """What Stop leaves: no audio, spectrogram or files of an earlier clip; the tokens made so far,
        drawn with labels on the clip's time axis, and a summary that says they are partial."""
        made = {name: tokens for name, tokens in streams.items() if name != "decode"}
        image = (self._token_image_partial(made, total_s) if any(n != "mulan" for n in made) else None)
        seconds = max((made[n].shape[-1] / rate for n, rate in viz.frame_rates(self.pipe).items() if n in made),
                      default=0.0)
        summary = (f"**Stopped** after {seconds:.1f} of {total_s:g} s of tokens: the token streams above are "
                   "partial, no audio was made." if image is not None else "**Stopped** before any tokens were made.")
        return None, None, None, image, summary, "Stopped.", gr.update()

    def _token_image_partial(self, streams: dict, total_s: float):
        shown = tuple(s for s in TOKEN_STREAMS if s != "melody" or s in streams)  # the live streams hold no melody
        return viz.figure_to_array(viz.plot_token_streams(streams, self.pipe, palettes=self.palettes, streams=shown,
                                                          duration_s=total_s, pending="not made (stopped)"))

    def _finish(self, result: dict, skip, streams: Optional[dict] = None, total_s: float = 0.0) -> tuple:
        error = result.get("error")
        if "output" not in result and (error is None or isinstance(error, Stopped)):
            return self._stopped(streams or {}, total_s)
        if isinstance(error, ValueError):
            raise _user_error(str(error))
        if error is not None:
            log.error("generation failed", exc_info=error)
            raise gr.Error(f"Generation failed ({type(error).__name__}). Try other settings; the server log has "
                           "the details.", print_exception=False)
        out = result["output"]
        spectrogram, tokens = self._spectrogram_image(out.audio, out.sample_rate), self._token_image(out.tokens)
        wav, png = self._files(out, spectrogram, tokens)
        others = result.get("batch_size", 1) - 1
        batched = ([f"Generated in one batch with {others} other request{'s' * (others > 1)}, so no seed repeats "
                    "it: untick 'Random seed each time' for a clip you can repeat."] if others else [])
        notices = "\n".join(f"- {n}" for n in out.notices + batched) or "No notices."
        return (wav, [wav, png], spectrogram, tokens, controls.summary_markdown(out), notices,
                out.seed if out.seed is not None else skip)

    def midi(self, audio_path: Optional[str]) -> tuple:
        """The current clip as MIDI: (file to download, piano roll, message); without basic-pitch the message says
        what to install."""
        try:
            result = exports.export_midi(audio_path, None, tempfile.mkdtemp(prefix="midi-", dir=_makedirs(self.output_dir)))
        except ValueError as error:
            raise _user_error(str(error)) from None
        prune_outputs(self.output_dir, self.limits.output_ttl_s, self.limits.max_outputs)
        return result.path, result.image, result.message

    def loop(self, audio_path: Optional[str], bars: float = 4) -> tuple:
        """A loop of the current clip, on the beats librosa finds: (WAV to download, message)."""
        try:
            path, message = exports.export_loop(audio_path, int(bars),
                                                tempfile.mkdtemp(prefix="loop-", dir=_makedirs(self.output_dir)))
        except ValueError as error:
            raise _user_error(str(error)) from None
        prune_outputs(self.output_dir, self.limits.output_ttl_s, self.limits.max_outputs)
        return path, message

    def stop(self, request: gr.Request = None) -> str:
        """Ask this session's running generation to stop; on an idle page there is nothing to stop."""
        session = getattr(request, "session_hash", None) or "local"
        if session in self._stops:
            self._stops[session].set()
            return "Stopping…"
        return "Nothing to stop: no generation is running."


def _makedirs(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def _component(control: controls.Control, pipe):
    """The Gradio component of one shared control definition, starting at its value for ``pipe``."""
    c = controls.control_for(control, pipe)
    if c.kind == "float" or c.kind == "int":
        return gr.Slider(c.minimum, c.maximum, value=c.default, step=c.step, label=c.label, info=c.info,
                         elem_id=c.name)
    if c.kind == "seed":  # no precision: Gradio's rounding would fail on NaN with no message; check_seed says why
        return gr.Number(value=c.default, label=c.label, info=c.info, elem_id=c.name, step=1)
    if c.kind == "bool":
        return gr.Checkbox(value=c.default, label=c.label, info=c.info, elem_id=c.name)
    if c.kind == "choice":
        return gr.Dropdown(choices=list(c.choices), value=c.default, label=c.label, info=c.info, elem_id=c.name)
    return gr.Textbox(value=c.default, label=c.label, info=c.info, lines=controls.TEXT_LINES.get(c.name, 2),
                      elem_id=c.name, placeholder=controls.PLACEHOLDERS.get(c.name, ""))


def build_demo(pipe, limits: Optional[ServeLimits] = None, output_dir: Optional[str] = None) -> gr.Blocks:
    """The studio app for a loaded ``MusicLMPipeline`` (queue set, not launched). Up to
    ``limits.max_batch_size`` requests are taken at once; the micro-batcher runs them one pipeline
    call at a time, compatible ones as one batch (``ui/batcher.py``)."""
    limits = limits or ServeLimits.from_env()
    concurrency_limit = limits.max_batch_size
    handler = GenerateHandler(pipe, output_dir=output_dir, limits=limits)
    C = controls.CONTROLS
    ttl = int(limits.output_ttl_s)  # Gradio's own copies of the outputs expire with ours
    with gr.Blocks(title="MusicLM Studio", delete_cache=(max(60, min(ttl, 3600)), ttl)) as demo:
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
                widgets["negative_prompt"] = _component(C["negative_prompt"], pipe)
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
                summary = gr.Markdown(elem_id="summary", label="Summary", show_label=False)
                notices = gr.Markdown(elem_id="notices", label="Notices", show_label=False)
                files = gr.File(label="Download (WAV + overview PNG)", file_count="multiple", elem_id="files")
                with gr.Accordion("MIDI and loop", open=False):
                    gr.Markdown(exports.midi_status(), elem_id="midi-status")
                    with gr.Row():
                        midi_button = gr.Button("Transcribe to MIDI", elem_id="midi", interactive=midi.available())
                        loop_bars = gr.Slider(1, 16, value=4, step=1, label="Loop bars", elem_id="loop-bars")
                        loop_button = gr.Button("Make loop", elem_id="loop")
                    export_file = gr.File(label="Download MIDI / loop", elem_id="export-file")
                    roll = gr.Image(label="Piano roll", type="numpy", interactive=False, elem_id="piano-roll")
                    export_note = gr.Markdown(elem_id="export-note")
                edit = EditPanel(pipe, handler).build()
        with gr.Accordion("About this model", open=False):
            gr.Markdown(controls.about_markdown(pipe))
        jam = add_jam_tab(pipe)  # endless music steered while it plays (ui/jam_tab.py)
        inputs = [widgets["prompt"], widgets["story"], melody] + [widgets[n] for n in controls.SETTINGS[2:]]
        outputs = [audio, files, spectrogram, tokens, summary, notices, widgets["seed"]]
        events = [generate.click, widgets["prompt"].submit]
        generated = gr.on(events, handler.generate, inputs, outputs, concurrency_limit=concurrency_limit,
                          api_name="generate", concurrency_id="generate", show_progress_on=[audio])  # tokens stay visible
        edit.wire(generated)
        midi_button.click(handler.midi, audio, [export_file, roll, export_note], api_name="midi")
        loop_button.click(handler.loop, [audio, loop_bars], [export_file, export_note], api_name="loop")
        stop.click(handler.stop, None, notices, queue=False, api_name="stop")  # the worker stops at its next step
    demo.queue(max_size=limits.queue_size, default_concurrency_limit=concurrency_limit)
    demo.limits = limits
    demo.handler = handler  # the Python callables, for tests and notebooks
    demo.jam_handler = jam
    demo.edit_panel = edit
    return demo


def launch(pipe, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           limits: Optional[ServeLimits] = None, prevent_thread_lock: bool = False, **kwargs) -> gr.Blocks:
    """Build the app for ``pipe`` and serve it (blocks until the server stops, unless
    ``prevent_thread_lock``; then returns the running app, ``demo.close()`` stops it)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if not logging.getLogger().handlers:  # one line per refused input, tracebacks for server bugs
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("musiclm_studio").setLevel(logging.INFO)
    limits = limits or ServeLimits.from_env()
    pipe.show_progress = False
    pipe.encode_conditioning("warm-up")  # load the text tower now, so the first click is fast
    demo = build_demo(pipe, limits=limits)
    demo.jam_handler.warm_up()  # and run each stage once on each jam thread
    demo.launch(server_name=host, server_port=port, share=share, ssr_mode=False,
                max_file_size=int(limits.max_upload_mb * 1024 * 1024), prevent_thread_lock=prevent_thread_lock,
                **kwargs)
    return demo
