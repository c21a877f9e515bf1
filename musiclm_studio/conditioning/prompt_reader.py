"""What a prompt's words say about tempo and mood, read by rules, before the attribute reader's guess.

The attribute reader (``models.attribute_reader``) reads tempo and mode from MiniLM sentence features,
learnt on the corpus's captions. Those features are dominated by the genre, so a genre's typical
tempo in the corpus wins over the word: "a slow rock" was read as 200 bpm, "a relaxed bossa nova,
slow tempo" as 164 (``scripts/prompt_reading.py``: before this module, 19-67 % of slow- or
fast-word prompts were read into their band). The words are few and their meaning is fixed,
so rules read them here, and the reader's reading stays for what no word states:

- a number ('94 bpm', 'a tempo of 120') is taken as it is (``read_tempo``);
- else a tempo word sets a band (``TEMPO_CLASSES``): plain words (slow, fast, mid-tempo, quick,
  half-time, double-time, the Italian terms largo ... presto) before feel words (relaxed,
  laid-back, leisurely, upbeat, lively), the first of each in the text; an intensifier ('very
  slow') moves to the outer class, a negation ('not too fast', "isn't slow") to the band on the
  other side of the middle; a word that describes a part, not the tempo ('fast arpeggios', 'a
  slow attack', 'a slow build'), is skipped. The bpm laid is the reader's reading (the genre's
  typical tempo) moved into the band, else the band's middle;
- mood words that name a mode's colour (happy, bright / sad, dark, melancholic) give the mode
  where the prompt names none (``read_mode``), instead of the reader's reading.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from ..data.genres import GENRES
from ..data.captions import stated_bpm
from ..sampling_args import LIMITS


@dataclass(frozen=True)
class TempoClass:
    """The bpm band a tempo word asks for (inclusive)."""

    low: float
    high: float

    def bpm(self, typical: Optional[float]) -> float:
        """``typical`` (the genre's tempo the attribute reader reads) moved into the band; the band's middle without it."""
        if typical is None:
            return round(math.sqrt(self.low * self.high))
        return float(min(max(typical, self.low), self.high))


TEMPO_CLASSES = {
    "very slow": TempoClass(50, 66),
    "slow": TempoClass(62, 84),
    "andante": TempoClass(78, 100),
    "moderate": TempoClass(96, 114),
    "upbeat": TempoClass(120, 140),
    "fast": TempoClass(130, 168),
    "very fast": TempoClass(165, 190),
    "not fast": TempoClass(72, 110),  # 'not too fast'
    "not slow": TempoClass(100, 140),  # 'not slow at all'
}
"""The corpus's captions use 'slow' for <= 80 bpm and 'fast' for >= 128 (``data.captions.TEMPO_BANDS``):
the bands sit inside those so that the LMs hear tempi they were trained to call by that word."""

# Plain tempo words, in order of precedence at one position (longer phrases first). Each maps to a class.
_PLAIN = {
    "very slow": ["larghissimo", "largo", "lento", "glacial(?:ly slow)?", "crawling"],
    "slow": ["slow(?:ly|er|-paced| paced|-moving|-tempo| tempo)?", "low[- ]tempo", "down[- ]?tempo", "half[- ]time",
             "adagio", "adagietto", "larghetto", "sluggish", "plodding", "dragging"],
    "andante": ["andante", "andantino", "walking pace", "medium[- ]slow"],
    "moderate": ["moderate(?:ly)?(?:[- ]paced)?", "mid[- ]?tempo", "mid[- ]paced", "medium[- ](?:tempo|paced?|speed)",
                 rf"medium(?=\s*(?:[.,;:!?]|$|(?:{'|'.join(GENRES)})\b))", "moderato", "allegretto"],
    "fast": ["fast(?:er|-paced| paced|-moving|-tempo| tempo)?", "quick(?:ly|er|-paced)?", "rapid(?:ly)?", "speedy",
             "high[- ]tempo", "double[- ]time", "allegro", "hurried"],
    "very fast": ["presto", "prestissimo", "vivace", "vivacissimo", "breakneck", "blistering(?:ly fast)?",
                  "blazing(?:ly)?(?: fast)?", "lightning[- ]fast", "frantic", "frenetic", "hyper[- ]?fast"],
    "upbeat": ["medium[- ]fast"],  # 'the tempo is medium fast': a plain word, of the upbeat band
}
# Feel words: taken only where no plain word says the tempo ('a relaxed but fast bossa nova' is fast).
_FEEL = {
    "slow": ["laid[- ]?back", "relaxed", "relaxing", "leisurely", "unhurried", "unrushed", "languid", "lazy"],
    "upbeat": ["upbeat", "up[- ]?tempo", "lively", "brisk", "peppy"],
}
_INTENSIFIER = r"(?:very|really|extremely|super|incredibly|insanely|exceptionally|quite|so)[ -]"
_OUTER = {"slow": "very slow", "fast": "very fast", "upbeat": "fast"}
_NEGATION = re.compile(r"\b(?:not|never|no|nor|neither|without|\w+n't)\b(?:\s+\w+){0,2}\s*$")
_NEGATED = {"very slow": "not slow", "slow": "not slow", "andante": "not slow", "moderate": None,
            "upbeat": "not fast", "fast": "not fast", "very fast": "not fast"}
# A tempo word that describes a part of the music, not its tempo ('fast arpeggios', 'a slow attack').
_PART = re.compile(r"^(?:(?!(?:with|and|or|in|of|the|a|an|tempo|pace|feel)\b)[\w-]+\s+){0,2}?(?:attack|release|decay|vibrato|tremolo|fade(?:[- ](?:in|out))?|build(?:s|ing)?"
                   r"|burn(?:er|ing)?|fills?|rolls?|runs?|licks?|arpeggios?|passages?|scales?|trills?|notes|strumming"
                   r"|picking|glides?|sweeps?|swells?|bends?|slides?|decays?|motion)\b")


def _compile(table: dict) -> list[tuple[str, re.Pattern]]:
    return [(name, re.compile(rf"(?<![\w-])(?:{_INTENSIFIER})?(?:{'|'.join(words)})(?![\w])", re.IGNORECASE))
            for name, words in table.items()]


_PLAIN_RE, _FEEL_RE = _compile(_PLAIN), _compile(_FEEL)
_STATED_NUMBER = re.compile(r"\btempo\s+(?:of|is|at|around|about|near|:)?\s*(?:~\s*)?(\d{2,3})\b(?!\s*%)", re.IGNORECASE)


def _matches(text: str, table: list[tuple[str, re.Pattern]]) -> list[tuple[int, str]]:
    """(position, class) of every tempo word of ``table`` in ``text`` that says the tempo."""
    out = []
    for name, pattern in table:
        for found in pattern.finditer(text):
            if _PART.match(text[found.end():].lstrip()):
                continue
            word = found.group(0).lower()
            if re.match(_INTENSIFIER, word) and name in _OUTER and not word.startswith("quite"):
                name = _OUTER[name]
            clause = re.split(r"[.;,:!?]|\bbut\b|\band then\b", text[:found.start()])[-1]
            if _NEGATION.search(clause):
                name = _NEGATED[name]
            if name is not None:
                out.append((found.start(), name))
    return sorted(out)


def tempo_class(text: str) -> Optional[str]:
    """The tempo class (``TEMPO_CLASSES``) the words of ``text`` state, or None."""
    text = text or ""
    found = _matches(text, _PLAIN_RE) or _matches(text, _FEEL_RE)
    return found[0][1] if found else None


def stated_tempo(text: str) -> Optional[float]:
    """The bpm a prompt states as '94 BPM' / '72 beats per minute' where it lies within ``LIMITS["bpm"]``, else None."""
    bpm = stated_bpm(text)
    low, high = LIMITS["bpm"]
    return bpm if bpm is not None and low <= bpm <= high else None


def stated_number(text: str) -> Optional[float]:
    """A tempo stated as a number: '94 bpm', '72 beats per minute', 'a tempo of 120' (within ``LIMITS``)."""
    bpm = stated_tempo(text)
    if bpm is None and (found := _STATED_NUMBER.search(text or "")):
        low, high = LIMITS["bpm"]
        bpm = float(found.group(1)) if low <= float(found.group(1)) <= high else None
    return bpm


def read_tempo(text: str, typical: Optional[float] = None) -> Optional[float]:
    """The bpm a prompt asks for: a stated number, else its tempo words' band (``typical``, the genre's
    tempo the attribute reader reads, moved into it), else None (the caller keeps ``typical``)."""
    number = stated_number(text)
    if number is not None:
        return number
    name = tempo_class(text)
    return None if name is None else TEMPO_CLASSES[name].bpm(typical)


_MOOD = {
    "major": r"happy|cheerful|joyful|joyous|bright|sunny|uplifting|triumphant|jubilant|playful|carefree|optimistic",
    "minor": r"sad|melancholic|melancholy|dark|gloomy|somber|sombre|mournful|tragic|sorrowful|ominous|brooding"
             r"|haunting|depressing|grim|menacing|sinister|heartbroken",
}
_MOOD_RE = {mode: re.compile(rf"(?<![\w-])(?:{words})(?![\w-])", re.IGNORECASE) for mode, words in _MOOD.items()}


def read_mode(text: str) -> Optional[str]:
    """The mode a prompt's mood words point to ('a happy song' -> major, 'a dark, brooding piece' ->
    minor), where they point one way only and are not negated; else None."""
    said = set()
    for mode, pattern in _MOOD_RE.items():
        for found in pattern.finditer(text or ""):
            clause = re.split(r"[.;,:!?]|\bbut\b", text[:found.start()])[-1]
            negated = bool(_NEGATION.search(clause))
            said.add(mode if not negated else ("minor" if mode == "major" else "major"))
    return said.pop() if len(said) == 1 else None


_DRUM_WORDS = (r"drums?|drum ?kits?|drumming|percussion|percussive|hi-?hats?|cymbals?|snares?|kick drums?|toms"
               r"|breakbeats?")


def _instrument_words() -> str:
    from ..data.instruments import INSTRUMENTS

    words = {"guitars?", "pianos?", "keys", "strings", "synths?", "synthesi[sz]ers?", "brass", "organs?", "reeds?",
             "saxophones?", "sax", "trumpets?", "flutes?", "violins?", "cellos?", "horns?", "bells", "pads?",
             "string quartets?"}
    for inst in INSTRUMENTS.values():
        for name in (inst.name, inst.family, *inst.synonyms):
            words.add(re.escape(name.lower()) + "s?")
    words.discard("percussions?")  # timpani's family: the word says drums
    return "|".join(sorted(words, key=len, reverse=True))


_NAMED = {"drums": re.compile(rf"(?<![\w-])(?:{_DRUM_WORDS})(?![\w-])", re.IGNORECASE),
          "lead_family": re.compile(rf"(?<![\w-])(?:{_instrument_words()})(?![\w-])", re.IGNORECASE),
          "mode": re.compile(r"(?<![\w-])(?:major|minor)(?![\w-])", re.IGNORECASE)}


def named_attributes(text: str) -> tuple[str, ...]:
    """The attributes a prompt names in words: 'drums' (a drum word), 'lead_family' (an instrument or its
    family), 'mode' (major / minor). A negative prompt steers the critic only on these
    (``candidates.rank``): the attribute reader reads every attribute of any text, and reads a lead
    instrument into 'drums' too, because every caption it learnt from names one."""
    return tuple(name for name, pattern in _NAMED.items() if pattern.search(text or ""))
