"""Wordless voices: a sung-vowel formant synthesiser that sings a monophonic note list.

``render_voice`` turns notes (the composer's lead line: ``[start_s, end_s, midi_pitch]``, an
optional velocity, or ``pretty_midi.Note`` objects) into a 24 kHz voice singing vowels, never
words. Source-filter synthesis, vectorised with numpy:

1. pitch: each note's pitch (the line moved by whole octaves into the voice's range), with
   portamento gliding into legato notes, vibrato (5-6 Hz, fading in after an onset delay) and a
   slow random drift of a few cents (``drift_cents``: an amateur's hum drifts +-30);
2. glottal source: a band-limited (polyBLEP) sawtooth at that pitch, the spectrum of a glottal
   flow derivative (-6 dB / octave), plus breath noise that pulses with the glottal cycle;
3. vocal tract: frame by frame (STFT, 1024 / 256), the source is shaped by five formant
   resonances F1-F5 with their bandwidths and levels, interpolated between the vowels "a", "e",
   "i", "o", "u" as the line moves from one to the next (F1 rises with the pitch, as sopranos
   tune it);
4. loudness: an attack / release envelope per note, legato notes joined, scaled by velocity.

Voices: "female" (soprano formants), "male" (tenor) and "choir" (six singers: sopranos, altos and
tenors about an octave below, each with its own timing, detuning, vibrato and level).
Everything random comes from ``numpy.random.default_rng`` on the seed, so the same arguments give
the same samples. Formant values: the classic Csound / Bennett-Rodet vowel tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

VOICES = ("female", "male", "choir")
VOWELS = ("a", "e", "i", "o", "u")
# per vowel: formant frequencies F1-F5 (Hz), levels (dB), bandwidths (Hz)
FORMANTS = {
    "soprano": {
        "a": ((800, 1150, 2900, 3900, 4950), (0, -6, -32, -20, -50), (80, 90, 120, 130, 140)),
        "e": ((350, 2000, 2800, 3600, 4950), (0, -20, -15, -40, -56), (60, 100, 120, 150, 200)),
        "i": ((270, 2140, 2950, 3900, 4950), (0, -12, -26, -26, -44), (60, 90, 100, 120, 120)),
        "o": ((450, 800, 2830, 3800, 4950), (0, -11, -22, -22, -50), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2700, 3800, 4950), (0, -16, -35, -40, -60), (50, 60, 170, 180, 200)),
    },
    "alto": {
        "a": ((800, 1150, 2800, 3500, 4950), (0, -4, -20, -36, -60), (80, 90, 120, 130, 140)),
        "e": ((400, 1600, 2700, 3300, 4950), (0, -24, -30, -35, -60), (60, 80, 120, 150, 200)),
        "i": ((350, 1700, 2700, 3700, 4950), (0, -20, -30, -36, -60), (50, 100, 120, 150, 200)),
        "o": ((450, 800, 2830, 3500, 4950), (0, -9, -16, -28, -55), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2530, 3500, 4950), (0, -12, -30, -40, -64), (50, 60, 170, 180, 200)),
    },
    "tenor": {
        "a": ((650, 1080, 2650, 2900, 3250), (0, -6, -7, -8, -22), (80, 90, 120, 130, 140)),
        "e": ((400, 1700, 2600, 3200, 3580), (0, -14, -12, -14, -20), (70, 80, 100, 120, 120)),
        "i": ((290, 1870, 2800, 3250, 3540), (0, -15, -18, -20, -30), (40, 90, 100, 120, 120)),
        "o": ((400, 800, 2600, 2800, 3000), (0, -10, -12, -12, -26), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2700, 2900, 3300), (0, -20, -17, -14, -26), (40, 60, 100, 120, 120)),
    },
}


@dataclass(frozen=True)
class Singer:
    """One singer's voice: formant table, range (MIDI) and expression."""

    table: str
    low: int
    high: int
    vibrato_cents: float = 35.0
    breath: float = 0.06  # breath noise level against the voiced source


SINGERS = {
    "female": Singer("soprano", 57, 79),
    "alto": Singer("alto", 53, 74, vibrato_cents=30.0),
    "male": Singer("tenor", 45, 67, vibrato_cents=30.0, breath=0.05),
}
CHOIR = ("female", "alto", "female", "male", "male", "alto")
N_FFT, HOP = 1024, 256


