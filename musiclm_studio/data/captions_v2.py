"""Caption v2: many phrasing families, each caption still true of its clip and readable back.

``describe_v2`` writes one caption for a clip in one of five phrasing families (``FAMILIES``):

- "grammar": the v1 paragraph sentences, shuffled, some facts left out;
- "musiccaps": the style of the MusicCaps captions ("The recording features a rock song that
  consists of ...", "The song is medium tempo with ...", "It sounds ...", "This song may be
  playing in ..."), from the vocabulary and sentence openers most frequent there;
- "tags": a MusicCaps-like aspect list;
- "terse": a short prompt as a user types it;
- "prose": a request in the user's own voice ("I'd like a slow ... with ..., no drums please").

Facts are stated in many ways and some are left out: tempo as a bpm ("around 90 beats per
minute") or a word in its band ("laid-back tempo", "andante"); the key spelled every way ("B flat
major", "Bb major", "B♭ maj", "in the key of b flat minor") or only its mode; no drums / without
vocals as negations. The lead instrument and drums / no drums are in every caption. Wordless
voices (an optional ``vocals`` attribute: "female", "male", "choir") are said to sing vowels,
never words; production words (reverb, delay, chorus, distortion, lo-fi) appear only for effects
the attributes record (``effects_of``: v1's fields, or corpus v2's production record).
``HELD_OUT_FAMILY`` is never used for training: ``family_for`` gives corpus clips of train / valid
the other families only, and half of the test split and of the held-out world the held-out one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .attributes import Attributes
from .captions import (BASS_WORDS, COMP_WORDS, DRUM_VOCABULARY, DRUM_WORDS, ENERGY_WORDS, ITALIAN_TEMPI,
                       METRE_WORDS, MOOD_WORDS, TEMPO_WORDS_V2, tempo_word)
from .instruments import DRUM_KITS, instrument

FAMILIES = ("grammar", "musiccaps", "tags", "terse", "prose")
FAMILY_WEIGHTS = (0.25, 0.3, 0.15, 0.15, 0.15)
HELD_OUT_FAMILY = "prose"
"""The phrasing family kept out of training: requests in the user's own voice, a sentence plan
the models never see, so the held-out report measures wording they were not taught."""


def is_held_out(family: str) -> bool:
    """Whether captions of ``family`` are kept out of training (``HELD_OUT_FAMILY``)."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown caption family {family!r}; families are {', '.join(FAMILIES)}.")
    return family == HELD_OUT_FAMILY


@dataclass(frozen=True)
class Caption:
    """A v2 caption, its aspect tags, the phrasing family it was written in and the facts it states
    (``stated``: drums, lead_program, and where said bpm or tempo_word, mode, tonic, vocals, effects)."""

    text: str
    aspects: list[str]
    family: str
    stated: dict


BPM_FORMS = ("{} bpm", "{} BPM", "at {} bpm", "a tempo of {} bpm", "around {} beats per minute",
             "{} beats per minute", "about {} bpm", "{}-bpm")
SHARP_NAMES = {1: "C", 3: "D", 6: "F", 8: "G", 10: "A"}  # pitch class -> the letter sharpened
FLAT_NAMES = {1: "D", 3: "E", 6: "G", 8: "A", 10: "B"}  # pitch class -> the letter flattened
NATURAL_NAMES = {0: "C", 2: "D", 4: "E", 5: "F", 7: "G", 9: "A", 11: "B"}
MODE_SPELLINGS = {"major": ("major", "major", "maj", "Major"), "minor": ("minor", "minor", "min", "Minor")}
MOOD_EXTRA = {  # MusicCaps' frequent mood words, each only where the mood is true
    "calm": ("chill", "relaxing"), "peaceful": ("soothing",), "dreamy": ("hypnotic",), "tender": ("sentimental",),
    "relaxing": ("chill", "easygoing"), "happy": ("fun", "joyful"), "cheerful": ("happy", "fun"),
    "easygoing": ("chill", "groovy"), "uplifting": ("inspiring", "positive"), "playful": ("fun", "cheerful"),
    "joyful": ("fun", "happy"), "energetic": ("exciting", "vibrant"), "triumphant": ("epic", "powerful"),
    "exciting": ("energetic", "thrilling"), "melancholic": ("emotional", "sad"), "sad": ("emotional", "melancholic"),
    "wistful": ("sentimental", "emotional"), "mysterious": ("suspenseful", "eerie"), "somber": ("sad", "heavy"),
    "moody": ("dark", "brooding"), "nostalgic": ("sentimental", "emotional"), "dark": ("suspenseful", "ominous"),
    "brooding": ("suspenseful", "moody"), "intense": ("aggressive", "suspenseful"), "dramatic": ("intense", "epic"),
    "aggressive": ("intense", "heavy"), "driving": ("energetic", "intense"),
}
TONE_WORDS = {"low": ("mellow", "soft", "gentle", "smooth"), "medium": ("smooth", "steady", "warm", "bright"),
              "high": ("punchy", "loud", "energetic", "wide")}
