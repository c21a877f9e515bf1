"""Wordless voices: the formant singer follows a melody, sounds like a voice, is deterministic;
the lyrics notice answers prompts that ask for words and only those."""

import librosa
import numpy as np
import pytest

from musiclm_studio.data.voice import VOICES, render_voice
from musiclm_studio.lyrics import NOTICE, asks_for_words

SR = 24000


def _melody(index: int, seconds: float = 6.0):
    pytest.importorskip("pretty_midi")
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose

    return compose(sample_attributes(0, index), seconds).lead_notes


def _pitch_class_agreement(audio, notes) -> float:
    """Share of frames inside the notes whose tracked f0 (pYIN) rounds to the note's pitch class."""
    f0, voiced, _ = librosa.pyin(audio, fmin=70, fmax=1100, sr=SR, frame_length=2048, hop_length=256)
    times = librosa.times_like(f0, sr=SR, hop_length=256)
    right = total = 0
    for start, end, pitch in notes:
        inside = (times >= start + 0.03) & (times <= end - 0.03)
        heard = voiced[inside] & np.isfinite(f0[inside])
        total += inside.sum()
        right += (np.round(librosa.hz_to_midi(f0[inside][heard])) % 12 == pitch % 12).sum()
    return right / total


@pytest.mark.parametrize("voice,index", [("female", 0), ("male", 3), ("choir", 5)])
def test_the_voice_sings_the_melody(voice, index):
    notes = _melody(index)
    audio = render_voice(notes, 6.0, voice=voice, seed=index)
    assert audio.dtype == np.float32 and audio.shape == (6 * SR,) and np.abs(audio).max() <= 0.8 + 1e-6
    assert np.sqrt(np.mean(audio ** 2)) > 0.02  # not silent
    assert _pitch_class_agreement(audio, notes) >= 0.85


def test_same_seed_same_samples_other_seed_other_performance():
    notes = _melody(1, 4.0)
    import pretty_midi

    as_midi = [pretty_midi.Note(100, p, s, e) for s, e, p in notes]  # the composer's lead track works as well
    assert np.array_equal(render_voice(as_midi, 4.0, seed=3), render_voice(notes, 4.0, seed=3))
    for voice in VOICES:
        a = render_voice(notes, 4.0, voice=voice, seed=7)
        assert np.array_equal(a, render_voice(notes, 4.0, voice=voice, seed=7))
        assert not np.allclose(a, render_voice(notes, 4.0, voice=voice, seed=8))


def test_it_sounds_like_a_voice_formants_vibrato_and_silence_between_phrases():
    notes = [[0.2, 2.2, 57]]  # a long A3 (a tenor's range): its harmonics sample the vowel's spectral envelope
    spectra = {}
    for vowel in ("a", "i"):
        audio = render_voice(notes + [[3.0, 3.5, 57]], 4.0, voice="male", seed=1, vowels=vowel)
        spectrum = np.abs(np.fft.rfft(audio[int(0.6 * SR):int(2.0 * SR)] * np.hanning(int(1.4 * SR))))
        freqs = np.fft.rfftfreq(int(1.4 * SR), 1 / SR)
        band = lambda lo, hi: 20 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].max())  # noqa: E731
        spectra[vowel] = {"F1-F2 of a": band(600, 1150), "valley": band(1400, 2000), "F2 of i": band(1700, 2100),
                          "low": band(200, 350)}
        assert np.abs(audio[int(2.5 * SR):int(2.9 * SR)]).max() < 1e-3  # silence between the notes
        if vowel == "a":  # vibrato: none at the onset, 5-6 Hz after its delay
            f0, _, _ = librosa.pyin(audio[:int(2.2 * SR)], fmin=150, fmax=400, sr=SR, frame_length=2048,
                                    hop_length=120)
            cents = 1200 * np.log2(f0 / 220.0)
            late = cents[int(0.8 * SR / 120):int(2.0 * SR / 120)]
            assert np.nanstd(cents[int(0.25 * SR / 120):int(0.32 * SR / 120)]) < 5  # vibrato not yet begun
            frame = audio[SR:SR + 2400] - audio[SR:SR + 2400].mean()
            r = np.correlate(frame, frame, "full")[len(frame) - 1:]
            assert r[100:120].max() / r[0] > 0.7  # periodic at 220 Hz (lag ~109): harmonic, not noise
            assert 8 < np.nanstd(late) < 60
            rate = np.argmax(np.abs(np.fft.rfft(late - np.nanmean(late)))) * (SR / 120) / len(late)
            assert 4.5 <= rate <= 6.5
    a, i = spectra["a"], spectra["i"]
    assert a["F1-F2 of a"] - a["valley"] > 10  # 'a': strong F1/F2 near 650-1080 Hz, a dip above
    assert i["F2 of i"] - i["F1-F2 of a"] > a["F2 of i"] - a["F1-F2 of a"] + 10  # 'i' moves F2 up to ~1.9 kHz
    assert i["low"] > i["F1-F2 of a"]  # and its F1 down near 290 Hz