def render_voice(notes, seconds: float, sample_rate: int = 24000, voice: str = "female", seed: int = 0,
                 vowels: str | None = None, drift_cents: float = 6.0, drift_s: float = 0.25,
                 breath: float | None = None) -> np.ndarray:
    """A wordless voice singing ``notes`` for ``seconds``: float32 samples, peak 0.8 (silence if no notes).

    notes: [start_s, end_s, midi_pitch(, velocity 1-127)] rows or objects with ``start`` / ``end`` /
    ``pitch`` (/ ``velocity``); overlapping notes are sung one after the other. voice: "female",
    "male" or "choir". vowels: the vowels to sing in turn (e.g. "aaoo"), else drawn from ``seed``.
    drift_cents, drift_s: how far (about +-) and how slowly (a new target every ``drift_s``) the random
    pitch drift wanders: a careful singer's 6 cents every 0.25 s by default, an amateur's hum 30 cents
    over a second or two. breath: breath noise against the voiced source (default: the singer's own).
    """
    if voice not in VOICES:
        raise ValueError(f"voice must be one of {', '.join(VOICES)} (got {voice!r}).")
    if seconds <= 0 or sample_rate < 8000:
        raise ValueError(f"seconds must be > 0 and sample_rate >= 8000 (got {seconds}, {sample_rate}).")
    if vowels is not None and (not vowels or set(vowels) - set(VOWELS)):
        raise ValueError(f"vowels must be a string of {''.join(VOWELS)} (got {vowels!r}).")
    if not 0 <= drift_cents <= 100 or not drift_s > 0 or (breath is not None and not 0 <= breath <= 1):
        raise ValueError(f"drift_cents must be 0-100, drift_s > 0 and breath 0-1 (got {drift_cents}, {drift_s}, "
                         f"{breath}).")
    drift = (drift_cents, drift_s)
    table = _note_table(notes, seconds)
    n = int(round(seconds * sample_rate))
    if len(table) == 0:
        return np.zeros(n, np.float32)
    rng = np.random.default_rng([seed, 23])
    if voice == "choir":
        out = _choir(table, n, sample_rate, seed, vowels or str(rng.choice(["u", "o", "a", "ou", "ao"])), drift)
    else:
        singer = SINGERS[voice] if breath is None else replace(SINGERS[voice], breath=breath)
        excitation, f0, index = _excitation(table, n, sample_rate, singer, rng, detune=0.0, drift=drift)
        out = _formant_filter(excitation, f0, index, _vowel_track(table, rng, vowels), FORMANTS[singer.table],
                              sample_rate)
    peak = np.abs(out).max()
    return (0.8 * out / peak).astype(np.float32) if peak > 0 else out.astype(np.float32)


def _note_table(notes, seconds: float) -> np.ndarray:
    """[N, 4] (start, end, pitch, velocity) sorted by start, clipped to the clip, overlaps cut."""
    rows = []
    for note in notes:
        if hasattr(note, "pitch"):
            rows.append((note.start, note.end, note.pitch, getattr(note, "velocity", 100)))
        else:
            row = list(note)
            if len(row) not in (3, 4):
                raise ValueError(f"a note is [start_s, end_s, midi_pitch] or with a velocity (got {note!r}).")
            rows.append((row[0], row[1], row[2], row[3] if len(row) == 4 else 100))
    table = np.array(sorted(rows), float).reshape(-1, 4)
    table = table[(table[:, 0] < seconds) & (table[:, 1] > table[:, 0])]
    if len(table) and not np.all((table[:, 2] >= 0) & (table[:, 2] <= 127)):
        raise ValueError("note pitches must be MIDI numbers 0-127.")
    table[:, 1] = np.minimum(table[:, 1], seconds)
    table[:-1, 1] = np.minimum(table[:-1, 1], table[1:, 0])  # monophonic: a note ends where the next starts
    return table[table[:, 1] - table[:, 0] > 0.02]


def _jitter(table: np.ndarray, rng, spread: float) -> np.ndarray:
    """A choir singer's own timing: every note a little early or late (order kept)."""
    out = table.copy()
    out[:, 0] = np.maximum(0.0, out[:, 0] + rng.uniform(-spread, spread, len(out)))
    out[:-1, 1] = np.minimum(out[:-1, 1], out[1:, 0])
    return out[out[:, 1] - out[:, 0] > 0.02]


