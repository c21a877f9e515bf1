"""Jupyter widgets for the studio: ``Studio(pipe).display()``.

The same controls as the Gradio app (built from ``ui/controls.py``), a progress bar per stage
and a live token picture fed by the pipeline callback while generating, then an Audio widget,
the spectrogram and the labelled token-stream figure. ``Studio.generate()`` runs one generation
from the current control values (the Generate button calls it) and returns the
``MusicLMOutput``; a ``ValueError`` from the pipeline is shown in the error line, not raised.
The Edit box below the result applies the app's edit actions (``edit_actions``: vary, repaint,
extend) to the version shown: ``Studio.edit(action, ...)``, ``Studio.undo()`` and the versions
dropdown move through the clip's history (``Studio.history``).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Optional

import ipywidgets as W

from .. import midi, viz
from ..audio import save_audio
from ..config import STAGES
from . import controls, edit_actions, exports
from .edit_actions import ACTIONS, EditHistory

REDRAW_S = 0.5  # at most one live token picture per this many seconds


def _widget(control: controls.Control, pipe):
    """The ipywidget of one shared control definition, starting at its value for ``pipe``."""
    c = controls.control_for(control, pipe)
    style, layout = {"description_width": "150px"}, W.Layout(width="95%")
    common = dict(description=c.label, tooltip=c.info, style=style, layout=layout)
    if c.kind == "float":
        return W.FloatSlider(value=c.default, min=c.minimum, max=c.maximum, step=c.step, **common)
    if c.kind == "int":
        return W.IntSlider(value=c.default, min=c.minimum, max=c.maximum, step=c.step, **common)
    if c.kind == "seed":
        return W.IntText(value=c.default, **common)
    if c.kind == "bool":
        return W.Checkbox(value=c.default, indent=False, description=c.label, tooltip=c.info)
    if c.kind == "choice":
        return W.Dropdown(options=list(c.choices), value=c.default, **common)
    return W.Textarea(value=c.default, placeholder=controls.PLACEHOLDERS.get(c.name, ""),
                      rows=controls.TEXT_LINES.get(c.name, 2), **common)


class Studio:
    """The studio as ipywidgets for one loaded ``MusicLMPipeline``."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.palettes = viz.token_palettes(pipe)
        self.controls = {name: _widget(control, pipe) for name, control in controls.CONTROLS.items()}
        self.examples = W.Dropdown(options=[("Example prompts …", "")] + [(p[:90], p) for p in controls.EXAMPLE_PROMPTS],
                                   layout=W.Layout(width="95%"))
        self.examples.observe(self._use_example, names="value")
        self.melody = W.FileUpload(accept="audio/*", multiple=False, description="Melody file")
        self.generate_button = W.Button(description="Generate", button_style="primary", icon="music")
        self.generate_button.on_click(lambda _: self.generate())
        self.bars = {s: W.FloatProgress(value=0, min=0, max=1, description=s, style={"description_width": "90px"})
                     for s in STAGES}
        self.status = W.HTML()
        self.error = W.HTML()
        self.tokens = W.Image(format="png", layout=W.Layout(max_width="900px"))
        self.spectrogram = W.Image(format="png", layout=W.Layout(max_width="900px"))
        self.audio = W.Audio(format="wav", autoplay=False, loop=False)
        self.summary = W.HTML()
        self.output = None  # the MusicLMOutput shown (the current version)
        self.history: Optional[EditHistory] = None
        self._build_edit_box()
        self.midi_button = W.Button(description="MIDI", icon="music", disabled=not midi.available(),
                                    tooltip="transcribe the clip to MIDI (Basic Pitch)")
        self.midi_button.on_click(lambda _: self.export_midi())
        self.loop_bars = W.IntSlider(value=4, min=1, max=16, description="Loop bars")
        self.loop_button = W.Button(description="Loop", icon="repeat", tooltip="a seamless loop on the beat grid")
        self.loop_button.on_click(lambda _: self.export_loop())
        self.export_note = W.HTML(_markdown_html(exports.midi_status()))
        self.piano_roll = W.Image(format="png", layout=W.Layout(max_width="900px"))
        self.export_dir: Optional[str] = None  # made at the first export
        self.widget = self._layout()

    def _build_edit_box(self) -> None:
        style, layout = {"description_width": "150px"}, W.Layout(width="95%")
        self.edit_controls = {
            "action": W.Dropdown(options=[(label, key) for key, label in ACTIONS.items()], value="vary",
                                 description="Action", style=style, layout=layout),
            "prompt": W.Text(value="", placeholder="empty: the clip's own prompt", description="New prompt",
                             style=style, layout=layout),
            "start_s": W.FloatText(value=2.0, description="Repaint start (s)", style=style),
            "end_s": W.FloatText(value=4.0, description="Repaint end (s)", style=style),
            "seconds": W.FloatText(value=5.0, description="Extend by (s)", style=style),
            "seed": W.Text(value="", placeholder="empty: random", description="Seed", style=style),
        }
        self.edit_button = W.Button(description="Apply to the current version", button_style="primary")
        self.edit_button.on_click(lambda _: self.edit())
        self.undo_button = W.Button(description="Undo")
        self.undo_button.on_click(lambda _: self.undo())
        self.versions = W.Dropdown(options=[], description="Versions", style=style, layout=layout)
        self._listing = False  # True while the versions list is being refilled (not a user's pick)
        self.versions.observe(lambda change: None if self._listing or change["new"] is None else self.go(change["new"]),
                              names="value")
        self.edit_status = W.HTML("Generate a clip first: edits apply to the clip shown.")
        self.edit_box = W.VBox([W.HTML(f"<b>Edit this clip</b><br><small>{edit_actions.ACTION_HELP}</small>"),
                                *self.edit_controls.values(), W.HBox([self.edit_button, self.undo_button]),
                                self.versions, self.edit_status])

    def _layout(self) -> W.Widget:
        c = self.controls
        sampling = W.VBox([c[n] for n in ("temperature_semantic", "temperature_coarse", "temperature_fine", "top_k",
                                          "top_p", "guidance_scale", "num_candidates", "seed", "randomise_seed")])
        extras = W.Accordion(children=[W.VBox([c["story"], self.melody]), sampling])
        extras.set_title(0, "Story mode and melody")
        extras.set_title(1, "Sampling")
        left = W.VBox([W.HTML(_markdown_html(controls.model_status(self.pipe))), c["prompt"], self.examples,
                       W.HTML(f"<small>{_markdown_html(controls.MUSICCAPS_ATTRIBUTION)}</small>"), c["duration_s"],
                       c["bpm"], c["key"], c["negative_prompt"], extras, self.generate_button, self.error], layout=W.Layout(width="45%"))
        exporting = W.VBox([W.HBox([self.midi_button, self.loop_bars, self.loop_button]), self.export_note,
                            self.piano_roll])
        right = W.VBox([W.VBox(list(self.bars.values())), self.status, self.audio, self.tokens, self.spectrogram,
                        self.summary, exporting, self.edit_box], layout=W.Layout(width="55%"))
        return W.HBox([left, right])

    def _use_example(self, change) -> None:
        if change["new"]:
            self.controls["prompt"].value = change["new"]

    def _melody_path(self) -> Optional[str]:
        files = self.melody.value
        if not files:
            return None
        item = files[0]
        suffix = os.path.splitext(item["name"])[1] or ".wav"
        handle, path = tempfile.mkstemp(prefix="melody-", suffix=suffix)
        with os.fdopen(handle, "wb") as f:
            f.write(bytes(item["content"]))
        return path

    def values(self) -> dict[str, Any]:
        """The current control values, keyed like ``controls.CONTROLS``."""
        return {name: widget.value for name, widget in self.controls.items()}

    def _callback(self, streams: dict, total_s: float):
        last = [0.0]

        def on_event(event) -> None:
            self.bars[event.stage].value = event.fraction
            self.status.value = event.label
            if event.stage == "conditioning":
                streams["mulan"] = event.tokens[None]
            elif event.stage in ("semantic", "coarse", "fine"):
                streams[event.stage] = event.tokens
            if event.stage != "decode" and (event.step == event.total or time.perf_counter() - last[0] > REDRAW_S):
                last[0] = time.perf_counter()
                image = viz.token_strip_image(streams, self.palettes, self.pipe, duration_s=total_s)
                self.tokens.value = viz.array_to_png(image)
        return on_event

    def generate(self, **overrides):
        """Generate with the current controls (``overrides`` set controls first); returns the output or None."""
        for name, value in overrides.items():
            self.controls[name].value = value
        self.error.value = ""
        for bar in self.bars.values():
            bar.value = 0
        melody = self._melody_path()
        try:
            kwargs = controls.pipeline_kwargs(self.values(), melody=melody)
            story = kwargs["prompt"] if not isinstance(kwargs["prompt"], str) else None
            total_s = sum(s for _, s in story) if story else kwargs["duration_s"]
            out = self.pipe(**kwargs, callback=self._callback({}, total_s))
        except ValueError as error:
            self.error.value = f"<b style='color:#c00'>{error}</b>"
            self.status.value = "Not generated: fix the setting above."
            return None
        finally:
            if melody is not None:
                os.remove(melody)
        self.history = EditHistory(out)
        self._show(out)
        self._show_history()
        return out

    # ---- editing ------------------------------------------------------------------------------
    def edit(self, action: Optional[str] = None, **overrides):
        """Apply an edit action to the version shown (``overrides`` set the edit controls first, e.g.
        ``edit("repaint", start_s=1, end_s=3, prompt="a drum break")``); returns the new output or None."""
        c = self.edit_controls
        if action is not None:
            c["action"].value = action
        for name, value in overrides.items():
            c[name].value = value
        if self.history is None:
            self.edit_status.value = "<b style='color:#c00'>Generate a clip first: edits apply to the clip shown.</b>"
            return None
        try:
            seed = c["seed"].value.strip()
            version = self.history.apply(self.pipe, c["action"].value, prompt=c["prompt"].value, start_s=c["start_s"].value,
                                         end_s=c["end_s"].value, seconds=c["seconds"].value, seed=seed or None,
                                         callback=self._callback({}, self.output.duration_s))
        except ValueError as error:
            self.edit_status.value = f"<b style='color:#c00'>{error}</b>"
            return None
        self._show(version.output)
        self._show_history()
        return version.output

    def undo(self):
        """Back to the version the one shown was made from; returns its output."""
        if self.history is None:
            return None
        version = self.history.undo()
        self._show(version.output)
        self._show_history()
        return version.output

    def go(self, index: int):
        """Show version ``index`` (0 = the generated clip); further edits apply to it."""
        if self.history is None or index == self.history.current:
            return None
        version = self.history.go(index)
        self._show(version.output)
        self._show_history()
        return version.output

    def _show_history(self) -> None:
        self._listing = True
        try:
            self.versions.options = [(label, i) for i, label in enumerate(self.history.labels())]
            self.versions.value = self.history.current
        finally:
            self._listing = False
        self.edit_status.value = _markdown_html(edit_actions.changes_markdown(self.history, self.pipe))

    def _show(self, out) -> None:
        self.output = out
        with tempfile.TemporaryDirectory() as folder:
            with open(save_audio(os.path.join(folder, "clip.wav"), out.audio, out.sample_rate), "rb") as f:
                self.audio.value = f.read()
        self.tokens.value = viz.array_to_png(viz.token_streams_image(out.tokens, self.pipe, palettes=self.palettes))
        self.spectrogram.value = viz.array_to_png(viz.spectrogram_image(out.audio, out.sample_rate, self.pipe))
        self.controls["seed"].value = out.seed if out.seed is not None else self.controls["seed"].value
        self.summary.value = _markdown_html(controls.summary_markdown(out)) + "".join(
            f"<br><i>{notice}</i>" for notice in out.notices)
        self.status.value = "Done."

    def jam(self, prompt: Optional[str] = None):
        """The jam for this pipeline (``ui/jam_widget.Jam``), starting from this studio's prompt; display it."""
        from .jam_widget import Jam

        return Jam(self.pipe, prompt or self.controls["prompt"].value or "a funky groove with drums and slap bass")

    def _export_folder(self) -> str:
        self.export_dir = self.export_dir or tempfile.mkdtemp(prefix="musiclm-studio-")
        return self.export_dir

    def export_midi(self) -> Optional[exports.MidiResult]:
        """The last clip as MIDI (the MIDI button): writes the .mid, shows the piano roll; returns the result."""
        self.error.value = ""
        try:
            out = self.output
            result = exports.export_midi(None if out is None else out.audio, None if out is None else out.sample_rate,
                                         self._export_folder(), "musiclm" if out is None or out.seed is None
                                         else f"musiclm-seed{out.seed}")
        except ValueError as error:
            self.error.value = f"<b style='color:#c00'>{error}</b>"
            return None
        self.export_note.value = result.message + (f"<br>MIDI file: <code>{result.path}</code>" if result.path else "")
        if result.image is not None:
            self.piano_roll.value = viz.array_to_png(result.image)
        return result

    def export_loop(self) -> Optional[str]:
        """A loop of the last clip on its beat grid (the Loop button): writes the WAV; returns its path."""
        self.error.value = ""
        try:
            path, message = exports.export_loop(self.output, self.loop_bars.value, self._export_folder())
        except ValueError as error:
            self.error.value = f"<b style='color:#c00'>{error}</b>"
            return None
        self.export_note.value = f"{message}<br>Loop file: <code>{path}</code>"
        return path

    def display(self) -> W.Widget:
        """Show the studio in the notebook (and return its root widget)."""
        from IPython.display import display

        display(self.widget)
        return self.widget

    def _ipython_display_(self) -> None:
        self.display()


def _markdown_html(text: str) -> str:
    """The little markdown the shared texts use (bold, code, links, line breaks) as HTML."""
    import re

    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    text = re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2" target="_blank">\1</a>', text)
    return text.replace("  \n", "<br>")