def test_portamento_glides_between_legato_notes_and_bad_input_is_refused():
    audio = render_voice([[0.0, 1.0, 60], [1.0, 2.0, 67]], 2.0, voice="male", seed=0, vowels="a").astype(float)

    def pitch(at: float) -> float:  # autocorrelation pitch of 15 ms (pYIN does not follow a 70-ms glide)
        x = audio[int(at * SR):int(at * SR) + 360] - audio[int(at * SR):int(at * SR) + 360].mean()
        r = np.correlate(x, x, "full")[len(x) - 1:]
        lags = np.arange(SR // 400, SR // 80)
        return float(librosa.hz_to_midi(SR / lags[np.argmax(r[lags])]))

    sung = [pitch(t) for t in (0.9, 1.025, 1.035, 1.2)]  # sung an octave down: 48 -> 55
    assert abs(sung[0] - 48) < 0.5 and abs(sung[-1] - 55) < 0.5
    assert all(48.5 < p < 54.5 for p in sung[1:3]) and sung[1] < sung[2]  # gliding up between the notes
    assert np.all(render_voice([], 1.0) == 0) and render_voice([], 1.0).shape == (SR,)
    with pytest.raises(ValueError, match="voice must be one of"):
        render_voice([[0, 1, 60]], 1.0, voice="robot")
    with pytest.raises(ValueError, match="vowels must be"):
        render_voice([[0, 1, 60]], 1.0, vowels="xyz")
    with pytest.raises(ValueError, match="MIDI numbers"):
        render_voice([[0, 1, 200]], 1.0)
    with pytest.raises(ValueError, match="start_s, end_s, midi_pitch"):
        render_voice([[0, 1]], 1.0)


ASKS = ["A pop song with lyrics about summer love",
        "The Afrobeats song features a male vocal rapping over punchy kicks",
        "spoken word poetry over a jazz trio", "a female singer singing about heartbreak over piano",
        "A male vocalist sings in Spanish over acoustic guitar", "a birthday song that sings 'happy birthday'",
        "The low quality recording features a flat male vocal talking over mellow strings",
        "a hip hop track with a rapper", "a narrator reads a story over ambient pads",
        "write the words for a country song"]
WORDLESS = ["A female vocalist sings this melodious pop song over soft piano.", "choir oohs with warm strings",
            "a male voice singing wordless vowels", "an instrumental song with no lyrics", "lo-fi beat without words",
            "a rap beat for freestyles", "There are no voices in this song.", "soft female vocal oohs at 90 bpm",
            "The song is an instrumental. There is no singer.", "a choir singing in harmony",
            "she sings 'ooh' and 'aah'",
            "This song can be played in a rap cypher.", ""]


def test_the_lyrics_notice_answers_prompts_asking_for_words_only():
    assert [p for p in ASKS if asks_for_words(p) != NOTICE] == []
    assert [p for p in WORDLESS if asks_for_words(p) is not None] == []
    assert "wordless" in NOTICE and "lyrics" in NOTICE


def test_the_corpus_voice_source_sings_the_lead_track():
    """Corpus v2's ``voice`` source (the lead track of a composed song, pretty_midi notes) follows it."""
    pytest.importorskip("pretty_midi")
    from musiclm_studio.data.attributes import sample_attributes
    from musiclm_studio.data.composer import compose
    from musiclm_studio.data.sources import get_source

    song = compose(sample_attributes(0, 1), 6.0)
    audio = get_source("voice").render(song.track("lead"), 6.0, seed=2, voice="female")
    assert audio.shape == (6 * SR,) and _pitch_class_agreement(audio, song.lead_notes) >= 0.85
