"""MIDI and loop exports in the Gradio app and the widgets, through their Python callables."""

import sys

import gradio as gr
import numpy as np
import pytest

from musiclm_studio import loops, midi
from musiclm_studio.audio import save_audio
from musiclm_studio.eval.synth import DEFAULT_TUNE, drum_loop, hummed_melody
from musiclm_studio.ui import exports
from musiclm_studio.ui.gradio_app import build_demo

SR = 24_000


@pytest.fixture(scope="module")
def demo(tiny_pipe, tmp_path_factory):
    return build_demo(tiny_pipe, output_dir=str(tmp_path_factory.mktemp("exports")))


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """10 s: a whistled tune over a 100-bpm drum loop."""
    tune = hummed_melody(DEFAULT_TUNE, voice="whistle")
    audio = 0.5 * drum_loop(seconds=10, bpm=100)
    audio[: tune.size] += 0.5 * tune[: audio.size]
    return save_audio(str(tmp_path_factory.mktemp("song") / "song.wav"), audio, SR)


def components(demo):
    return {getattr(block, "elem_id", None): block for block in demo.blocks.values()}


@pytest.mark.skipif(not midi.available(), reason="MIDI export unavailable")
def test_app_transcribes_the_clip_and_draws_it(demo, song):
    import pretty_midi

    assert {"midi", "loop", "loop-bars", "export-file", "piano-roll", "midi-status"} <= set(components(demo))
    path, image, message = demo.handler.midi(song)
    notes = pretty_midi.PrettyMIDI(path)
    assert {n.pitch % 12 for inst in notes.instruments for n in inst.notes} >= {0, 2, 4, 7}  # the tune's own
    assert image.dtype == np.uint8 and image.shape[2] == 3 and message.endswith(".") and "notes from" in message
    with pytest.raises(gr.Error, match="Generate a clip first"):
        demo.handler.midi(None)


def test_app_makes_a_loop_of_the_clip(demo, song, tmp_path):
    path, message = demo.handler.loop(song, 2)
    meta = loops.read_loop_metadata(path)
    assert abs(meta["bpm"] - 100) <= 2 and meta["beats"] == 8 and f"{meta['bpm']:g}bpm" in path
    assert "2 bars" in message and "librosa" in message
    short = save_audio(str(tmp_path / "short.wav"), drum_loop(seconds=3, bpm=100), SR)
    with pytest.raises(gr.Error, match="fewer bars"):
        demo.handler.loop(short, 16)


def test_without_basic_pitch_the_app_says_what_to_install(tiny_pipe, song, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    midi._basic_pitch.cache_clear()
    try:
        demo = build_demo(tiny_pipe, output_dir=str(tmp_path))
        blocks = components(demo)
        assert blocks["midi"].interactive is False and "not available" in blocks["midi-status"].value
        path, image, message = demo.handler.midi(song)
        assert path is None and image is None and "pip install --no-deps" in message
    finally:
        monkeypatch.undo()
        midi._basic_pitch.cache_clear()


def test_widgets_export_midi_and_a_loop_on_the_grid(tiny_full_pipe):
    from musiclm_studio.ui.widgets import Studio

    studio = Studio(tiny_full_pipe)
    assert studio.export_midi() is None and "Generate a clip first" in studio.error.value
    out = studio.generate(prompt="funky drums", duration_s=8.0, bpm=120.0, seed=1, randomise_seed=False,
                          num_candidates=1)
    studio.loop_bars.value = 4  # 4 bars at 120 bpm and the crossfade need 8.125 s: said, not cut short
    assert studio.export_loop() is None and "fewer bars" in studio.error.value
    studio.loop_bars.value = 2  # one bar skipped, two looped: fits
    path = studio.export_loop()
    assert loops.read_loop_metadata(path)["bpm"] == 120.0 and "tempo from the grid" in studio.export_note.value
    if midi.available():
        result = studio.export_midi()
        assert result.path.endswith("musiclm-seed1.mid") and studio.piano_roll.value[:4] == b"\x89PNG"
    assert out.seed == 1
    assert exports.midi_status()
