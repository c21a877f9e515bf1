"""Key lock: a clip told a key plays in that key.

Three steps. While the LMs sample: when a request names a key or a mode (``key=``, or the prompt), the
semantic and coarse LMs are sampled with key guidance (``KEY_GUIDANCE``; ``models.lm.StageLM.guide``):
each step's log-probabilities move ``KEY_GUIDANCE`` times further along log p(x | the key) - log p(x |
"no key"), which the LMs learned from the crops trained with the key unstated (``--unstated``), so
that what the key token changes is pushed and nothing else. It costs one more batch of rows in those
two stages (their guidance rows: the semantic LM's 2 per candidate become 3, the coarse LM's 1 become 2).
Then the mode: when a one-segment request names a mode (``key=``, a key or a mode word in the
prompt) and several candidates are made, their coarse tokens are decoded alone (a sketch of the sound:
the codec decodes any first levels) and read with the same analyser; a candidate heard in the asked
mode is kept before any other, the attribute critic ranking within each group
(``candidates.critic_pass``); when none is, as many candidates again are sampled (the generator running
on) and the pick is made over all of them (``candidates.missed_key``). Then the tonic:

The LMs hear the key they are told (``train ... --key``) but play exactly in it only part of the
time (the model card's key figures). When a request names a key with its tonic (``key="Bb major"``
or a prompt "in B flat major"), the chosen candidate's decoded audio is read with the eval's key
analyser (``analysis.chroma_profiles`` -> ``best_key``) and, when it plays in the asked mode on
another tonic, transposed onto the asked tonic by the fewest semitones (-6 .. +5) with
pedalboard's Rubber Band (offline, high quality: length and timing kept). The mode is not moved
(transposition cannot turn minor into major), and audio whose pitch classes do not stand out
(``analysis.read_key``'s treble chroma contrast test) is left alone. The moved audio is read again and
kept only where it is heard in the asked key; else the clip is returned as it came out. Continuations (whose key is the
opening's), stories and clips told only a mode are never transposed; ``key_lock=False`` turns all of
it off.

A continuation keeps its opening's key by the same pick, tonic and mode: where a key stands out in
the opening (``analysis.read_key``; the key its LMs are told: ``resolver.opening_grid_and_key``), a
candidate whose continued part (after the opening) is heard in that key goes first, and when none is,
as many again continue the same opening (``candidates.wanted_key``); ``extend`` picks the same way
(``candidates.clip_key``, no second batch). It is sampled without key guidance (which cost the tempo
kept, docs/experiments/wider_world.md) and never transposed: its opening is real audio.

Transposing audio by a few semitones is what a DAW's key matching does; Rubber Band keeps the
length and the timing, and at a few semitones the timbre change is small (formants move with the
pitch). pedalboard is the maintained effects library the corpus already produces with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

KEY_GUIDANCE = {"semantic": 1.0, "coarse": 1.0, "fine": 0.0}
"""Key guidance per stage for a request that names a key or a mode (the fine LM hears no key). On the
shipped model, 40 key prompts: the exact key (ours / Essentia) 0.70 / 0.60 without, 0.75 / 0.60 with 1 on
the semantic LM alone, 0.85 / 0.675 with 1 on both (docs/experiments/wider_world.md)."""


def names_key(texts, key: Optional[tuple]) -> bool:
    """Whether a request names a key or a mode: ``key=`` given, or a prompt that states one."""
    from .conditioning.prompt_mix import reading_text
    from .vocab.musical_key import stated_key

    return key is not None or any(stated_key(reading_text(text)) != (None, None) for text in texts)


def key_guidance(pipe, key_lock: bool, named: bool) -> dict[str, float]:
    """The key guidance per stage a request samples with: ``KEY_GUIDANCE`` where the lock is on, the LMs
    hear a key and one is ``named`` (``names_key``), else none (``sampling_args.DEFAULT_KEY_GUIDANCE``)."""
    from .sampling_args import DEFAULT_KEY_GUIDANCE

    return dict(KEY_GUIDANCE if key_lock and named and pipe.lms_hear("key") else DEFAULT_KEY_GUIDANCE)


@dataclass(frozen=True)
class KeyLock:
    """What the key lock did to a clip: the key it was asked (tonic index, mode), the key read from the
    audio before (tonic index, mode; None where none stood out) and the semitones it was moved by."""

    asked: tuple[int, str]
    read: Optional[tuple[int, str]]
    semitones: int
    landed: Optional[tuple[Optional[int], Optional[str]]] = None
    """Where a transposition was tried and undone: the key the moved audio was heard in (``heard_key``: not the
    asked one, or (None, None))."""

    def notice(self) -> Optional[str]:
        from .vocab.musical_key import NOTE_NAMES

        tonic, mode = self.asked
        if self.landed is not None:
            heard = f"{NOTE_NAMES[self.landed[0]]} {self.landed[1]}" if self.landed[1] else "no clear key"
            return (f"Key lock: the music came out in {NOTE_NAMES[self.read[0]]} {mode}; transposed to "
                    f"{NOTE_NAMES[tonic]} {mode} it was heard in {heard}, so it is left as it came out.")
        if not self.semitones:
            return None
        return (f"Key lock: the music came out in {NOTE_NAMES[self.read[0]]} {mode} and was transposed "
                f"{self.semitones:+d} semitones to {NOTE_NAMES[tonic]} {mode}, the key asked (key_lock=False keeps it).")


def asked_key(prompt: str, key: Optional[tuple], key_tokens: Optional[list[int]]) -> Optional[tuple[int, str]]:
    """The (tonic, mode) a one-segment request names with its tonic (``key`` given as (tonic, mode), else
    the prompt's ``stated_key``), as the LMs were told it (``key_tokens``); None when no tonic is named,
    the LMs hear no key, or a story has several segments."""
    from .vocab.musical_key import NO_KEY, key_mode, stated_key

    if not key_tokens or len(key_tokens) != 1 or key_tokens[0] == NO_KEY:
        return None
    tonic = key[0] if key is not None else stated_key(prompt)[0]
    if tonic is None:
        return None
    return int(key_tokens[0]) % 12, key_mode(key_tokens[0])


def heard_key(audio: np.ndarray, sample_rate: int) -> tuple[Optional[int], Optional[str]]:
    """The key (tonic, mode) the lock hears in ``audio``: ``analysis.read_key``'s contrast test, any fit, any
    length; (None, None) where no key stands out."""
    from .analysis import read_key

    return read_key(audio, sample_rate, min_fit=float("-inf"), min_seconds=0.0)[:2]


def transposition(audio: np.ndarray, sample_rate: int, tonic: int, mode: str) -> tuple[Optional[tuple[int, str]], int]:
    """(the key read from ``audio`` or None, semitones in -6 .. +5 that move it onto ``tonic``; 0 when the
    audio plays in another mode or no key stands out: ``heard_key``)."""
    read_tonic, read_mode = heard_key(audio, sample_rate)
    if read_mode is None:
        return None, 0
    if read_mode != mode:
        return (read_tonic, read_mode), 0
    return (read_tonic, read_mode), (tonic - read_tonic + 6) % 12 - 6


def transpose(audio: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """``audio`` [S] moved by ``semitones``, same length: pedalboard's offline Rubber Band (``time_stretch``
    at factor 1, high quality; its real-time ``PitchShift`` lands bass notes up to 50 cents flat)."""
    try:
        from pedalboard import time_stretch
    except ImportError as error:  # a runtime dependency; only a broken install lacks it
        raise ImportError("The key lock needs pedalboard: pip install pedalboard (or key_lock=False).") from error
    mono = np.ascontiguousarray(audio, dtype=np.float32)[None]
    shifted = time_stretch(mono, sample_rate, stretch_factor=1.0, pitch_shift_in_semitones=float(semitones),
                           high_quality=True)[0]
    return shifted[: len(audio)] if len(shifted) >= len(audio) else np.pad(shifted, (0, len(audio) - len(shifted)))


def lock_key(audio: np.ndarray, sample_rate: int, tonic: int, mode: str) -> tuple[np.ndarray, KeyLock]:
    """``audio`` [S] in the asked key where transposition can put it there (see the module), and what was done.
    The moved audio is read again, and kept only where it is heard in the asked key: a move changes which
    notes fall below the analyser's bass/treble border (C3), and on generated audio, whose major and minor
    readings are often close, that can turn the mode it is heard in (docs/experiments/wider_world.md,
    session 43); then the clip is left as it came out, in the asked mode on another tonic."""
    read, semitones = transposition(audio, sample_rate, tonic, mode)
    if not semitones:
        return audio, KeyLock((tonic, mode), read, 0)
    moved = transpose(audio, sample_rate, semitones)
    landed = heard_key(moved, sample_rate)
    if landed != (tonic, mode):
        return audio, KeyLock((tonic, mode), read, 0, landed=landed)
    return moved, KeyLock((tonic, mode), read, semitones)
