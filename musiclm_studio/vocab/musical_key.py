"""The key the stage LMs play in: one token per frame that names a tonic and a mode, or "no key".

Each corpus clip keeps one key, which its semantic and acoustic tokens carry only as a blur of
pitch classes, so an LM told "minor" once in a prefix is left to infer which notes that means.
Heard at every frame, as an aligned stream, the key is as plain to it as the beat grid
(``vocab.beat_grid``): training shows each clip's true key ("no key" in a share of crops); at
generation the pipeline names the key each story segment asks for: the ``key`` a caller gives,
else one its prompt states ('in F# minor'), else its mode word ('a minor tonality') or the mode
the critic reads from its mood, on a tonic drawn from the generation's seed.

Tokens: ``tonic + 12 * mode`` (tonic 0 = C, mode 0 = major, 1 = minor); ``NO_KEY`` (24) is none.
"""

from __future__ import annotations

import re
from typing import Optional


NOTE_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # the names keys are shown with
MODES = ("major", "minor")
NO_KEY = 24
KEY_TOKENS = 25  # 12 tonics x 2 modes, and "no key"
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = r"(#|♯|b|♭|-sharp|-flat| sharp| flat)?"
_MODE = r"(major|minor|maj|min)\b"
# keys named in prose, tried in this order. A lower-case tonic only after 'key of' or 'in' (and a
# bare 'a' only with an accidental), so that 'in a minor key' (an article) is not A minor.
_SIGN = r"((?:[ -]?(?i:sharp|flat))|#|♯|b|♭)?"
_MODE_NAME = r"(?i:(major|minor|maj|min)\b|(m)(?![\w#♯♭]))"
_STATED_FORMS = (
    re.compile(r"\b(?i:key of) ([A-Ga-g])" + _SIGN + r"(?:[ -]?" + _MODE_NAME + r")?(?![\w#♯♭])"),
    re.compile(r"(?<![\w#])([A-G])" + _SIGN + r"[ -]?" + r"(?i:(major|minor|maj|min)\b)()" + r"(?![ -]key\b)"),
    re.compile(r"\b(?i:in) ([b-g]|a(?=[ -]?(?:sharp|flat)|#|♯|♭))" + _SIGN + r"[ -]?" + _MODE_NAME),
    re.compile(r"\b(?i:in) ([A-G])" + _SIGN + r"(?:" + _MODE_NAME + r")?(?![\w#♯♭])"),
    re.compile(r"(?<![\w#])([A-G])((?:[ -](?i:sharp|flat))|#|♯|b|♭)()()(?![\w#♯♭])"),  # a tonic alone: 'B-flat'
    # a key that is a whole tag of a list, any case: 'house, dark, a minor', 'funk, d-flat min'
    re.compile(r"(?:^|[,;]\s*)([A-Ga-g])" + _SIGN + r"[ -]?(?i:(major|minor|maj|min))()\s*(?=$|[,;.])"),
)
_MODE_WORDS = {mode: re.compile(rf"\b{mode}\b", re.IGNORECASE) for mode in MODES}


def key_token(tonic: Optional[int], mode: Optional[str]) -> int:
    """The token of a key (``NO_KEY`` when the tonic or the mode is unknown)."""
    if tonic is None or mode is None:
        return NO_KEY
    return int(tonic) % 12 + 12 * MODES.index(mode)


def relative_key(token: int) -> int:
    """The key with the same notes around another centre (E minor <-> G major); ``NO_KEY`` stays."""
    if token == NO_KEY:
        return NO_KEY
    tonic, minor = token % 12, token >= 12
    return key_token((tonic + (3 if minor else 9)) % 12, MODES[not minor])


