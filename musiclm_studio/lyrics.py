"""The lyrics notice: a prompt that asks for words gets told that voices here sing vowels only.

The corpus voices (``data.voice``) sing wordless vowels, so "a female vocalist" or "a choir" can
be heard, but lyrics, rap, spoken word, narration or a singer "singing about" something cannot.
``asks_for_words`` reads a prompt and returns ``NOTICE`` when it asks for any of those (and does
not say the opposite: "no lyrics", "without words", "wordless"), else None. UIs show the notice
next to the audio; generation goes on either way.
"""

from __future__ import annotations

import re

NOTICE = "This model sings wordless vowels only: lyrics are not sung."
LANGUAGES = ("english", "spanish", "french", "german", "italian", "portuguese", "hindi", "punjabi", "arabic",
             "japanese", "korean", "chinese", "mandarin", "cantonese", "russian", "turkish", "swahili", "tamil")
_SYLLABLE = r"(?:o+h+|a+h+|u+h+|la|na|mm+|hm+|doo|ba|da)"  # wordless syllables a voice may sing
_VOICE = r"(?:sing|sings|singing|sung|sang|vocals?|vocalist|singer|voice|rap|raps|rapping|rapper)"
_ASKS = re.compile("|".join((
    r"\blyric(?:s|al)?\b",
    r"\bwords?\b",
    r"\brap(?:s|ping|per|pers|ped)?\b(?! (?:beat|instrumental|cypher)s?\b)",
    r"\bspoken(?: word)?\b", r"\bnarrat(?:es|ed|ing|ion|or)\b", r"\bvoice-?over\b", r"\b(?:speech|talking|speaking)\b",
    rf"\b{_VOICE}\b[^.;,]{{0,40}}\babout\b(?!\s*\d)",
    rf"\b(?:sing|sings|singing|sung)\b[^.;\"“”']{{0,12}}[\"“'](?!\s*{_SYLLABLE}\b)",  # sings 'hello', not 'ooh'
    rf"\b{_VOICE}\b[^.;]{{0,40}}\bin (?:{'|'.join(LANGUAGES)})\b",
    r"\bverses?\b[^.;]{0,20}\b(?:chorus|hook)\b",
)), re.IGNORECASE)
_NEGATED = re.compile(r"\b(?:no|without|not|never|zero)\b(?:\s+\w+){0,3}\s*$|\bnon-$", re.IGNORECASE)


def asks_for_words(prompt: str) -> str | None:
    """``NOTICE`` when ``prompt`` asks for lyrics, words, rap, spoken word or a singer singing about
    something; None for a wordless request ("female vocalist", "choir oohs", "no lyrics")."""
    for found in _ASKS.finditer(prompt or ""):
        before = prompt[max(0, found.start() - 40):found.start()]
        if not _NEGATED.search(before):
            return NOTICE
    return None


NO_VOICES = ("This model was trained without voices: the singer, choir or lyrics the prompt asks for are not "
             "sung (corpus v2 adds wordless voices; see docs/corpus.md).")
_ASKS_VOICE = re.compile(rf"\b{_VOICE}\b|\bchoir(?:s|al)?\b|\bchant(?:s|ing)?\b|\bhumming\b", re.IGNORECASE)


def voice_notice(prompt: str, sings: bool) -> str | None:
    """What a pipeline tells a prompt that asks for a voice: ``NO_VOICES`` where its model was trained
    without voices (``sings`` False) and the prompt asks for one, or for words; ``NOTICE`` where it sings
    wordless vowels and the prompt asks for words; else None."""
    if sings:
        return asks_for_words(prompt)
    for found in _ASKS_VOICE.finditer(prompt or ""):
        if not _NEGATED.search(prompt[max(0, found.start() - 40):found.start()]):
            return NO_VOICES
    return NO_VOICES if asks_for_words(prompt) else None