VOCAL_WORDS = {
    "female": ("wordless female vocals", "a female voice singing wordless vowels", "soft female vocal oohs",
               "a female vocalist singing wordless aahs", "airy wordless female vocals"),
    "male": ("wordless male vocals", "a male voice singing wordless vowels", "male vocal aahs",
             "a male vocalist singing wordless oohs", "a mellow wordless male vocal"),
    "choir": ("choir oohs", "a wordless choir", "choir aahs", "a choir singing wordless vowels",
              "a choir of wordless voices"),
}
NO_VOCALS = ("There are no voices in this song.", "This song is an instrumental.", "There are no vocals.",
             "There is no singer in this piece.", "It is instrumental, without vocals.")
EFFECT_WORDS = {
    "reverb": ("reverb", "a lot of reverb", "a spacious reverb", "a reverberant, roomy sound"),
    "delay": ("delay", "an echoing delay effect", "a delay on the lead"),
    "chorus": ("a chorus effect", "a shimmering chorus effect"),
    "distortion": ("distortion", "a distorted, gritty tone", "overdrive"),
    "compression": ("heavy compression", "a compressed, punchy mix"),
    "lo-fi": ("a lo-fi, muffled sound", "a warm lo-fi filter", "a dusty lo-fi texture"),
}
EFFECT_ALIASES = {"compressor": "compression", "compressed": "compression", "distorted": "distortion",
                  "overdrive": "distortion", "amp": "distortion", "lofi": "lo-fi", "echo": "delay"}
REVERB_AUDIBLE = 0.35  # the clip's reverb amount from which captions say "reverb" (as in v1)
CHAIN_EFFECTS = ("distortion", "delay", "chorus")  # plugins on a track chain that captions name
EVALUATION_SPLITS, HELD_OUT_SHARE = ("test", "heldout"), 0.5
NO_DRUMS_V2 = ("no drums", "no percussion", "without drums", "without any percussion", "drumless")
_TEMPO_VOCAB = re.compile(r"\b(slow|fast|uptempo|brisk|quick|unhurried|tempo|pace|bpm)\b", re.IGNORECASE)


def vocals_of(attrs) -> str | None:
    """The clip's wordless voice ("female", "male", "choir") or None, from its ``vocals`` attribute
    (corpus v2 sets it on the attributes from the clip's sound plan)."""
    vocals = getattr(attrs, "vocals", None)
    return vocals if vocals in VOCAL_WORDS else None


