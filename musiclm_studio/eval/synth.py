"""Audio the models never saw in kind, synthesised offline with known ground truth.

Used by the codec's out-of-domain evaluation, the melody tokenizer's tests and the
melody-conditioning metrics: a hummed / whistled line (a formant voice or a sine with vibrato
and breath noise, following a list of MIDI notes), a realistic hum as a phone would record it
(``realistic_hum``: corpus v2's formant singer, breathy, with vibrato and +-30 cents of drift,
in a reverberant room, under noise at 20 dB SNR), a plucked-string part (Karplus-Strong, not
a SoundFont), a synthetic drum loop, pink noise, and I-IV-V-I cadences in a known key (and
tempo). Every function is deterministic from its ``seed`` and returns float32 mono numpy audio.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TUNE = [(60, 0.5), (62, 0.5), (64, 0.5), (65, 0.5), (67, 1.0), (65, 0.5), (64, 0.5), (62, 0.5),
                (60, 1.0), (67, 0.5), (69, 0.5), (67, 1.0), (64, 1.0)]  # (MIDI pitch, seconds)
ODE_TO_JOY = [(64, 0.45), (64, 0.45), (65, 0.45), (67, 0.45), (67, 0.45), (65, 0.45), (64, 0.45), (62, 0.45),
              (60, 0.45), (60, 0.45), (62, 0.45), (64, 0.45), (64, 0.7), (62, 0.2), (62, 0.9)]
MINOR_TUNE = [(57, 0.6), (60, 0.3), (64, 0.6), (62, 0.3), (60, 0.6), (59, 0.3), (57, 0.9), (64, 0.6), (65, 0.3),
              (64, 0.6), (62, 0.3), (60, 0.6), (59, 0.3), (57, 1.2)]  # A minor, 6/8-like
TUNES = {"default": DEFAULT_TUNE, "ode to joy": ODE_TO_JOY, "minor": MINOR_TUNE}


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def _pitch_track(notes, sample_rate: int, vibrato_hz: float, vibrato_cents: float, glide_s: float = 0.04):
    """Per-sample frequency for a note list, with short glides between notes and vibrato."""
    freqs = np.concatenate([np.full(int(sec * sample_rate), midi_to_hz(p)) for p, sec in notes])
    glide = max(1, int(glide_s * sample_rate))
    freqs = np.convolve(np.log(freqs), np.ones(glide) / glide, mode="same")
    freqs[: glide // 2], freqs[-glide // 2:] = freqs[glide // 2], freqs[-glide // 2 - 1]
    t = np.arange(freqs.size) / sample_rate
    return np.exp(freqs) * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * vibrato_hz * t))


def _note_envelope(notes, sample_rate: int, attack_s: float = 0.03, release_s: float = 0.06):
    parts = []
    for _, sec in notes:
        n = int(sec * sample_rate)
        env = np.ones(n)
        a, r = min(n // 3, int(attack_s * sample_rate)), min(n // 3, int(release_s * sample_rate))
        env[:a] = np.linspace(0, 1, a)
        env[n - r:] = np.linspace(1, 0.3, r)
        parts.append(env)
    return np.concatenate(parts)


def hummed_melody(notes=DEFAULT_TUNE, sample_rate: int = 24_000, voice: str = "hum", seed: int = 0,
                  noise_db: float = -30.0) -> np.ndarray:
    """A hummed ("hum": formant voice) or whistled ("whistle": sine) rendition of ``notes``."""
    rng = np.random.default_rng(seed)
    freq = _pitch_track(notes, sample_rate, vibrato_hz=5.5, vibrato_cents=25 if voice == "hum" else 15)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    if voice == "whistle":
        tone = np.sin(phase)
    else:
        # glottal-ish source (harmonics falling at 12 dB/octave) shaped by an "mm" formant set
        tone = np.zeros_like(phase)
        for h in range(1, 16):
            formant = sum(g * np.exp(-0.5 * ((h * freq - fc) / bw) ** 2)
                          for fc, bw, g in ((250, 80, 1.0), (900, 150, 0.25), (2200, 250, 0.1)))
            tone += (formant + 0.02) / h ** 2 * np.sin(h * phase)
    tone *= _note_envelope(notes, sample_rate)
    tone /= np.abs(tone).max() + 1e-9
    breath = rng.standard_normal(tone.size) * 10 ** (noise_db / 20)
    return (0.5 * tone + breath).astype(np.float32)


def tune_spans(notes, seconds: float | None = None) -> list[tuple[float, float, int]]:
    """(MIDI pitch, seconds) notes played one after another (pitch None: a rest) -> [(start_s, end_s,
    pitch)], the tune repeated until it fills ``seconds`` (once if None) and cut there."""
    total = sum(sec for _, sec in notes)
    if total <= 0 or all(pitch is None for pitch, _ in notes):
        raise ValueError("a tune needs at least one note and a positive length.")
    spans, t = [], 0.0
    while t < (total if seconds is None else seconds):
        for pitch, sec in notes:
            if seconds is not None and t >= seconds:
                break
            if pitch is not None:
                spans.append((t, t + sec if seconds is None else min(t + sec, seconds), int(pitch)))
            t += sec
    return spans


def realistic_hum(notes=DEFAULT_TUNE, seconds: float | None = None, sample_rate: int = 24_000, seed: int = 0,
                  voice: str = "female", snr_db: float | None = 20.0, drift_cents: float = 30.0, drift_s: float = 1.5,
                  breath: float | None = 0.15, room_size: float = 0.5, wet: float = 0.3) -> np.ndarray:
    """A hum as a user records it: corpus v2's formant voice (``data/voice.py``) hums ``notes`` on "u"
    (breathy, vibrato, a slow drift of +-``drift_cents``, a new target every ``drift_s``), in a room
    (pedalboard's reverb, ``wet`` 0: none), under pink room noise at ``snr_db`` against the
    reverberant hum (None: no noise); peak 0.5.

    notes: (MIDI pitch, seconds) played one after another (pitch None: a breath), repeated to fill
    ``seconds`` (default: once).
    breath: breath noise against the voiced source (None: the singer's own, 0.05-0.06).
    """
    import pedalboard as pb

    from ..data.voice import render_voice

    if (snr_db is not None and not np.isfinite(snr_db)) or not 0 <= wet <= 1 or not 0 <= room_size <= 1:
        raise ValueError(f"snr_db must be finite (or None) and wet, room_size in 0-1 (got {snr_db}, {wet}, "
                         f"{room_size}).")
    spans = tune_spans(notes, seconds)
    seconds = sum(sec for _, sec in notes) if seconds is None else seconds
    sung = render_voice(spans, seconds, sample_rate=sample_rate, voice=voice, seed=seed, vowels="u",
                        drift_cents=drift_cents, drift_s=drift_s, breath=breath)
    room = pb.Pedalboard([pb.Reverb(room_size=room_size, damping=0.6, wet_level=wet, dry_level=1.0 - 0.5 * wet,
                                    width=0.0)])
    hum = (room(sung[None], sample_rate)[0] if wet > 0 else sung).astype(np.float64)
    out = hum
    if snr_db is not None:
        noise = pink_noise(seconds, sample_rate, seed=seed + 7919).astype(np.float64)[: hum.size]
        noise = np.pad(noise, (0, hum.size - noise.size))
        out = hum + noise * np.sqrt(np.mean(hum ** 2) / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr_db / 10))
    return (0.5 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def hum_set(count: int, seconds: float, sample_rate: int = 24_000, clean: bool = False):
    """``count`` realistic hums of ``seconds``: the tunes of ``TUNES`` in turn, each transposed, female
    and male voices in turn, seed = index. Returns [(audio, spans)] with the true notes of each.
    clean: the same tunes hummed as meant (the voice's own breath and few cents of drift, no room, no noise)."""
    hum = dict(snr_db=None, drift_cents=6.0, drift_s=0.25, breath=None, wet=0.0) if clean else {}
    transpose = (0, 6, 3, 9, 1, 4, 10, 2)  # eval/metrics.py's MELODY_TRANSPOSE, then the rest of the octave
    tunes = list(TUNES.values())
    out = []
    for i in range(count):
        notes = [(p + transpose[i % len(transpose)], s) for p, s in tunes[i % len(tunes)]]
        audio = realistic_hum(notes, seconds, sample_rate, seed=i, voice=("female", "male")[i % 2], **hum)
        out.append((audio, tune_spans(notes, seconds)))
    return out


def karplus_strong(notes=DEFAULT_TUNE, sample_rate: int = 24_000, seed: int = 0, decay: float = 0.996) -> np.ndarray:
    """A plucked-string line (Karplus-Strong), each note plucked with a fifth below."""
    rng = np.random.default_rng(seed)
    out = []
    for pitch, sec in notes:
        n = int(sec * sample_rate)
        note = np.zeros(n)
        for p, gain in ((pitch, 1.0), (pitch - 7, 0.6)):
            period = max(2, int(round(sample_rate / midi_to_hz(p))))
            buffer = rng.uniform(-1, 1, period)
            samples = np.empty(n)
            for i in range(n):  # the classic averaging loop (short notes: fast enough)
                samples[i] = buffer[i % period]
                buffer[i % period] = decay * 0.5 * (buffer[i % period] + buffer[(i + 1) % period])
            note += gain * samples
        out.append(note)
    audio = np.concatenate(out)
    return (0.5 * audio / (np.abs(audio).max() + 1e-9)).astype(np.float32)


def drum_loop(seconds: float = 4.0, bpm: float = 100.0, sample_rate: int = 24_000, seed: int = 0) -> np.ndarray:
    """Analogue-style kick (pitched sine sweep), noise snare and hats on a backbeat."""
    rng = np.random.default_rng(seed)
    n, beat = int(seconds * sample_rate), 60.0 / bpm
    out = np.zeros(n)

    def add(at_s: float, hit: np.ndarray):
        start = int(at_s * sample_rate)
        end = min(n, start + hit.size)
        if start < n:
            out[start:end] += hit[: end - start]

    t = np.arange(int(0.3 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = rng.standard_normal(t.size) * np.exp(-t * 25) * 0.5 + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 20)
    hat = np.diff(rng.standard_normal(int(0.05 * sample_rate) + 1)) * np.exp(-np.arange(int(0.05 * sample_rate)) / 200) * 0.2
    for k in range(int(seconds / beat * 2)):
        at = k * beat / 2
        add(at, hat)
        if k % 4 == 0:
            add(at, kick)
        elif k % 4 == 2:
            add(at, snare)
    return (0.5 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def pink_noise(seconds: float = 4.0, sample_rate: int = 24_000, seed: int = 0) -> np.ndarray:
    """1/f noise by spectral shaping of white noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    audio = np.fft.irfft(spectrum, n)
    return (0.3 * audio / (np.abs(audio).max() + 1e-9)).astype(np.float32)


def out_of_domain_set(sample_rate: int = 24_000) -> dict[str, np.ndarray]:
    """The named clips the codec evaluation reports as "audio it never saw in kind"."""
    return {
        "hummed voice": hummed_melody(sample_rate=sample_rate, voice="hum"),
        "whistle": hummed_melody(sample_rate=sample_rate, voice="whistle", seed=1),
        "plucked string (Karplus-Strong)": karplus_strong(DEFAULT_TUNE[:8], sample_rate=sample_rate),
        "synth drum loop": drum_loop(sample_rate=sample_rate),
        "pink noise": pink_noise(sample_rate=sample_rate),
    }


def cadence(tonic: int, mode: str, seconds: float = 6.0, bpm: float | None = None,
            sample_rate: int = 24_000) -> np.ndarray:
    """I-IV-V-I block chords of additive tones in the key (``tonic`` 0 = C; the V major in either
    mode), a bass on each chord's root: four chords over ``seconds``, or with ``bpm`` one struck on
    every beat, the progression repeating."""
    third = 3 if mode == "minor" else 4
    progression = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    count = len(progression) if bpm is None else int(seconds * bpm / 60)
    per = int(seconds * sample_rate / len(progression)) if bpm is None else int(60 / bpm * sample_rate)
    t = np.arange(per) / sample_rate
    out = []
    for n in range(count):
        chord = progression[n % len(progression)]
        tone = sum(np.sin(2 * np.pi * 440 * 2 ** ((60 + tonic + p - 69) / 12) * t * h) / h
                   for p in chord for h in (1, 2, 3))
        bass = np.sin(2 * np.pi * 440 * 2 ** ((36 + tonic + chord[0] - 69) / 12) * t)
        out.append((tone + bass) * np.minimum(1, 20 * t) * np.exp(-t))
    return (0.1 * np.concatenate(out)).astype(np.float32)