def key_mode(token: Optional[int]) -> Optional[str]:
    """'major' or 'minor' for a key token; None for ``NO_KEY`` or None."""
    return None if token is None or token == NO_KEY else MODES[token // 12]


def key_name(token: Optional[int]) -> Optional[str]:
    """'A minor' for a key token; None for ``NO_KEY`` or None."""
    mode = key_mode(token)
    return None if mode is None else f"{NOTE_NAMES[token % 12]} {mode}"


def _pitch_class(letter: str, accidental: Optional[str]) -> int:
    shift = 0 if not accidental else (1 if accidental.strip("- ").lower() in ("#", "♯", "sharp") else -1)
    return (_LETTERS[letter.upper()] + shift) % 12


def _mode(word: str) -> str:
    return "major" if word.lower().startswith("maj") else "minor"


def parse_key(text: str) -> tuple[Optional[int], str]:
    """A key a caller names -> (tonic or None, mode): 'A minor', 'f# major', 'Bb min', or just
    'minor' / 'major' (any tonic). Raises ``ValueError`` with the accepted forms otherwise."""
    cleaned = " ".join(str(text).split())
    found = re.fullmatch(r"(?:([A-Ga-g])" + _ACCIDENTAL + r"[ -]?)?" + _MODE, cleaned, re.IGNORECASE)
    if not found:
        raise ValueError(f"key must name a mode, with or without a tonic: 'A minor', 'F# major', 'Bb minor', "
                         f"'major' or 'minor' (got {text!r}). Leave it empty to take the key from the prompt.")
    letter, accidental, mode = found.groups()
    return (None if letter is None else _pitch_class(letter, accidental)), _mode(mode)


def stated_key(text: str) -> tuple[Optional[int], Optional[str]]:
    """The key a prompt states, spelt any common way: (tonic, mode) for 'in F# minor', 'the key of Bb
    major', 'B flat major', 'B-flat minor', 'B♭ maj', 'in the key of b flat minor', 'in F#m';
    (tonic, mode or None) for a tonic alone ('in B-flat', 'in the key of Eb', the mode then from a
    mode word); (None, mode) when it only says 'major' / 'minor' ('minor key'); (None, None) when
    it says neither, or both."""
    text = text or ""
    said = [mode for mode, word in _MODE_WORDS.items() if word.search(text)]
    mode_word = said[0] if len(said) == 1 else None
    for form in _STATED_FORMS:
        for found in form.finditer(text):
            letter, accidental, mode, short = found.groups()
            if letter == "A" and (not accidental and form is _STATED_FORMS[3] or accidental in (" flat", " sharp")
                                  and form is _STATED_FORMS[4]):
                continue  # 'in A ...', 'A sharp synth': an article as often as a key
            mode = _mode(mode) if mode else ("minor" if short else mode_word)
            return _pitch_class(letter, accidental), mode
    return None, mode_word


_SWAP = {"major": "minor", "minor": "major", "maj": "min", "min": "maj"}
# 'major' / 'minor' anywhere; 'maj' / 'min' only after a tonic ('Bb min', 'd-sharp maj': a letter, a sign, 'flat', 'sharp')
_MODE_SPELT = re.compile(r"\b(major|minor)\b|(?<=[A-Ga-g#♯b♭tp])([ -]?)(maj|min)\b", re.IGNORECASE)


def mode_swapped(text: str) -> Optional[str]:
    """The text with the mode it states made the other one ('a minor key' -> 'a major key', 'Bb maj'
    -> 'Bb min'), every other word kept; None when it states no mode, or a mode word it cannot swap
    cleanly (``stated_key`` must read the other mode, and the same tonic, back)."""
    tonic, mode = stated_key(text)
    if mode is None:
        return None

    def swap(found: re.Match) -> str:
        word = found.group(1) or found.group(3)
        other = _SWAP[word.lower()]
        other = other.capitalize() if word[0].isupper() else other
        return other if found.group(1) else found.group(2) + other

    swapped = _MODE_SPELT.sub(swap, text)
    return swapped if stated_key(swapped) == (tonic, _SWAP[mode]) else None