def effects_of(attrs) -> list[str]:
    """The production effects the attributes say are audible, as ``EFFECT_WORDS`` names.

    Reads the v1 fields (reverb >= ``REVERB_AUDIBLE``, lofi, a distorted guitar) and, where present,
    corpus v2's production record as ``render_v2`` writes it to the metadata: ``production`` (the
    ``production.Production`` fields: ``reverb``, ``lowpass_hz`` for lo-fi) and ``effects`` (chain ->
    pedalboard plugin names: "distortion", "delay", "chorus" on a track chain). ``effects`` may also
    be a list of effect names or a {name: amount} dict (amounts 0 / False = absent). Compression on
    a chain is not an audible effect (a 2-4:1 compressor on a track or the bus), so it is not read."""
    production = getattr(attrs, "production", None) or {}
    production = production if isinstance(production, dict) else production.to_dict()
    reverb = production.get("reverb", getattr(attrs, "reverb", 0.0))
    lofi = production["lowpass_hz"] is not None if "lowpass_hz" in production else getattr(attrs, "lofi", False)
    found = ["reverb"] * (reverb >= REVERB_AUDIBLE) + ["lo-fi"] * bool(lofi)
    extra = getattr(attrs, "effects", None) or ()
    if isinstance(extra, dict) and extra and all(isinstance(v, (list, tuple)) for v in extra.values()):
        on_tracks = {name for chain, names in extra.items() if chain != "bus" for name in names}
        return found + [name for name in CHAIN_EFFECTS if name in on_tracks]
    found += ["distortion"] * bool(getattr(attrs, "distorted", False))
    names = [k for k, v in extra.items() if v] if isinstance(extra, dict) else list(extra)
    for name in names:
        name = EFFECT_ALIASES.get(str(name).lower(), str(name).lower())
        if name in EFFECT_WORDS:
            found.append(name)
    return list(dict.fromkeys(found))


def family_for(attrs, split: str, variant: int = 0) -> str:
    """The phrasing family of a corpus clip's caption, from (seed, index, variant) and its split: never
    ``HELD_OUT_FAMILY`` in ``train`` / ``valid``; ``HELD_OUT_FAMILY`` for ``HELD_OUT_SHARE`` of the
    clips of ``test`` and ``heldout`` (held-out phrasing; with the held-out world: the held-out
    evaluation set), the trained families by ``FAMILY_WEIGHTS`` otherwise. Training re-wordings of a
    clip: ``describe_v2(attrs, v, family_for(attrs, "train", v))``."""
    rng = np.random.default_rng([attrs.seed, attrs.index, 6] + ([variant] if variant else []))
    if split in EVALUATION_SPLITS and rng.random() < HELD_OUT_SHARE:
        return HELD_OUT_FAMILY
    trained = [(f, w) for f, w in zip(FAMILIES, FAMILY_WEIGHTS) if not is_held_out(f)]
    weights = np.array([w for _, w in trained])
    return trained[int(rng.choice(len(trained), p=weights / weights.sum()))][0]


def spell_key(tonic: int, mode: str, rng) -> str:
    """The key named one of many ways: 'B flat major', 'Bb major', 'B-flat minor', 'B♭ maj', 'A# minor'."""
    m = rng.choice(MODE_SPELLINGS[mode])
    if tonic in NATURAL_NAMES:
        return f"{NATURAL_NAMES[tonic]} {m}"
    flat = rng.random() < 0.6
    letter = (FLAT_NAMES if flat else SHARP_NAMES)[tonic]
    sign = rng.choice((" flat", "-flat", "b", "♭") if flat else (" sharp", "-sharp", "#", "♯"))
    return f"{letter}{sign} {m}"


def key_phrase(tonic: int, mode: str, rng, with_tonic: bool) -> str:
    """'in B flat major' / 'in the key of b flat minor' / 'in a minor key' / 'minor key'."""
    if not with_tonic:
        return str(rng.choice((f"in a {mode} key", f"in {mode}", f"in a {mode} tonality")))
    key = spell_key(tonic, mode, rng)
    return str(rng.choice((f"in {key}", f"in the key of {key}", f"in the key of {key.lower()}")))


def _bare(key: str) -> str:
    """'in the key of Bb major' -> 'key of Bb major', 'in a minor key' -> 'minor key', 'in F major' -> 'F major'."""
    return key.removeprefix("in the ").removeprefix("in a ").removeprefix("in ")


