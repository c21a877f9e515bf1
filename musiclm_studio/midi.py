"""Audio -> MIDI with Spotify's Basic Pitch (ICASSP 2022), run as ONNX with ``onnxruntime``.

``transcribe(audio, sample_rate)`` returns a ``pretty_midi.PrettyMIDI`` of any clip (an output's
audio, a file, an array). The model is the one the ``basic-pitch`` wheel ships
(``saved_models/icassp_2022/nmp.onnx``, 230 kB; Apache-2.0, Copyright 2022 Spotify AB); its
windowing (``inference.window_audio_file`` / ``unwrap_output``) and note creation
(``note_creation.model_output_to_notes``) are basic-pitch's own public functions, which import
without TensorFlow. Only the ONNX session is ours, so that it honours ``torch.get_num_threads()``.

Why ``pip install --no-deps basic-pitch``: on Linux with Python >= 3.11 the wheel requires
``tensorflow<2.15.1``, a whole second deep-learning framework that inference with the ONNX file
never imports. ``make setup`` installs it without dependencies and then the light ones
it really imports (the ``midi`` extra: onnxruntime, mir_eval, resampy, pretty_midi); resampy is
taken at 0.4.3 or later because 0.4.2 imports ``pkg_resources``, gone from recent setuptools
(basic-pitch's own pin says < 0.4.3; it only uses resampy for sonification). Without these
packages ``available()`` is False and ``transcribe`` raises ``MidiUnavailable`` saying how to
install them; the app and the widgets show that message instead of a MIDI button.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from typing import Optional

import numpy as np
import torch

from .audio import AudioLike, prepare_audio, read_audio_file

MAX_SECONDS = 600.0  # longest clip transcribe takes (about 1 s per 10 s of audio on the shared 2-core machine)
INSTALL_HINT = ("MIDI export needs Spotify's basic-pitch (without its TensorFlow requirement) and onnxruntime: "
                "run `pip install \"musiclm-studio[midi]\" && pip install --no-deps \"basic-pitch==0.4.0\"` "
                "(`make setup` does this).")


class MidiUnavailable(ImportError):
    """basic-pitch or onnxruntime is not installed; the message says how to install them."""


@contextlib.contextmanager
def _quiet_root_logger():
    """basic-pitch's ``__init__`` logs a warning per missing backend (TF, CoreML, TFLite) on the root
    logger, which would also install a stderr handler there: give root a null handler meanwhile."""
    root, null = logging.getLogger(), logging.NullHandler()
    root.addHandler(null)
    try:
        yield
    finally:
        root.removeHandler(null)


@functools.lru_cache(maxsize=1)
def _basic_pitch():
    """(inference module, note_creation module, constants module, path of the ONNX model)."""
    try:
        import onnxruntime  # noqa: F401

        with _quiet_root_logger():
            import basic_pitch
            from basic_pitch import constants, inference, note_creation
    except ImportError as error:
        raise MidiUnavailable(f"{INSTALL_HINT} ({error})") from error
    path = basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx)
    if not path.is_file():
        raise MidiUnavailable(f"basic-pitch's ONNX model is missing ({path}); reinstall it. {INSTALL_HINT}")
    return inference, note_creation, constants, str(path)


def available() -> bool:
    """Whether MIDI export can run here (basic-pitch and onnxruntime import)."""
    try:
        _basic_pitch()
    except MidiUnavailable:
        return False
    return True


def unavailable_reason() -> Optional[str]:
    """None where MIDI export works, else the message saying what to install."""
    try:
        _basic_pitch()
    except MidiUnavailable as error:
        return str(error)
    return None


@functools.lru_cache(maxsize=2)
def _session(threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(_basic_pitch()[3], options, providers=["CPUExecutionProvider"])


def load_for_transcription(audio: AudioLike, sample_rate: Optional[int] = None,
                           max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Any audio -> mono float32 at Basic Pitch's 22,050 Hz; longer than ``max_seconds``: ValueError."""
    constants = _basic_pitch()[2]
    if isinstance(audio, (str, os.PathLike)):
        data, sample_rate, seconds = read_audio_file(audio, max_seconds)
        audio = data
    else:
        wave = torch.as_tensor(np.asarray(audio) if not torch.is_tensor(audio) else audio)
        seconds = max(wave.shape) / sample_rate if sample_rate and wave.ndim in (1, 2) and wave.numel() else 0.0
    if seconds > max_seconds:
        raise ValueError(f"The clip is {seconds:.0f} s long; transcription takes at most {max_seconds:g} s. "
                         "Cut it into parts and transcribe each.")
    prepared = prepare_audio(audio, sample_rate, target_sample_rate=constants.AUDIO_SAMPLE_RATE, name="audio")
    return prepared.audio.numpy()