def _choir(table, n, sr, seed: int, vowels: str, drift=(6.0, 0.25)) -> np.ndarray:
    """Six singers (sopranos, altos, tenors), each with its own timing, detuning, vibrato and level;
    the voices of one kind share one vocal-tract filter (it is linear), which keeps the choir fast."""
    groups = {}
    for k, name in enumerate(CHOIR):
        sub = np.random.default_rng([seed, 23, k + 1])
        own = _jitter(table, sub, 0.025)
        excitation, f0, index = _excitation(own, n, sr, SINGERS[name], sub, detune=sub.normal(0, 9),
                                            vibrato_scale=0.7, drift=drift)
        if name in groups:
            groups[name][0] += sub.uniform(0.7, 1.0) * excitation
        else:
            groups[name] = [sub.uniform(0.7, 1.0) * excitation, f0, index, _vowel_track(own, sub, vowels)]
    return sum(_formant_filter(e, f0, index, vowel_track, FORMANTS[SINGERS[name].table], sr)
               for name, (e, f0, index, vowel_track) in groups.items())


def _excitation(table, n, sr, singer: Singer, rng, detune: float, vibrato_scale: float = 1.0,
                drift=(6.0, 0.25)):
    """One singer's glottal source and breath under its note envelope; with its f0 and note index per sample."""
    t = np.arange(n) / sr
    pitch, amp, index = _contour(table, t, singer, rng)
    pitch = pitch + (detune + _drift(n, sr, rng, *drift)) / 100
    pitch = pitch + _vibrato(table, t, index, rng, singer.vibrato_cents * vibrato_scale) / 100
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    phase = np.cumsum(f0 / sr) + rng.random()
    source = _saw(phase % 1.0, f0 / sr)
    noise = rng.standard_normal(n) * (0.6 + 0.4 * np.cos(2 * np.pi * phase))  # pulses with the glottis
    return (source + singer.breath * 4.0 * noise) * amp, f0, index


def _contour(table, t, singer: Singer, rng):
    """Per sample: the sung MIDI pitch (portamento into legato notes), loudness and note index."""
    starts, ends, pitches, velocity = table.T
    shift = 12 * np.round(((singer.low + singer.high) / 2 - np.median(pitches)) / 12)
    pitches = pitches + shift
    pitches = pitches + 12 * ((pitches < singer.low - 4).astype(int) - (pitches > singer.high + 4).astype(int))
    index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    since = t - starts[index]
    gap = np.r_[np.inf, starts[1:] - ends[:-1]]
    legato = gap < 0.08
    glide = np.where(legato, np.minimum(0.07, 0.3 * (ends - starts)), 0.0)
    previous = np.r_[pitches[0], pitches[:-1]]
    w = np.clip(since / np.maximum(glide[index], 1e-6), 0, 1)
    w = w * w * (3 - 2 * w)  # smoothstep
    pitch = previous[index] + (pitches[index] - previous[index]) * np.where(legato[index], w, 1.0)
    attack = np.where(legato, 0.03, rng.uniform(0.04, 0.07, len(starts)))
    floor = np.where(legato, 0.6, 0.0)
    rise = floor[index] + (1 - floor[index]) * np.clip(since / attack[index], 0, 1)
    fall = np.clip(1 - (t - ends[index]) / 0.09, 0, 1)
    amp = rise * fall * (0.45 + 0.55 * velocity[index] / 127) * (since >= 0)
    return pitch, amp, index


def _vibrato(table, t, index, rng, cents: float) -> np.ndarray:
    """5-6 Hz vibrato that fades in 0.15-0.45 s into each note; its rate wanders a little."""
    n = len(t)
    rate = rng.uniform(5.0, 6.0) + 0.3 * _smooth_noise(n, rng, every=4000)
    phase = 2 * np.pi * np.cumsum(rate) * (t[1] - t[0] if n > 1 else 0.0) + rng.uniform(0, 2 * np.pi)
    since = t - table[index, 0]
    delay = rng.uniform(0.12, 0.2)
    depth = cents * np.clip((since - delay) / 0.3, 0, 1)
    return depth * np.sin(phase)


def _drift(n, sr, rng, cents: float, every_s: float) -> np.ndarray:
    return cents * _smooth_noise(n, rng, every=max(1, int(sr * every_s)))


