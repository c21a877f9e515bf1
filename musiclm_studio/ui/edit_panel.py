"""The Gradio app's Edit area: vary, repaint or extend the current clip, with a history of versions.

``EditPanel(pipe, handler).build()`` lays out the area (inside the caller's Blocks, under the
result); ``wire(generate_event)`` starts a new history from every finished generation (the
generate handler keeps each session's last output). Each version's WAV (and its tokens file, for
``musiclm-studio vary / repaint / extend``) is saved and listed for download; the history
dropdown and Undo go back to any version, and further edits apply to the version shown. The
token view draws the version's streams: a kept stream is the very tokens it came from, and the
summary line says which streams an edit left unchanged. "Download MIDI of this version" transcribes
the version shown and draws its piano roll (``ui/exports.py``). The logic lives in ``edit_actions``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Optional

import gradio as gr

from .. import midi, viz
from ..config import STAGES
from ..output_io import save_output
from . import edit_actions, exports
from .edit_actions import ACTIONS, EditHistory

NO_CLIP = "Generate a clip first: edits apply to the clip above."


class EditPanel:
    """The Edit area's components and callbacks for one pipeline (one per demo)."""

    def __init__(self, pipe, handler):
        self.pipe, self.handler = pipe, handler
        self.lock = threading.Lock()  # one edit at a time (the generate worker has its own thread)

    # ---- layout -----------------------------------------------------------------------------
    def build(self) -> "EditPanel":
        duration = float(self.pipe.config.max_duration_s)
        with gr.Accordion("Edit this clip", open=True, elem_id="edit-area"):
            gr.Markdown(edit_actions.ACTION_HELP)
            self.state = gr.State(None)
            with gr.Row():
                self.action = gr.Radio([(label, key) for key, label in ACTIONS.items()], value="vary",
                                       label="Action", elem_id="edit-action")
            self.prompt = gr.Textbox(label="New prompt (optional)", elem_id="edit-prompt", lines=1,
                                     placeholder="empty: the clip's own prompt")
            with gr.Row():
                self.start = gr.Number(value=2.0, minimum=0.0, maximum=duration, label="Repaint start (s)",
                                       elem_id="edit-start")
                self.end = gr.Number(value=4.0, minimum=0.0, maximum=duration, label="Repaint end (s)",
                                     elem_id="edit-end")
                self.seconds = gr.Number(value=5.0, minimum=0.0, maximum=duration, label="Extend by (s)",
                                         elem_id="edit-seconds")
                self.seed = gr.Number(value=None, label="Seed (empty: random)", elem_id="edit-seed", step=1)
            with gr.Row():
                self.apply_button = gr.Button("Apply to the current version", variant="primary", elem_id="edit-apply")
                self.undo_button = gr.Button("Undo (back to its source)", elem_id="edit-undo")
            self.history = gr.Dropdown(choices=[], label="Versions (pick one to go back to it)", elem_id="edit-history",
                                       interactive=True)
            self.summary = gr.Markdown(NO_CLIP, elem_id="edit-summary")
            self.audio = gr.Audio(label="Current version", type="filepath", interactive=False, elem_id="edit-audio",
                                  buttons=["download"])
            self.tokens = gr.Image(label="Its token streams", type="numpy", interactive=False, elem_id="edit-tokens")
            self.spectrogram = gr.Image(label="Its spectrogram", type="numpy", interactive=False,
                                        elem_id="edit-spectrogram")
            self.files = gr.File(label="Every version (WAV + tokens)", file_count="multiple", elem_id="edit-files")
            with gr.Row():
                self.midi_button = gr.Button("Download MIDI of this version", elem_id="edit-midi",
                                             interactive=midi.available())
                self.midi_file = gr.File(label="MIDI", elem_id="edit-midi-file")
            self.midi_note = gr.Markdown(exports.midi_status(), elem_id="edit-midi-note")
            self.piano_roll = gr.Image(label="Piano roll of this version", type="numpy", interactive=False,
                                       elem_id="edit-piano-roll")
        self._events()
        return self

    def _views(self) -> list:
        return [self.state, self.history, self.summary, self.audio, self.tokens, self.spectrogram, self.files]

    def _events(self) -> None:
        inputs = [self.state, self.action, self.prompt, self.start, self.end, self.seconds, self.seed]
        self.apply_button.click(self.apply, inputs, self._views(), api_name="edit", concurrency_limit=1,
                                concurrency_id="edit", show_progress_on=[self.audio])
        self.undo_button.click(self.undo, [self.state], self._views(), api_name="edit_undo")
        self.history.input(self.go, [self.state, self.history], self._views(), api_name="edit_go")
        # the generate handler's MIDI export (ui/exports.py), on the version shown
        self.midi_button.click(self.handler.midi, self.audio, [self.midi_file, self.piano_roll, self.midi_note],
                               api_name="edit_midi")

    def wire(self, generate_event) -> None:
        """Start a history from each finished generation (``generate_event``: the generate event)."""
        generate_event.then(self.adopt, None, self._views(), api_name=False)

    # ---- callbacks ----------------------------------------------------------------------------
    def adopt(self, request: gr.Request = None) -> tuple:
        """A new history from this session's newly generated clip (nothing when it was stopped)."""
        out = self.handler.last_output(getattr(request, "session_hash", None) or "local")
        if out is None:
            return (gr.update(),) * len(self._views())
        return self._show(EditHistory(out))

    def apply(self, history: Optional[EditHistory], action: str, prompt: str, start_s, end_s, seconds, seed,
              progress=gr.Progress()) -> tuple:
        if history is None:
            raise gr.Error(NO_CLIP, print_exception=False)

        def report(event) -> None:
            progress((STAGES.index(event.stage) + event.fraction) / len(STAGES), desc=event.label)
        try:
            seed = None if seed is None or seed == "" else seed
            with self.lock:
                history.apply(self.pipe, action, prompt=prompt, start_s=start_s, end_s=end_s, seconds=seconds,
                              seed=seed, callback=report)
        except ValueError as error:
            from .gradio_app import _user_error

            raise _user_error(str(error)) from None
        return self._show(history)

    def undo(self, history: Optional[EditHistory]) -> tuple:
        if history is None:
            raise gr.Error(NO_CLIP, print_exception=False)
        history.undo()
        return self._show(history)

    def go(self, history: Optional[EditHistory], label: str) -> tuple:
        if history is None or label not in history.labels():
            return (gr.update(),) * len(self._views())
        history.go(history.index_of(label))
        return self._show(history)

    # ---- drawing -------------------------------------------------------------------------------
    def _saved(self, version) -> list[str]:
        if not version.files:
            folder = tempfile.mkdtemp(prefix="gen-", dir=_makedirs(self.handler.output_dir))
            name = version.label.split(":")[0]  # v1, v2, ...
            wav, tokens = save_output(os.path.join(folder, f"musiclm-{name}.wav"), version.output)
            version.files = [wav, tokens]
        return version.files

    def _show(self, history: EditHistory) -> tuple:
        version = history.versions[history.current]
        out = version.output
        tokens = viz.figure_to_array(viz.plot_token_streams(out.tokens, self.pipe, palettes=self.handler.palettes))
        spectrogram = viz.figure_to_array(viz.plot_spectrogram(out.audio, out.sample_rate, pipe=self.pipe).figure)
        files = [path for v in history.versions for path in self._saved(v)]
        return (history, gr.update(choices=history.labels(), value=version.label),
                edit_actions.changes_markdown(history, self.pipe), self._saved(version)[0], tokens, spectrogram, files)


def _makedirs(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path
