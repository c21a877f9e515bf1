"""General MIDI instruments the composer uses, with the words captions use for them.

Each entry maps a GM program (0-based) to a caption name, caption synonyms, an instrument
family and the pitch range a melody on it should stay in. Drum kits are GM bank-128 presets.
``program_by_name`` resolves user-given names (``--leads "flute,alto sax"``) and raises a
``ValueError`` listing the known names for anything else; ``lead_swapped`` rewrites a caption with
its lead played by an instrument of another family (a hard negative for MuLan).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Instrument:
    program: int
    name: str
    family: str
    low: int  # melody range, MIDI pitches
    high: int
    synonyms: tuple[str, ...] = ()


_TABLE = [
    (0, "piano", "piano", 60, 88, ("acoustic piano", "grand piano")),
    (2, "electric grand piano", "piano", 60, 86, ("electric grand",)),
    (4, "electric piano", "piano", 57, 84, ("rhodes", "e-piano", "fender rhodes")),
    (5, "FM electric piano", "piano", 57, 84, ("digital electric piano",)),
    (6, "harpsichord", "piano", 57, 86, ()),
    (7, "clavinet", "piano", 55, 84, ("clav",)),
    (10, "music box", "chromatic percussion", 67, 96, ()),
    (11, "vibraphone", "chromatic percussion", 60, 89, ()),
    (12, "marimba", "chromatic percussion", 57, 86, ()),
    (16, "organ", "organ", 55, 84, ("drawbar organ", "hammond organ")),
    (18, "rock organ", "organ", 55, 84, ("electric organ",)),
    (19, "church organ", "organ", 55, 84, ("pipe organ",)),
    (21, "accordion", "organ", 57, 84, ()),
    (22, "harmonica", "reed", 60, 84, ("blues harp",)),
    (24, "nylon guitar", "guitar", 52, 79, ("classical guitar", "nylon-string guitar")),
    (25, "acoustic guitar", "guitar", 52, 79, ("steel-string guitar", "acoustic steel guitar")),
    (26, "jazz guitar", "guitar", 52, 79, ("hollow-body guitar", "clean jazz guitar")),
    (27, "clean electric guitar", "guitar", 52, 81, ("electric guitar", "clean guitar")),
    (28, "muted guitar", "guitar", 48, 72, ("palm-muted guitar",)),
    (29, "overdriven guitar", "guitar", 52, 81, ("crunchy electric guitar", "overdrive guitar")),
    (30, "distorted guitar", "guitar", 52, 81, ("distortion guitar", "heavy electric guitar")),
    (32, "upright bass", "bass", 28, 52, ("acoustic bass", "double bass")),
    (33, "bass guitar", "bass", 28, 52, ("electric bass", "fingered bass")),
    (34, "picked bass", "bass", 28, 52, ("electric bass", "bass guitar")),
    (35, "fretless bass", "bass", 28, 52, ()),
    (36, "slap bass", "bass", 28, 52, ("funky slap bass",)),
    (38, "synth bass", "bass", 24, 52, ("sub bass", "synthesizer bass")),
    (39, "analog synth bass", "bass", 24, 52, ("synth bass",)),
    (40, "violin", "strings", 60, 91, ()),
    (42, "cello", "strings", 43, 72, ()),
    (43, "contrabass", "strings", 28, 55, ("orchestral bass",)),
    (44, "tremolo string section", "strings", 48, 84, ("shimmering string section",)),
    (45, "pizzicato string section", "strings", 48, 84, ("plucked string section",)),
    (46, "harp", "strings", 48, 88, ()),
    (47, "timpani", "percussion", 36, 55, ()),
    (48, "string section", "strings", 48, 84, ("string ensemble", "orchestral string section")),
    (49, "warm string section", "strings", 48, 84, ("legato string ensemble",)),
    (50, "string synth", "synth", 48, 84, ("synth string pad",)),
    (56, "trumpet", "brass", 58, 82, ()),
    (57, "trombone", "brass", 46, 72, ()),
    (59, "muted trumpet", "brass", 58, 82, ("harmon-muted trumpet",)),
    (60, "french horn", "brass", 50, 77, ("horn",)),
    (61, "brass section", "brass", 52, 79, ("horn section",)),
    (65, "alto saxophone", "reed", 56, 80, ("alto sax", "saxophone")),
    (66, "tenor saxophone", "reed", 50, 76, ("tenor sax", "saxophone")),
    (68, "oboe", "reed", 60, 86, ()),
    (71, "clarinet", "reed", 52, 82, ()),
    (73, "flute", "pipe", 62, 93, ()),
    (74, "recorder", "pipe", 64, 88, ()),
    (75, "pan flute", "pipe", 62, 88, ()),
    (78, "whistle", "pipe", 67, 91, ("tin whistle",)),
    (79, "ocarina", "pipe", 62, 86, ()),
    (80, "square lead", "synth", 57, 86, ("square-wave synth", "chiptune-like synth lead")),
    (81, "saw lead", "synth", 57, 86, ("sawtooth synth", "synth lead")),
    (84, "charang synth", "synth", 55, 84, ("gritty synth lead",)),
    (87, "bass and lead synth", "synth", 48, 79, ("fat synth lead",)),
    (88, "new age pad", "synth", 55, 84, ("glassy pad",)),
    (89, "warm pad", "synth", 48, 79, ("soft synth pad",)),
    (90, "polysynth", "synth", 48, 84, ("poly synth",)),
    (92, "bowed pad", "synth", 48, 79, ("bowed glass pad",)),
    (94, "halo pad", "synth", 48, 79, ("airy pad",)),
    (95, "sweep pad", "synth", 48, 79, ("sweeping pad",)),
    (98, "crystal synth", "synth", 62, 91, ("bell-like synth",)),
    (99, "atmosphere pad", "synth", 48, 84, ("atmospheric pad",)),
    (105, "banjo", "guitar", 55, 84, ()),
    (107, "koto", "strings", 55, 84, ()),
    (108, "kalimba", "chromatic percussion", 60, 86, ("thumb piano",)),
    (110, "fiddle", "strings", 60, 91, ()),
]
INSTRUMENTS = {p: Instrument(p, name, fam, lo, hi, syn) for p, name, fam, lo, hi, syn in _TABLE}

DRUM_KITS = {  # bank-128 preset -> caption words
    0: ("drums", ("drum kit", "acoustic drums")),
    8: ("drums", ("room drums", "acoustic drums")),
    16: ("drums", ("powerful drums", "big rock drums")),
    24: ("drum machine", ("electronic drums", "programmed drums")),
    25: ("808 drum machine", ("808 drums", "electronic drums")),
    32: ("jazz drums", ("drum kit", "light jazz kit")),
    40: ("brushed drums", ("brushes", "drums played with brushes")),
}


def instrument(program: int) -> Instrument:
    return INSTRUMENTS[program]


_NAMED = {}  # caption word (lower case) -> the programs it names
for _inst in INSTRUMENTS.values():
    for _word in (_inst.name, *_inst.synonyms):
        _NAMED.setdefault(_word.lower(), set()).add(_inst.program)
_ANY_NAME = re.compile(r"\b(?:(an?) )?(" + "|".join(re.escape(w) for w in sorted(_NAMED, key=len, reverse=True))
                       + r")\b", re.IGNORECASE)


def program_by_name(name: str) -> int:
    """A GM program from a caption name or synonym (case-insensitive)."""
    key = name.strip().lower()
    if key in _NAMED:
        return min(_NAMED[key])  # a word two instruments share names the first (lowest program)
    if key.isdigit() and int(key) in INSTRUMENTS:
        return int(key)
    known = ", ".join(sorted(i.name for i in INSTRUMENTS.values()))
    raise ValueError(f"Unknown instrument {name!r}. Known instruments: {known}.")


SWAP_FAMILIES = ("piano", "chromatic percussion", "organ", "reed", "guitar", "strings", "brass", "pipe", "synth")


def lead_swapped(text: str, program: int) -> Optional[str]:
    """The text with every name of its lead instrument (GM ``program``: its name or a synonym) replaced
    by an instrument of another family that the text does not name, every other word kept ('The melody
    is played by a harmonica.' -> '... by a trumpet.'); None when the text does not name the lead. The
    replacement is the same for the same text (picked by a checksum of it)."""
    found = list(_ANY_NAME.finditer(text))
    if program not in INSTRUMENTS or not any(program in _NAMED[m.group(2).lower()] for m in found):
        return None
    named = {INSTRUMENTS[p].family for m in found for p in _NAMED[m.group(2).lower()]}
    options = [i.name for i in INSTRUMENTS.values() if i.family in SWAP_FAMILIES and i.family not in named]
    other = options[zlib.crc32(text.encode()) % len(options)]

    def swap(m: re.Match) -> str:
        if program not in _NAMED[m.group(2).lower()]:
            return m.group(0)
        word = other[0].upper() + other[1:] if m.group(2)[0].isupper() and not m.group(1) else other
        if not m.group(1):
            return word
        article = "an" if other[0].lower() in "aeiou" else "a"
        return (article.capitalize() if m.group(1)[0].isupper() else article) + " " + word

    return _ANY_NAME.sub(swap, text)