def model_output(audio: np.ndarray, batch_size: int = 8) -> dict[str, np.ndarray]:
    """Basic Pitch's salience maps of 22,050-Hz audio [S]: {"note", "onset": [T, 88], "contour": [T, 264]}
    at 86 frames a second, from 2-s windows overlapping by 30 frames (as ``inference.run_inference``)."""
    inference, _, constants, _ = _basic_pitch()
    overlap_frames = 30
    overlap = overlap_frames * constants.FFT_HOP
    hop = constants.AUDIO_N_SAMPLES - overlap
    padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio.astype(np.float32)])
    windows = np.stack([w for w, _ in inference.window_audio_file(padded, hop)])  # [N, AUDIO_N_SAMPLES, 1]
    session = _session(max(1, torch.get_num_threads()))
    names = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
             "contour": "StatefulPartitionedCall:0"}
    parts: dict[str, list] = {k: [] for k in names}
    for start in range(0, len(windows), batch_size):
        outs = session.run(list(names.values()), {"serving_default_input_2:0": windows[start: start + batch_size]})
        for key, value in zip(names, outs):
            parts[key].append(value)
    return {k: inference.unwrap_output(np.concatenate(v), len(audio), overlap_frames) for k, v in parts.items()}


def transcribe(audio: AudioLike, sample_rate: Optional[int] = None, *, onset_threshold: float = 0.5,
               frame_threshold: float = 0.3, minimum_note_length_ms: float = 127.7,
               minimum_frequency: Optional[float] = None, maximum_frequency: Optional[float] = None,
               melodia_trick: bool = True, midi_tempo: float = 120.0,
               max_seconds: float = MAX_SECONDS):
    """Transcribe audio (a path, or an array / tensor with its ``sample_rate``) to a ``PrettyMIDI``.

    The thresholds and the minimum note length are basic-pitch's defaults (``predict``); one
    instrument (program 0) holds every note, with pitch bends. ``midi_tempo`` only sets the file's
    tempo meta event (note times are in seconds). Clips longer than ``max_seconds`` raise ValueError.
    """
    for name, value in (("onset_threshold", onset_threshold), ("frame_threshold", frame_threshold)):
        if not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
            raise ValueError(f"{name} must be between 0 and 1 (basic-pitch's default 0.5 / 0.3), got {value!r}.")
    if not (isinstance(minimum_note_length_ms, (int, float)) and 0.0 <= minimum_note_length_ms <= 2000.0):
        raise ValueError(f"minimum_note_length_ms must be 0-2000 ms, got {minimum_note_length_ms!r}.")
    if not (isinstance(midi_tempo, (int, float)) and 20.0 <= midi_tempo <= 400.0):
        raise ValueError(f"midi_tempo must be 20-400 bpm, got {midi_tempo!r}.")
    _, note_creation, constants, _ = _basic_pitch()
    wave = load_for_transcription(audio, sample_rate, max_seconds)
    output = model_output(wave)
    frames_per_s = constants.AUDIO_SAMPLE_RATE / constants.FFT_HOP
    midi, _ = note_creation.model_output_to_notes(
        output, onset_thresh=onset_threshold, frame_thresh=frame_threshold,
        min_note_len=int(round(minimum_note_length_ms / 1000 * frames_per_s)),
        min_freq=minimum_frequency, max_freq=maximum_frequency, melodia_trick=melodia_trick, midi_tempo=midi_tempo)
    return midi


def notes_of(midi, drums: bool = False) -> np.ndarray:
    """Every note of a ``PrettyMIDI`` as rows (onset s, offset s, MIDI pitch, velocity) sorted by onset;
    drum tracks are left out unless ``drums``."""
    rows = [(n.start, n.end, n.pitch, n.velocity) for inst in midi.instruments if drums or not inst.is_drum
            for n in inst.notes]
    rows.sort()
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def note_scores(reference, estimate, *, onset_tolerance: float = 0.05, offset_ratio: float = 0.2) -> dict:
    """mir_eval note precision / recall / F1 of ``estimate`` against ``reference`` (each a ``PrettyMIDI``
    or note rows (onset s, offset s, pitch, ...)): onset-only ("onset_*": pitch within 50 cents and
    onset within ``onset_tolerance``) and with offsets ("offset_*": also the offset within
    ``offset_ratio`` of the note's length, at least 50 ms), mir_eval's standard settings."""
    import mir_eval

    def intervals_pitches(notes):
        rows = notes_of(notes) if hasattr(notes, "instruments") else np.asarray(notes, np.float64)
        rows = rows.reshape(-1, rows.shape[-1] if rows.size else 3)
        rows = rows[rows[:, 1] > rows[:, 0]]  # mir_eval needs positive durations
        return rows[:, :2], 440.0 * 2.0 ** ((rows[:, 2] - 69.0) / 12.0)

    (ri, rp), (ei, ep) = intervals_pitches(reference), intervals_pitches(estimate)
    out = {}
    for name, ratio in (("onset", None), ("offset", offset_ratio)):
        if len(ri) == 0 or len(ei) == 0:
            p = r = f = 0.0
        else:
            p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
                ri, rp, ei, ep, onset_tolerance=onset_tolerance, offset_ratio=ratio)
        out.update({f"{name}_precision": float(p), f"{name}_recall": float(r), f"{name}_f1": float(f)})
    return out


def save_midi(midi, path: str) -> str:
    """Write a ``PrettyMIDI`` to ``path`` (folders made as needed); returns the path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    midi.write(path)
    return path


__all__ = ["MAX_SECONDS", "MidiUnavailable", "available", "unavailable_reason", "transcribe", "model_output",
           "load_for_transcription", "notes_of", "note_scores", "save_midi"]
