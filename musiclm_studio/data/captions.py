"""MusicCaps-style captions and aspect tags, written only from what is true of the clip.

``describe`` turns ``Attributes`` into a caption and a list of aspect tags. Three registers:
MusicCaps-like paragraphs (about 60%), short prompts as a user would type them (about 30%) and
comma-separated tag lists. Sentences come from many templates and synonym lists; tempo and key
are stated exactly, in words, or not at all. Every claim follows from the attributes: tempo
words only inside their bpm range, "no drums" only without a drum track, mood words only in
the matching mode and energy, reverb / lo-fi / distortion only when the renderer added them.
These are the v1 captions; ``describe(..., version=2)`` writes caption v2 (``captions_v2``), whose
phrasings ``requested``, ``stated_tempo_bands`` and ``stated_drums`` read back as well.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from .attributes import Attributes
from .instruments import DRUM_KITS, instrument
from .theory import NOTE_NAMES
from ..vocab.musical_key import stated_key

MOOD_WORDS = {
    "calm": ("calm", "relaxed", "serene"), "peaceful": ("peaceful", "tranquil"), "dreamy": ("dreamy", "ethereal"),
    "tender": ("tender", "gentle"), "relaxing": ("relaxing", "soothing", "chill"), "happy": ("happy", "bright"),
    "cheerful": ("cheerful", "sunny"), "easygoing": ("easygoing", "laid-back"), "uplifting": ("uplifting", "hopeful"),
    "playful": ("playful", "light-hearted"), "joyful": ("joyful", "exuberant"), "energetic": ("energetic", "lively"),
    "triumphant": ("triumphant", "heroic"), "exciting": ("exciting", "thrilling"),
    "melancholic": ("melancholic", "melancholy"), "sad": ("sad", "sorrowful"), "wistful": ("wistful", "bittersweet"),
    "mysterious": ("mysterious", "enigmatic"), "somber": ("somber", "gloomy"), "moody": ("moody", "brooding"),
    "nostalgic": ("nostalgic", "reflective"), "dark": ("dark", "ominous"), "brooding": ("brooding", "dark"),
    "intense": ("intense", "fierce"), "dramatic": ("dramatic", "tense"), "aggressive": ("aggressive", "heavy"),
    "driving": ("driving", "relentless"),
}
ENERGY_WORDS = {"low": ("soft", "gentle", "quiet", "mellow"), "medium": ("steady", "moderate"),
                "high": ("energetic", "loud", "powerful", "punchy")}
TEMPO_WORDS = {"slow": ("slow", "slow tempo", "unhurried"), "medium": ("medium tempo", "moderate tempo", "mid-tempo"),
               "fast": ("fast", "uptempo", "fast tempo", "brisk")}
COMP_WORDS = {
    "block": ("chords", "block chords", "steady chords"), "pad": ("sustained chords", "long held chords"),
    "arp": ("arpeggiated chords", "broken chords", "flowing arpeggios"), "strum": ("strummed chords", "rhythmic strumming"),
    "power": ("power chords", "heavy power chords"), "jazz": ("jazzy seventh chords", "syncopated jazz comping"),
    "stabs": ("short chord stabs", "syncopated stabs"), "skank": ("offbeat skank chords", "choppy offbeat chords"),
    "house": ("offbeat chord stabs", "stabbing house chords"),
    "alberti": ("a flowing broken-chord accompaniment", "an Alberti-style accompaniment"),
    "bossa": ("syncopated bossa nova chords", "soft syncopated chords"),
    "montuno": ("a syncopated piano montuno", "a repeating montuno figure"),
    "fingerpick": ("fingerpicked patterns", "a fingerpicked accompaniment"),
    "ostinato": ("a driving string ostinato", "a repeated ostinato figure"),
    "shuffle": ("a shuffle rhythm figure", "a boogie shuffle riff"),
}
BASS_WORDS = {
    "root": ("a simple bass line on the root notes", "long root notes"),
    "root_fifth": ("a simple root-fifth bass line", "an alternating root and fifth bass"),
    "eighths": ("a driving eighth-note bass line", "a pulsing eighth-note bass"),
    "walking": ("a walking bass line", "a walking bass"), "octave": ("an octave-jumping bass line", "a bouncy octave bass"),
    "offbeat": ("a pulsing off-beat bass", "an off-beat bass line"),
    "rolling": ("a rolling sixteenth-note bass line", "a rolling bass"),
    "funk": ("a funky syncopated bass line", "a groovy, syncopated bass line"),
    "reggae": ("a deep, syncopated reggae bass line", "a heavy, melodic bass line"),
    "bossa": ("a gentle bossa nova bass line", "a soft bass on the root and fifth"),
    "tumbao": ("a syncopated tumbao bass line", "an anticipated latin bass line"),
    "boogie": ("a boogie-woogie bass line", "a rolling boogie bass figure"),
    "808": ("a deep 808 bass", "a booming sub bass"), "drone": ("a low drone", "a deep sustained bass drone"),
}
DRUM_WORDS = {
    "backbeat": ("a steady rock beat", "a straightforward backbeat", "a driving rock drum beat"),
    "pop": ("a steady pop beat", "a simple, punchy pop beat"),
    "house": ("a four-on-the-floor house beat", "a four-on-the-floor kick with off-beat hi-hats"),
    "techno": ("a pounding four-on-the-floor kick", "a driving techno beat"),
    "boom_bap": ("a boom bap beat", "a hard-hitting boom bap drum beat"),
    "trap": ("a trap beat with rapid hi-hats", "a half-time trap beat"),
    "lofi": ("a laid-back, dusty drum beat", "a relaxed, lazy beat"),
    "one_drop": ("a one drop reggae rhythm", "a one-drop beat with the kick on the third beat"),
    "bossa": ("a gentle bossa nova rhythm", "a soft bossa nova groove with a cross-stick pattern"),
    "jazz_ride": ("a swinging ride cymbal pattern", "swing drumming on the ride cymbal"),
    "shuffle": ("a shuffle beat", "a swinging shuffle groove"),
    "metal": ("heavy, fast drumming", "pounding metal drums"),
    "funk": ("a tight funk groove with sixteenth-note hi-hats", "a syncopated funk drum beat with ghost notes"),
    "country": ("a simple country beat", "a boom-chick country rhythm"),
    "salsa": ("latin percussion with congas, cowbell and claves", "a salsa rhythm with congas and cowbell"),
    "epic": ("big cinematic drums with booming toms", "thunderous tom drums"),
    "folk": ("light percussion", "a soft, simple beat"), "ambient": ("a soft, sparse beat", "minimal, quiet percussion"),
}
METRE_WORDS = {"3/4": ("3/4 time", "waltz time", "triple meter"), "6/8": ("6/8 time", "compound time", "a lilting 6/8")}
NO_DRUMS = ("There is no percussion.", "There are no drums.", "The piece has no drums or percussion.",
            "No drums are present.")
SECTION_WORDS = {"intro": ("It sounds like the intro of a song.", "This could be the opening of a track."),
                 "verse": ("It sounds like a verse section.", "This feels like the verse of a song."),
                 "chorus": ("It sounds like the chorus, with everything playing at full strength.",
                            "This is the big, full-sounding chorus part."),
                 "build": ("The music builds up, growing louder toward the end.", "It is a build-up with rising intensity.")}


TEMPO_BANDS = {"slow": (0, 80), "medium": (88, 115), "fast": (128, 1000)}
"""The bpm each tempo word is used for (inclusive); between the bands no word is said."""


def tempo_word(bpm: int, metre: str) -> str | None:
    """'slow' / 'medium' / 'fast' only where the felt tempo clearly is; None in between."""
    if metre == "6/8":
        return None
    return next((word for word, (low, high) in TEMPO_BANDS.items() if low <= bpm <= high), None)


# caption v2's tempo words (``captions_v2``), each used only inside its band; Italian terms only
# where their conventional range meets the band
TEMPO_WORDS_V2 = {
    "slow": ("slow", "slow tempo", "slow-paced", "a laid-back tempo", "a laid-back pace", "unhurried"),
    "medium": ("medium tempo", "mid-tempo", "moderate tempo", "a moderate pace", "a medium pace"),
    "fast": ("fast", "fast tempo", "uptempo", "brisk", "fast-paced", "quick tempo"),
}
ITALIAN_TEMPI = {"largo": (40, 60, "slow"), "adagio": (60, 76, "slow"), "andante": (88, 108, "medium"),
                 "moderato": (108, 115, "medium"), "allegro": (128, 168, "fast"), "presto": (168, 220, "fast")}
TEMPO_READINGS = {band: tuple(dict.fromkeys(TEMPO_WORDS[band] + TEMPO_WORDS_V2[band] + tuple(
    w for w, (_, _, b) in ITALIAN_TEMPI.items() if b == band))) for band in TEMPO_WORDS}
TEMPO_READINGS["medium"] += ("tempo is moderate",)
"""Every phrase a caption (v1 or v2) uses for a tempo band: what ``requested`` reads back."""

STATED_BPM = re.compile(r"(?<![\d.])(\d{2,3}(?:\.\d+)?)\s*(?:-\s*)?(?:bpm|beats?\s*(?:per|a|an|each|/)\s*min(?:ute)?)\b",
                        re.IGNORECASE)


def stated_bpm(text: str) -> float | None:
    """The tempo a prompt states as a number ('94 BPM', 'at 120 bpm', '72 beats per minute', '120 beats a minute',
    '90 beats/min'), else None."""
    found = STATED_BPM.search(text or "")
    return float(found.group(1)) if found else None


def requested(text: str, attrs: dict) -> dict:
    """The part of a clip's attributes that its caption ``text`` asks for.

    Captions state tempo (exact bpm or a tempo word) and mode only some of the time; a prompt
    that leaves them out asks for nothing there, so they are dropped. A prompt that names a tempo
    word but not the bpm asks for that word's band only: ``tempo_word`` says which (the clip's
    own bpm stays, for checks against the clip). Drums / no drums and the lead instrument are in
    every caption and kept. Used to score prompt adherence fairly. Reads v1 and v2 phrasings: a bpm
    in any form ``stated_bpm`` reads, tempo words of ``TEMPO_READINGS``, a mode named in a key
    ('Bb maj', ``stated_key``).
    """
    lowered, out = text.lower(), dict(attrs)

    def said(phrases) -> bool:
        return any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in phrases)

    named = stated_tempo_bands(text)
    if said([f"{attrs.get('bpm')} bpm"]) or (attrs.get("bpm") is not None and stated_bpm(text) == attrs["bpm"]):
        out.pop("tempo_word", None)
    elif named:
        own = tempo_word(attrs["bpm"], attrs.get("metre", "4/4")) if attrs.get("bpm") else None
        out["tempo_word"] = own if own in named else named[0]
    else:
        out.pop("bpm", None)
        out.pop("tempo_word", None)
    mode = attrs.get("mode")
    if mode not in ("major", "minor") or not (said([mode]) or stated_key(text)[1] == mode):
        out.pop("mode", None)
    return out


def stated_tempo_bands(text: str) -> list[str]:
    """The tempo bands ('slow', 'medium', 'fast') whose words (``TEMPO_READINGS``) a text uses."""
    lowered = (text or "").lower()
    return [band for band, phrases in TEMPO_READINGS.items()
            if any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in phrases)]


_NO_DRUMS = re.compile(r"\b(?:no|without(?: any)?|zero)\s+(?:drums?|percussion|drumming)\b|\bdrumless\b|"
                       r"\bno drums or percussion\b|\b(?:drums|percussion) (?:is|are) absent\b", re.IGNORECASE)
DRUM_VOCABULARY = re.compile(r"\b(?:drums?|drumming|drummer|percussion|(?<!off-)beat|groove|kick|snare|hi-?hats?|"
                             r"cymbals?|toms?|congas|brushes|backbeat|four-on-the-floor|rhythm section)\b", re.IGNORECASE)


def stated_drums(text: str) -> bool | None:
    """Whether a caption says there are drums (True), none ('no drums', 'without percussion',
    'drumless': False), or neither (None). A negation wins over drum words."""
    text = STATED_BPM.sub(" ", text or "")
    if _NO_DRUMS.search(text):
        return False
    return True if DRUM_VOCABULARY.search(text) else None


def counterfactuals(attrs: Attributes) -> dict[str, Attributes]:
    """The clip's attributes with one fact made false: mode flipped, tempo moved to a far tempo
    band, drums added or removed. Captions of these (``describe``) are hard negatives for MuLan:
    every other word in them is still true of the clip."""
    word = tempo_word(attrs.bpm, attrs.metre)
    if word == "medium":
        bpm = 66 if attrs.index % 2 else 144
    else:
        bpm = 144 if word == "slow" or (word is None and attrs.bpm < 104) else 66
    if attrs.drums:
        drums = replace(attrs, drums=False, kit=None, groove=None)
    else:
        drums = replace(attrs, drums=True, kit=0, groove="backbeat" if attrs.metre == "4/4" else None)
    return {"mode": replace(attrs, mode="minor" if attrs.mode == "major" else "major"),
            "tempo": replace(attrs, bpm=bpm), "drums": drums}


def describe(attrs: Attributes, variant: int = 0, version: int = 1) -> tuple[str, list[str]]:
    """(caption, aspects) for a clip; deterministic in (seed, index, variant).

    Variant 0 is the corpus caption; other variants are re-wordings of the same true facts
    (MuLan trains on several per clip). ``version`` 1 is the v1 corpus caption (unchanged); 2 is
    caption v2 (``captions_v2.describe_v2``, which also names the phrasing family).
    """
    if version == 2:
        from .captions_v2 import describe_v2

        caption = describe_v2(attrs, variant)
        return caption.text, caption.aspects
    if version != 1:
        raise ValueError(f"Caption version must be 1 or 2 (got {version!r}).")
    rng = np.random.default_rng([attrs.seed, attrs.index, 4] + ([variant] if variant else []))
    words = _Words(attrs, rng)
    style = rng.random()
    if style < 0.6:
        caption = _paragraph(words)
    elif style < 0.9:
        caption = _prompt(words)
    else:
        caption = ", ".join(words.aspects())
    return caption, words.aspects()


class _Words:
    """Random but true word choices for one clip."""

    def __init__(self, attrs: Attributes, rng):
        self.a, self.rng = attrs, rng
        self.style = attrs.spec.words[0]
        self.genre = self.pick(attrs.spec.words[1:])
        self.lead = self.name(attrs.lead_program)
        self.mood = self.pick(MOOD_WORDS[attrs.mood])
        self.tempo = tempo_word(attrs.bpm, attrs.metre)
        self.key = f"{NOTE_NAMES[attrs.tonic]} {attrs.mode}"

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def name(self, program: int) -> str:
        inst = instrument(program)
        return self.pick((inst.name,) * 2 + inst.synonyms)

    def tempo_phrase(self) -> str | None:
        """Exact bpm, a tempo word, or nothing."""
        r = self.rng.random()
        if r < 0.35:
            return self.pick((f"{self.a.bpm} bpm", f"{self.a.bpm} BPM", f"a tempo of {self.a.bpm} bpm"))
        if r < 0.8 and self.tempo:
            return self.pick(TEMPO_WORDS[self.tempo])
        return None

    def key_phrase(self) -> str | None:
        r = self.rng.random()
        if r < 0.3:
            return self.pick((f"in {self.key}", f"in the key of {self.key}"))
        if r < 0.7:
            return self.pick((f"in a {self.a.mode} key", f"in {self.a.mode}", f"with a {self.a.mode} tonality"))
        return None

    def drums(self) -> str:
        groove = self.a.groove if self.a.metre == "4/4" else None
        if groove is None:
            return self.pick(("a simple beat in 3/4", "a waltz beat") if self.a.metre == "3/4"
                             else ("a lilting 6/8 beat", "a rolling compound-time beat"))
        return self.pick(DRUM_WORDS[groove])

    def bass(self) -> str:
        text = self.pick(BASS_WORDS[self.a.bass_pattern])
        return text + " with glides" if self.a.bass_pattern == "808" and self.a.extra.get("glides") else text

    def aspects(self) -> list[str]:
        a = self.a
        tags = [a.spec.words[0], ("solo " if a.solo else "") + instrument(a.lead_program).name]
        tags += [n for n in a.instrument_names()[1:]]
        tags.append(DRUM_WORDS[a.groove][0] if a.drums and a.metre == "4/4" else ("drums" if a.drums else "no drums"))
        tags.append(f"{self.tempo} tempo" if self.tempo else f"{a.bpm} bpm")
        tags += [f"{a.mode} key", a.mood, ENERGY_WORDS[a.energy][0]]
        tags += [METRE_WORDS[a.metre][0]] if a.metre in METRE_WORDS else []
        tags += ["reverb"] * (a.reverb >= 0.35) + ["lo-fi"] * a.lofi + ["distorted guitar"] * a.distorted
        tags += [a.section, "instrumental", "no vocals"]
        return list(dict.fromkeys(tags))


def _article(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou8" else "a ") + word


def _paragraph(w: _Words) -> str:
    a, pick = w.a, w.pick
    s = [pick((f"This is {_article(w.mood + ' ' + w.genre)}.",
               f"This {w.style} piece features {_article(w.lead)} playing the main melody.",
               f"The song is {_article(w.style)} instrumental built around {_article(w.lead)} melody.",
               f"Here we have {_article(w.mood + ' ' + w.genre)}.",
               f"{_article(w.genre).capitalize()} led by {_article(w.lead)}."))]
    if a.solo:
        s.append(pick((f"It is a solo {w.lead} performance; there are no other instruments.",
                       f"{_article(w.lead).capitalize()} plays alone, covering melody and accompaniment.")))
    else:
        s.append(pick((f"The melody is played by {_article(w.lead)}.", f"{_article(w.lead).capitalize()} carries a catchy, repeated melody.",
                       f"{_article(w.lead).capitalize()} plays a simple tune on top.")))
        comp = pick(COMP_WORDS[a.comping])
        s.append(pick((f"{_article(w.name(a.harmony_program)).capitalize()} provides {comp}.",
                       f"In the background, {_article(w.name(a.harmony_program))} plays {comp}.")))
        if a.pad_program is not None:
            s.append(f"{_article(w.name(a.pad_program)).capitalize()} adds a soft sustained layer.")
        s.append(pick((f"{_article(w.name(a.bass_program)).capitalize()} plays {w.bass()}.",
                       f"The low end is {w.bass()} on {_article(w.name(a.bass_program))}.")))
    if a.drums:
        kit = w.pick((DRUM_KITS[a.kit][0],) + DRUM_KITS[a.kit][1])
        verb = "play" if kit.endswith("s") else "plays"
        s.append(pick((f"The {kit} {verb} {w.drums()}.", f"The rhythm is {w.drums()} on {kit}.")))
    else:
        s.append(pick(NO_DRUMS))
    s += _details(w)
    s.append(pick((f"The mood is {w.mood}.", f"It sounds {w.mood} and {pick(ENERGY_WORDS[a.energy])}.",
                   f"The atmosphere is {w.mood}.")))
    s += _production(w)
    if w.rng.random() < 0.5:
        s.append(pick(SECTION_WORDS[a.section]))
    s.append(pick(("There are no vocals.", "This is an instrumental piece with no voice.", "There is no singing.")))
    if a.spec.usage and w.rng.random() < 0.6:
        s.append(pick(("It would suit ", "This would fit ", "It could be background music for ")) + pick(a.spec.usage) + ".")
    return " ".join(s)


TEMPO_SENTENCES = {"slow": ("The tempo is slow.", "It moves at a slow, unhurried pace."),
                   "medium": ("The tempo is moderate.", "It has a medium tempo."),
                   "fast": ("The tempo is fast.", "It is fast and uptempo.")}


def _details(w: _Words) -> list[str]:
    """Tempo, key and metre sentences: exact, in words, or left out."""
    a, out, r = w.a, [], w.rng.random()
    if r < 0.35:
        out.append(w.pick((f"The tempo is {a.bpm} bpm.", f"It runs at {a.bpm} BPM.")))
    elif r < 0.8 and w.tempo:
        out.append(w.pick(TEMPO_SENTENCES[w.tempo]))
    r = w.rng.random()
    if r < 0.3:
        out.append(w.pick((f"It is in {w.key}.", f"The piece is in the key of {w.key}.")))
    elif r < 0.7:
        out.append(w.pick((f"It is in a {a.mode} key.", f"The harmony is {a.mode}.")))
    if a.metre != "4/4":
        out.append(f"It is in {w.pick(METRE_WORDS[a.metre])}.")
    return out


def _production(w: _Words) -> list[str]:
    a, out = w.a, []
    if a.reverb >= 0.35:
        out.append(w.pick(("There is a lot of reverb, giving it a spacious sound.", "The sound is wide and reverberant.")))
    if a.lofi:
        out.append(w.pick(("The recording sounds muffled and lo-fi, with a warm, filtered tone.",
                           "It has a warm, lo-fi, slightly muffled sound.")))
    if a.distorted:
        out.append(w.pick(("The guitar is heavily distorted.", "The electric guitar has a gritty, distorted tone.")))
    return out


def _prompt(w: _Words) -> str:
    """A short prompt: '<mood> <genre> with <lead>, <drums>, <tempo>, <key>'."""
    a = w.a
    parts = [f"{w.mood} {w.genre} with {w.lead}" if not a.solo else f"{w.mood} solo {w.lead}, {w.genre}"]
    if not a.solo and w.rng.random() < 0.5:
        parts.append(w.name(a.harmony_program))
    parts.append(w.drums() if a.drums else w.pick(("no drums", "no percussion", "without drums")))
    parts += [p for p in (w.tempo_phrase(), w.key_phrase()) if p]
    if a.lofi:
        parts.append("lo-fi")
    return ", ".join(parts)
