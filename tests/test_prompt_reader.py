"""The prompt reader: tempo words, numbers, negations and musicians' terms read into the right band,
wherever they sit in the sentence; mood words that name a mode; the attributes a (negative) prompt names.
Pure text rules: no model loaded."""

import pytest

from musiclm_studio.data.genres import GENRES
from musiclm_studio.conditioning.prompt_reader import TEMPO_CLASSES, named_attributes, read_mode, read_tempo, tempo_class

SLOW, FAST = (0, 95), (120, 1000)
PHRASINGS = {  # a few per tempo class; the benchmark (scripts/prompt_reading.py) has the full set
    SLOW: ["a slow {g}", "{g} at a slow tempo", "a laid-back, slow {g}", "a very slow and gentle {g}",
           "{g} with piano, relaxed", "The tempo is slow. This is a {g} track.", "an adagio {g} piece",
           "a half-time {g} groove"],
    FAST: ["a fast {g}", "{g} at a fast tempo", "an upbeat {g}", "a very fast {g} with loud drums",
           "{g} with guitar, frantic", "The pace is quick in this {g} song.", "an allegro {g} piece",
           "a double-time {g} beat"],
}


@pytest.mark.parametrize("band", [SLOW, FAST], ids=["slow", "fast"])
@pytest.mark.parametrize("genre", GENRES)
def test_tempo_words_are_read_into_their_band_whatever_the_genre(genre, band):
    for template in PHRASINGS[band]:
        # the genre's typical tempo, as the attribute reader reads it, is moved into the band the words ask for
        for typical in (None, 60.0, 100.0, 180.0):
            bpm = read_tempo(template.format(g=genre), typical)
            assert bpm is not None and band[0] <= bpm <= band[1], (template, genre, typical, bpm)


def test_the_genre_tempo_is_kept_where_it_lies_in_the_band_and_no_word_means_no_reading():
    assert read_tempo("a slow ballad", 70.0) == 70.0  # already slow: the genre's own tempo stays
    assert read_tempo("a fast punk song", 150.0) == 150.0
    assert read_tempo("a jazz trio with brushed drums and upright bass", 150.0) is None  # the caller keeps 150


def test_a_number_beats_a_word():
    assert read_tempo("a slow song at 140 bpm", 70.0) == 140.0
    assert read_tempo("a fast techno track, 72 beats per minute") == 72.0
    assert read_tempo("house music with a tempo of 124") == 124.0
    assert read_tempo("a slow waltz at around 90 beats a minute") == 90.0
    assert read_tempo("a groove at 250 BPM") is None  # outside 40-200: not a tempo the LMs can play


def test_negations_move_to_the_other_side_of_the_middle():
    assert tempo_class("a jazz tune that is not too fast") == "not fast"
    assert read_tempo("a jazz tune that is not too fast", 160.0) <= 110
    assert read_tempo("rock, not slow at all", 70.0) >= 100
    assert read_tempo("a song that isn't very slow", 60.0) >= 100
    # a negation reaches only its own clause
    assert tempo_class("no drums, slow and dreamy") == "slow"


@pytest.mark.parametrize("term, cls", [("largo", "very slow"), ("adagio", "slow"), ("andante", "andante"),
                                        ("moderato", "moderate"), ("allegro", "fast"), ("presto", "very fast")])
def test_musicians_terms(term, cls):
    assert tempo_class(f"a string quartet playing {term}") == cls
    low, high = {"very slow": (40, 66), "slow": (60, 88), "andante": (76, 108), "moderate": (96, 120),
                 "fast": (120, 170), "very fast": (160, 200)}[cls]
    assert low <= read_tempo(f"a {term} movement for strings", 120.0) <= high


def test_plain_words_beat_feel_words_and_parts_are_not_tempi():
    assert tempo_class("a relaxed but fast bossa nova") == "fast"
    assert tempo_class("fast arpeggios over a slow groove") == "slow"  # 'fast' describes the arpeggios
    assert tempo_class("a pad with a slow attack and a slow build") is None
    assert tempo_class("a very slow piece") == "very slow" and tempo_class("an extremely fast one") == "very fast"
    assert all(c.low < c.high for c in TEMPO_CLASSES.values())


def test_mood_words_name_a_mode_only_when_they_agree():
    assert read_mode("a happy, bright pop song") == "major"
    assert read_mode("a dark and melancholic piano piece") == "minor"
    assert read_mode("a sad song with a happy ending") is None  # both: the attribute reader decides
    assert read_mode("a song that is not sad") == "major"
    assert read_mode("a rock song with drums") is None


@pytest.mark.parametrize("text, named", [
    ("drums", ("drums",)), ("the percussion", ("drums",)), ("hi-hats and cymbals", ("drums",)),
    ("808 drum machine", ("drums",)), ("piano", ("lead_family",)), ("distorted electric guitars", ("lead_family",)),
    ("a string section", ("lead_family",)), ("for string quartet", ("lead_family",)),
    ("minor key", ("mode",)), ("drums, piano", ("drums", "lead_family")),
    ("loud and muddy", ()), ("vocals", ()), ("a hip hop beat", ()), ("", ()),
])
def test_named_attributes_are_the_ones_a_prompt_says_in_words(text, named):
    assert named_attributes(text) == named