def _tempo_sentence(tempo: str, rng) -> str:
    """'The tempo is slow.', 'The song is medium tempo.', 'It moves at a laid-back pace.'"""
    tempo = tempo.removeprefix("at ").removeprefix("a tempo of ").replace("-bpm", " bpm")
    if tempo.startswith("a "):
        return f"It moves at {tempo}."
    if tempo.endswith(("tempo", "paced")):
        return f"The song is {tempo}."
    return str(rng.choice((f"The tempo is {tempo}.", f"It plays at {tempo}." if tempo[0].isdigit() or
                           tempo.startswith(("around", "about")) else f"The pace is {tempo}.")))


def tempo_phrase(bpm: int, metre: str, rng, exact: bool) -> str | None:
    """The bpm in one of ``BPM_FORMS`` (``exact``), else a word of its tempo band or None."""
    if exact:
        return str(rng.choice(BPM_FORMS)).format(bpm)
    band = tempo_word(bpm, metre)
    if band is None:
        return None
    italian = [w for w, (lo, hi, b) in ITALIAN_TEMPI.items() if b == band and lo <= bpm <= hi and metre != "6/8"]
    return str(rng.choice(list(TEMPO_WORDS_V2[band]) + italian))


def describe_v2(attrs: Attributes, variant: int = 0, family: str | None = None) -> Caption:
    """A v2 caption of the clip; deterministic in (seed, index, variant). ``family`` forces a
    phrasing family (else drawn by ``FAMILY_WEIGHTS``)."""
    rng = np.random.default_rng([attrs.seed, attrs.index, 5, variant])
    drawn = FAMILIES[int(rng.choice(len(FAMILIES), p=FAMILY_WEIGHTS))]
    family = family or drawn
    if family not in FAMILIES:
        raise ValueError(f"Unknown caption family {family!r}; families are {', '.join(FAMILIES)}.")
    facts = _Facts(attrs, rng)
    writer = {"grammar": _grammar, "musiccaps": _musiccaps, "tags": _tags, "terse": _terse, "prose": _prose}[family]
    text = re.sub(r"\s+", " ", writer(facts)).strip()
    return Caption(text[0].upper() + text[1:] if family != "tags" else text, facts.aspects(), family, facts.stated())


class _Facts:
    """True word choices for one clip, and which optional facts this caption states."""

    def __init__(self, attrs: Attributes, rng):
        self.a, self.rng = attrs, rng
        self.vocals, self.effects = vocals_of(attrs), effects_of(attrs)
        nouns = [w for w in attrs.spec.words[1:] if not (self.vocals and "instrumental" in w)]
        self.genre, self.style = self.pick(nouns or [f"{attrs.spec.words[0]} song"]), attrs.spec.words[0]
        self.lead = self.name(attrs.lead_program)
        self.mood = self.pick(MOOD_WORDS[attrs.mood] + MOOD_EXTRA.get(attrs.mood, ()))
        self.tone = self.pick(TONE_WORDS[attrs.energy])
        r = rng.random()  # tempo: exact, in words or unstated; key: tonic and mode, mode only or unstated
        self.exact_tempo, self.tonic_named = r < 0.3, False
        self.tempo = tempo_phrase(attrs.bpm, attrs.metre, rng, exact=r < 0.3) if r < 0.75 else None
        r = rng.random()
        self.tonic_named = r < 0.35
        self.key = key_phrase(attrs.tonic, attrs.mode, rng, with_tonic=r < 0.35) if r < 0.7 else None
        self.states_mood = rng.random() < 0.75
        self.states_others = rng.random() < 0.7

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def name(self, program: int) -> str:
        inst = instrument(program)
        return self.pick((inst.name,) * 2 + inst.synonyms)

    def stated(self) -> dict:
        a = self.a
        out = {"drums": a.drums, "lead_program": a.lead_program}
        if self.tempo:
            out |= {"bpm": a.bpm} if self.exact_tempo else {"tempo_word": tempo_word(a.bpm, a.metre)}
        if self.key:
            out |= {"mode": a.mode} | ({"tonic": a.tonic} if self.tonic_named else {})
        if self.vocals:
            out["vocals"] = self.vocals
        if self.effects:
            out["effects"] = list(self.effects)
        return out

    def others(self) -> list[str]:
        """The accompanying instruments' names (none for a solo)."""
        a = self.a
        programs = [] if a.solo else [a.harmony_program, a.pad_program, a.bass_program]
        names = [self.name(p) for p in programs if p is not None and p != a.lead_program]
        return list(dict.fromkeys(names))

    def drums(self) -> str:
        """A drum phrase (no tempo words in it), or a negation."""
        a = self.a
        if not a.drums:
            return self.pick(NO_DRUMS_V2)
        options = [p if DRUM_VOCABULARY.search(p) else f"{p} on the drums" for p in DRUM_WORDS.get(a.groove, ())
                   if not _TEMPO_VOCAB.search(p)] if a.metre == "4/4" else []
        kit = self.pick((DRUM_KITS[a.kit][0],) + DRUM_KITS[a.kit][1])
        kit = f"{self.tone} {kit}" if kit.endswith("s") else _article(f"{self.tone} {kit}")
        options += [kit if "drum" in kit else f"{kit} on the beat", f"a {self.tone} drum beat"]
        return self.pick(options)

    def voice(self) -> str | None:
        return self.pick(VOCAL_WORDS[self.vocals]) if self.vocals else None

    def effect_words(self) -> list[str]:
        return [self.pick(EFFECT_WORDS[e]) for e in self.effects]

    def aspects(self) -> list[str]:
        a = self.a
        tags = [a.spec.words[0], instrument(a.lead_program).name, *a.instrument_names()[1:]]
        tags.append("drums" if a.drums else "no drums")
        band = tempo_word(a.bpm, a.metre)
        tags += [f"{band} tempo" if band else f"{a.bpm} bpm", f"{a.mode} key", a.mood, ENERGY_WORDS[a.energy][0]]
        tags += [METRE_WORDS[a.metre][0]] if a.metre in METRE_WORDS else []
        tags += self.effects
        tags += [f"wordless {self.vocals} vocals" if self.vocals != "choir" else "wordless choir"] if self.vocals \
            else ["instrumental", "no vocals"]
        return list(dict.fromkeys(tags))