def _smooth_noise(n, rng, every: int) -> np.ndarray:
    """Random values about every ``every`` samples, joined smoothly (about -1..1)."""
    knots = rng.uniform(-1, 1, n // every + 3)
    x = np.arange(n) / every
    k = np.floor(x).astype(int)
    frac = x - k
    frac = frac * frac * (3 - 2 * frac)
    return knots[k] * (1 - frac) + knots[k + 1] * frac


def _saw(phase: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """A band-limited (polyBLEP) sawtooth: the glottal flow derivative's -6 dB / octave spectrum."""
    out = 2 * phase - 1
    low = phase < dt
    x = phase[low] / dt[low]
    out[low] -= 2 * x - x * x - 1
    high = phase > 1 - dt
    x = (phase[high] - 1) / dt[high]
    out[high] -= x * x + 2 * x + 1
    return -out


def _vowel_track(table, rng, vowels: str | None) -> np.ndarray:
    """The vowel index (into ``VOWELS``) each note is sung on: given in turn, or a seeded walk that
    keeps a vowel for a few notes and then moves on."""
    if vowels:
        return np.array([VOWELS.index(vowels[i % len(vowels)]) for i in range(len(table))])
    current, out = int(rng.choice([0, 3, 4, 0, 1])), []
    for _ in range(len(table)):
        if rng.random() < 0.25:
            current = int(rng.integers(len(VOWELS)))
        out.append(current)
    return np.array(out)


def _formant_filter(x, f0, index, vowel_track, table, sr) -> np.ndarray:
    """Shape ``x`` frame by frame with the formants of the vowel being sung (STFT, overlap-add)."""
    n = len(x)
    frames = 1 + int(np.ceil(max(n - N_FFT, 0) / HOP))
    padded = np.zeros((frames - 1) * HOP + N_FFT)
    padded[:n] = x
    window = np.hanning(N_FFT + 1)[:-1]
    view = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:frames]
    spectrum = np.fft.rfft(view * window, axis=1)  # [T, F]
    centre = np.minimum(np.arange(frames) * HOP + N_FFT // 2, n - 1)
    freqs, levels, widths = _frame_formants(vowel_track[index[centre]], f0[centre], table, sr / HOP)
    f = np.fft.rfftfreq(N_FFT, 1 / sr).astype(np.float32)[None, :, None]  # [1, F, 1]
    fc, bw = freqs[:, None, :].astype(np.float32), widths[:, None, :].astype(np.float32)
    resonance = bw * f / np.sqrt((fc ** 2 - f ** 2) ** 2 + (bw * f) ** 2)  # peak 1 at each formant
    envelope = (resonance * 10 ** (levels[:, None, :] / 20)).sum(axis=2)  # [T, F]
    shaped = np.fft.irfft(spectrum * envelope, n=N_FFT, axis=1) * window
    return (_overlap_add(shaped) / np.maximum(_overlap_add(np.broadcast_to(window ** 2, shaped.shape)), 1e-3))[:n]


def _overlap_add(frames: np.ndarray) -> np.ndarray:
    """Sum frames [T, N_FFT] laid HOP apart: frames j, j+4, j+8 ... tile without overlap."""
    per = N_FFT // HOP
    out = np.zeros((len(frames) + per) * HOP + N_FFT)
    for j in range(per):
        tiles = frames[j::per].reshape(-1)
        out[j * HOP:j * HOP + len(tiles)] += tiles
    return out


def _frame_formants(vowel_index, f0, table, frame_rate):
    """Formants per frame [T, 5] (freq, level dB, bandwidth), moving to each new vowel over ~80 ms;
    F1 rises to just above a high sung pitch (formant tuning)."""
    targets = np.array([np.array(table[v], float) for v in VOWELS])[vowel_index]  # [T, 3, 5]
    kernel = np.hanning(max(3, int(0.08 * frame_rate)) + 2)[1:-1]
    kernel /= kernel.sum()
    pad = len(kernel) // 2
    padded = np.concatenate([targets[:1].repeat(pad, 0), targets, targets[-1:].repeat(pad, 0)])
    smooth = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, padded)[:len(targets)]
    freqs, levels, widths = smooth[:, 0], smooth[:, 1], smooth[:, 2]
    freqs[:, 0] = np.maximum(freqs[:, 0], 1.1 * f0)
    return freqs, levels, widths
