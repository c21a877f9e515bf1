"""The Edit area of the Gradio app and the widgets' edit box: edits apply to the current version,
the history goes back, every version is downloadable, and the kept stream reads unchanged."""

import os

import gradio as gr
import pytest
import torch

from musiclm_studio.ui import controls
from musiclm_studio.ui.edit_actions import EditHistory, token_changes
from musiclm_studio.ui.gradio_app import build_demo

SETTINGS = {name: c.default for name, c in controls.CONTROLS.items()}


@pytest.fixture(scope="module")
def demo(tiny_full_pipe, tmp_path_factory):
    return build_demo(tiny_full_pipe, output_dir=str(tmp_path_factory.mktemp("out")))


def _panel(demo):
    return demo.edit_panel


def test_the_edit_area_edits_the_generated_clip_and_goes_back(demo, tiny_full_pipe):
    values = dict(SETTINGS, duration_s=2.0, seed=1, randomise_seed=False, num_candidates=1)
    list(demo.handler.generate("a rock song", "", None, *(values[n] for n in controls.SETTINGS[2:])))
    panel = _panel(demo)
    history, choices, summary, wav, tokens, spectrogram, files = panel.adopt()
    assert isinstance(history, EditHistory) and choices["value"].startswith("v1") and os.path.isfile(wav)
    first = history.output
    # vary: the semantic tokens of v1, and the summary says so
    history, choices, summary, wav2, tokens2, _, files = panel.apply(history, "vary", "a string quartet", 0, 0, 0, 5)
    assert torch.equal(history.output.tokens.semantic, first.tokens.semantic)
    assert "semantic tokens unchanged" in summary and "coarse tokens changed" in summary
    assert choices["value"].startswith("v2: vary") and wav2 != wav and tokens2.shape[-1] == 3
    # repaint the current version, then undo back to v2 and go back to v1
    history, choices, summary, *_ = panel.apply(history, "repaint", "", 0.5, 1.2, 0, 6)
    assert choices["value"].startswith("v3: repaint 0.5-1.2 s of v2")
    history, choices, *_ = panel.undo(history)
    assert choices["value"].startswith("v2") and len(history.versions) == 3
    history, choices, summary, wav1, *_, files = panel.go(history, history.labels()[0])
    assert history.output is first and wav1 == wav
    assert len([f for f in files if f.endswith(".wav")]) == 3 and all(os.path.isfile(f) for f in files)
    from musiclm_studio import midi

    if midi.available():  # "Download MIDI of this version": the handler's export on the version shown
        path, roll, note = demo.handler.midi(wav1)
        assert path.endswith(".mid") and roll.ndim == 3 and note
    history, *_ = panel.apply(history, "extend", "", 0, 0, 1.0, 7)  # edits apply to the version shown
    assert torch.equal(history.output.audio[: first.audio.numel()], first.audio)
    with pytest.raises(gr.Error, match="outside the clip"):
        panel.apply(history, "repaint", "", 2.5, 9.0, 0, 1)
    with pytest.raises(gr.Error, match="Generate a clip first"):
        panel.apply(None, "vary", "", 0, 0, 0, 1)


def test_token_changes_name_the_kept_streams(tiny_full_pipe):
    out = tiny_full_pipe("a folk song", duration_s=1.0, seed=2, num_candidates=1)
    fine_only = tiny_full_pipe.vary(out, keep="coarse", seed=3)
    said = token_changes(out, fine_only, tiny_full_pipe)
    assert said["semantic"] == "unchanged" and said["coarse"] == "unchanged" and said["fine"].startswith("changed")
    longer = tiny_full_pipe.extend(out, 1.0, seed=4)
    assert token_changes(out, longer, tiny_full_pipe)["semantic"] == "unchanged, +1.00 s new"


def test_widgets_edit_undo_and_go_back(tiny_full_pipe):
    from musiclm_studio.ui.widgets import Studio

    studio = Studio(tiny_full_pipe)
    assert studio.edit("vary") is None and "Generate a clip first" in studio.edit_status.value
    out = studio.generate(prompt="a calm piano piece", duration_s=1.5, seed=3, randomise_seed=False, num_candidates=1)
    varied = studio.edit("vary", prompt="a brass band", seed="4")
    assert torch.equal(varied.tokens.semantic, out.tokens.semantic) and studio.output is varied
    assert "semantic tokens unchanged" in studio.edit_status.value
    assert studio.edit("repaint", start_s=5.0, end_s=9.0) is None and "outside the clip" in studio.edit_status.value
    extended = studio.edit("extend", seconds=1.0, prompt="")
    assert torch.equal(extended.audio[: varied.audio.numel()], varied.audio)
    assert studio.undo() is varied and studio.versions.value == 1
    studio.versions.value = 0  # the user picks v1
    assert studio.output is out and studio.history.current == 0
    assert [label.split(":")[0] for label, _ in studio.versions.options] == ["v1", "v2", "v3"]