def _article(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou8" else "a ") + word


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _grammar(f: _Facts) -> str:
    """v1-like sentences in a shuffled order, some left out."""
    a, pick = f.a, f.pick
    body = [pick((f"{_article(f.lead).capitalize()} plays the main melody.",
                  f"The melody is played by {_article(f.lead)}.",
                  f"{_article(f.lead).capitalize()} carries the tune."))]
    if not a.solo and f.states_others:
        body.append(f"{_article(f.name(a.harmony_program)).capitalize()} provides {pick(COMP_WORDS[a.comping])}.")
        if a.bass_program is not None:
            body.append(f"The low end is {pick(BASS_WORDS[a.bass_pattern])} on {_article(f.name(a.bass_program))}.")
    if a.drums:
        body.append(pick((f"The rhythm is carried by {f.drums()}.", f"It has {f.drums()}.")))
    else:
        body.append(pick(("There are no drums.", "There is no percussion.", "It is played without drums.")))
    if f.tempo:
        body.append(_tempo_sentence(f.tempo, f.rng))
    if f.key:
        body.append(pick((f"It is {f.key}.", f"The piece is {f.key}.")))
    if f.vocals:
        body.append(pick((f"It also features {f.voice()}.", f"Over it, you can hear {f.voice()}.")))
    f.rng.shuffle(body)
    opening = f"This is {_article(f.mood + ' ' + f.genre)}." if f.states_mood else f"This is {_article(f.genre)}."
    closing = [f"It has {_join(f.effect_words())}."] if f.effects else []
    closing += [] if f.vocals else [pick(NO_VOCALS)]
    return " ".join([opening] + body + closing)


def _musiccaps(f: _Facts) -> str:
    """MusicCaps-style: what the recording features, then tempo, mood, quality and a use."""
    a, pick = f.a, f.pick
    parts = [f"{f.tone} {f.lead} melody" if not a.solo else f"a solo {f.lead} performance"]
    parts += [f"{pick(TONE_WORDS[a.energy])} {o}" for o in (f.others() if f.states_others else [])]
    parts.append(f.drums() if a.drums else "")
    if f.vocals:
        parts.insert(0, f.voice())
    quality = "The low quality recording" if a.lofi else pick(("The recording", "This recording", "The audio"))
    noun = pick(("song", "track", "piece", "tune"))
    opener = pick((f"{quality} features {_article(f.style)} {noun} that consists of {_join(parts)}.",
                   f"This is {_article(f.style)} {noun}. It features {_join(parts)}.",
                   f"This {f.style} {noun} contains {_join(parts)}."))
    s = [opener]
    if f.tempo:
        s.append(_tempo_sentence(f.tempo, f.rng))
    if not a.drums:
        s.append(pick(("There is no percussion in this song.", "There are no drums in this song.")))
    if f.key:
        s.append(pick((f"The song is {f.key}.", f"It is played {f.key}.")))
    if f.states_mood:
        s.append(pick((f"It sounds {f.mood} and {f.tone}.", f"The atmosphere is {f.mood}.",
                       f"The mood of this song is {f.mood}.")))
    if f.effects:
        s.append(f"The mix has {_join(f.effect_words())}.")
    if not f.vocals:
        s.append(pick(NO_VOCALS))
    if a.spec.usage and f.rng.random() < 0.6:
        s.append(pick(("This song may be playing in ", "This song can be played in ", "This piece could be used in "))
                 + pick(a.spec.usage) + ".")
    return " ".join(s)


def _tags(f: _Facts) -> str:
    """An aspect list: genre first, the rest in a shuffled order."""
    a = f.a
    tags = [f.lead, f.drums() if a.drums else f.pick(("no drums", "no percussion"))]
    tags += (f.others() if f.states_others else []) + ([f.mood] if f.states_mood else [])
    tags += [t for t in (f.tempo and f.tempo.removeprefix("at "), _bare(f.key) if f.key else None) if t]
    tags += [f.voice()] if f.vocals else [f.pick(("instrumental", "no vocals", "no voice"))]
    tags += f.effects
    f.rng.shuffle(tags)
    return ", ".join([f.genre] + tags)


def _terse(f: _Facts) -> str:
    """A short prompt: '<mood> <genre> with <lead>, <drums>, <tempo>, <key>'."""
    a = f.a
    head = f"{f.mood} {f.genre}" if f.states_mood else f.genre
    parts = [f"{head} with {f.lead}" if not a.solo else f"{head}, solo {f.lead}"]
    parts.append(f.drums() if a.drums else f.pick(NO_DRUMS_V2))
    parts += [p for p in (f.tempo, f.key and f.pick((f.key, _bare(f.key)))) if p]
    parts += [f.voice()] if f.vocals else ([f.pick(("without vocals", "instrumental"))] if f.rng.random() < 0.4 else [])
    return ", ".join(parts)


def _prose(f: _Facts) -> str:
    """A request in the user's voice."""
    a, pick = f.a, f.pick
    head = f"{f.mood} {f.genre}" if f.states_mood else f.genre
    ask = pick(("I'd like ", "Could you make ", "Give me ", "Please write ", "I want ", "Make me "))
    what = f"{_article(head)} {f.key}" if f.key else _article(head)
    lead = pick((f"where {_article(f.lead)} carries the melody", f"led by {_article(f.lead)}",
                 f"with {_article(f.lead)} on top"))
    drums = f"over {f.drums()}" if a.drums else pick(("and no drums at all", "without drums", "with no percussion"))
    tail = []
    if f.tempo:
        tempo = f.tempo.removeprefix("at ").replace("-bpm", " bpm")
        tail.append(f"at {tempo}" if tempo[0].isdigit() or tempo.startswith(("a ", "around", "about"))
                    else f"keep it {tempo}")
    tail += [f"with {_join(f.effect_words())}"] if f.effects else []
    tail.append(f"with {f.voice()}" if f.vocals else pick(("no vocals please", "without vocals", "instrumental only")))
    return f"{ask}{what} {lead}, {drums}; {', '.join(tail)}."
