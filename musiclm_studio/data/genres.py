"""Genre recipes: what a small band playing each genre would choose.

A ``GenreSpec`` lists a genre's tempo range, metres, how often it is in major, its chord
progressions (Roman numerals per bar), drum grooves and kits, bass patterns, comping styles,
GM instrument pools per role, swing, how often it has drums or a solo instrument, its
production (reverb, lo-fi filter) and the words captions use for it. The composer samples
one recipe per clip; ``GENRES`` is the registry and ``genre_spec`` validates names.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenreSpec:
    name: str
    words: tuple[str, ...]  # caption words: an adjective, then noun phrases
    tempo: tuple[int, int]
    major: tuple[str, ...]  # progressions in major, bars separated by spaces
    minor: tuple[str, ...]
    leads: tuple[int, ...]
    harmony: tuple[int, ...]
    comping: tuple[str, ...]
    bass: tuple[int, ...]
    bass_patterns: tuple[str, ...]
    grooves: tuple[str, ...] = ("backbeat",)
    kits: tuple[int, ...] = (0,)
    metres: dict = field(default_factory=lambda: {"4/4": 1.0})
    major_prob: float = 0.5
    drums_prob: float = 0.9
    solo: tuple[int, ...] = ()
    solo_prob: float = 0.0
    pads: tuple[int, ...] = ()
    pad_prob: float = 0.0
    swing: tuple[float, float] = (0.5, 0.5)  # range of the eighth-note swing ratio
    swing16: float = 0.5
    energy: tuple[float, float, float] = (0.3, 0.5, 0.2)  # low, medium, high
    reverb: tuple[float, float] = (0.1, 0.3)  # wet amount range
    lofi: bool = False
    pentatonic: float = 0.0  # probability of a pentatonic melody
    usage: tuple[str, ...] = ()


def _g(name, words, tempo, major, minor, **kw) -> GenreSpec:
    return GenreSpec(name, tuple(words), tempo, tuple(major), tuple(minor), **kw)


GENRES = {g.name: g for g in [
    _g("rock", ["rock", "rock song", "rock instrumental", "classic rock tune"], (92, 152),
       ["I V vi IV", "I IV V IV", "I bVII IV I", "I I IV V", "vi IV I V"],
       ["i VI III VII", "i VII VI V", "i iv VII i", "i VI VII i", "i iv i V"],
       leads=(29, 27, 30, 18, 81), harmony=(29, 30, 27, 25, 18), comping=("power", "strum", "block"),
       bass=(33, 34), bass_patterns=("eighths", "root_fifth"), grooves=("backbeat",), kits=(0, 8, 16),
       major_prob=0.6, energy=(0.1, 0.5, 0.4), pentatonic=0.5,
       usage=("a road trip playlist", "a sports highlight reel", "a rock bar")),
    _g("pop", ["pop", "pop song", "upbeat pop track", "pop instrumental"], (96, 128),
       ["I V vi IV", "vi IV I V", "I vi IV V", "IV I V vi", "I IV vi V"],
       ["i VI III VII", "i iv VI V", "i VI iv V"],
       leads=(0, 4, 80, 81, 73, 65, 11, 27, 98), harmony=(0, 4, 25, 90, 27), comping=("block", "arp", "strum"),
       bass=(33, 38, 34), bass_patterns=("eighths", "root", "octave"), grooves=("pop",), kits=(0, 24),
       major_prob=0.7, pads=(89, 48, 50), pad_prob=0.35, energy=(0.15, 0.5, 0.35), pentatonic=0.3,
       usage=("a radio jingle", "a feel-good commercial", "a shopping mall")),
    _g("jazz", ["jazz", "jazz tune", "small-combo jazz piece", "jazz instrumental"], (96, 176),
       ["ii7,V7 Imaj7 ii7,V7 Imaj7", "Imaj7 vi7 ii7 V7", "iii7 vi7 ii7 V7", "Imaj7,vi7 ii7,V7 iii7,VI7 ii7,V7"],
       ["iim7b5 V7 i7 i7", "i7 iv7 V7 i7", "i7 i7 iim7b5 V7"],
       leads=(66, 65, 56, 59, 11, 26, 0, 57, 71), harmony=(0, 4, 26, 11), comping=("jazz",),
       bass=(32,), bass_patterns=("walking",), grooves=("jazz_ride",), kits=(32, 40, 0),
       metres={"4/4": 0.85, "3/4": 0.15}, major_prob=0.6, drums_prob=0.85, solo=(0,), solo_prob=0.08,
       swing=(0.6, 0.67), energy=(0.3, 0.5, 0.2), reverb=(0.15, 0.3),
       usage=("a late-night jazz club", "a cocktail bar", "a hotel lobby")),
    _g("blues", ["blues", "blues song", "blues instrumental", "twelve-bar blues"], (66, 128),
       ["I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", "I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7"],
       ["i7 iv7 i7 i7 iv7 iv7 i7 i7 VI7 V7 i7 V7", "i iv i V"],
       leads=(22, 29, 27, 26, 65, 66, 0), harmony=(0, 16, 27, 26), comping=("block", "shuffle"),
       bass=(33, 32), bass_patterns=("boogie", "walking"), grooves=("shuffle",), kits=(0, 8),
       major_prob=0.75, swing=(0.62, 0.67), pentatonic=0.6, energy=(0.3, 0.5, 0.2),
       usage=("a smoky roadhouse", "a southern bar", "a blues jam night")),
    _g("funk", ["funk", "funk groove", "funky jam", "funk track"], (94, 118),
       ["I7 I7 IV7 IV7", "I9 IV9", "I7 bVII I7 IV7"], ["i7 i7 iv7 iv7", "i7 iv7", "i7 VII i7 iv7", "i7 iv7 i7 V7"],
       leads=(61, 56, 66, 7, 81, 4), harmony=(7, 28, 27, 4), comping=("stabs",),
       bass=(36, 33), bass_patterns=("funk",), grooves=("funk",), kits=(0, 8),
       major_prob=0.4, drums_prob=0.97, swing16=0.55, energy=(0.05, 0.5, 0.45), pentatonic=0.6,
       usage=("a dance party", "a retro TV show", "a roller disco")),
    _g("techno", ["techno", "techno track", "minimal techno track", "techno tune"], (122, 140),
       ["vi IV", "I V vi IV"], ["i i VI VII", "i iv", "i i i VII", "i VI"],
       leads=(80, 81, 84, 87, 98), harmony=(81, 90, 50), comping=("stabs", "arp"),
       bass=(38, 39), bass_patterns=("offbeat", "rolling"), grooves=("techno",), kits=(24, 25),
       major_prob=0.15, drums_prob=1.0, energy=(0.0, 0.4, 0.6), reverb=(0.15, 0.35), pentatonic=0.3,
       usage=("a warehouse rave", "a late-night club", "a workout session")),
    _g("house", ["house", "house track", "deep house tune", "house groove"], (118, 128),
       ["Imaj7 vi7 ii7 V7", "IVmaj7 V iii7 vi7", "I vi IV V"], ["i7 iv7", "i7 VImaj7 VII i7", "i7 v7 VI VII"],
       leads=(81, 80, 0, 98, 4), harmony=(0, 4, 16, 90), comping=("house",),
       bass=(38, 39, 33), bass_patterns=("octave", "offbeat"), grooves=("house",), kits=(24, 25),
       major_prob=0.45, drums_prob=1.0, pads=(89, 50), pad_prob=0.3, energy=(0.05, 0.55, 0.4),
       usage=("a beach club", "a summer party", "a dance floor")),
    _g("hip hop", ["hip hop", "hip hop beat", "hip hop instrumental", "rap beat"], (82, 98),
       ["Imaj7 vi7 ii7 V7", "I vi IV V"], ["i VI iv V", "i7 iv7", "i VI III VII", "i i VI V"],
       leads=(4, 0, 73, 11, 80, 56, 46), harmony=(4, 0, 48, 89), comping=("block", "pad"),
       bass=(38, 33, 32), bass_patterns=("808", "root"), grooves=("boom_bap", "trap"), kits=(0, 25, 24),
       major_prob=0.25, drums_prob=1.0, swing16=0.56, energy=(0.2, 0.55, 0.25),
       usage=("a rap cypher", "an urban street scene", "a skate video")),
    _g("lo-fi", ["lo-fi", "lo-fi hip hop beat", "chillhop track", "lofi beat"], (70, 90),
       ["Imaj7 vi7 ii7 V7", "IVmaj7 iii7 ii7 Imaj7", "ii7 V7 Imaj7 vi7"], ["i7 iv7 VImaj7 V7", "i9 iv9", "iim7b5 V7 i7 i7"],
       leads=(4, 0, 11, 26, 73, 108), harmony=(4, 0, 26), comping=("jazz", "block"),
       bass=(33, 32, 35), bass_patterns=("root", "walking"), grooves=("lofi",), kits=(0, 40, 32),
       major_prob=0.55, drums_prob=0.9, swing=(0.55, 0.62), swing16=0.55, solo=(4, 0), solo_prob=0.1,
       energy=(0.6, 0.4, 0.0), reverb=(0.15, 0.3), lofi=True,
       usage=("studying", "a rainy afternoon", "a cozy coffee shop")),
    _g("ambient", ["ambient", "ambient piece", "atmospheric soundscape", "ambient track"], (60, 88),
       ["Imaj7 IVmaj7", "I IV vi IV", "Iadd9 vi7"], ["i VI", "i iv", "i VI III VII"],
       leads=(98, 11, 46, 10, 0, 75, 79, 88), harmony=(88, 89, 92, 94, 95, 99, 48), comping=("pad",),
       bass=(35, 39, 42), bass_patterns=("drone",), grooves=("ambient",), kits=(24, 0),
       metres={"4/4": 0.7, "3/4": 0.3}, major_prob=0.55, drums_prob=0.15, solo=(0, 46), solo_prob=0.1,
       energy=(0.85, 0.15, 0.0), reverb=(0.4, 0.6),
       usage=("meditation", "a planetarium show", "falling asleep")),
    _g("classical", ["classical", "classical piece", "chamber music piece", "classical composition"], (60, 132),
       ["I IV V I", "I vi IV V", "I ii V I", "I V vi iii IV I IV V"], ["i iv V i", "i VI iv V", "i iv VII III"],
       leads=(40, 73, 68, 71, 0, 42, 60), harmony=(0, 48, 46, 6), comping=("alberti", "arp", "block"),
       bass=(42, 43, 0), bass_patterns=("root", "root_fifth"), metres={"4/4": 0.5, "3/4": 0.35, "6/8": 0.15},
       major_prob=0.55, drums_prob=0.0, solo=(0, 46, 24), solo_prob=0.25, energy=(0.45, 0.4, 0.15),
       reverb=(0.25, 0.45), usage=("a period drama", "a concert hall", "a quiet dinner")),
    _g("folk", ["folk", "folk song", "acoustic folk tune", "folk instrumental"], (80, 128),
       ["I IV I V", "I V vi IV", "I IV V I", "I I IV I"], ["i VII VI V", "i III VII i", "i VII i VII", "i iv i V"],
       leads=(110, 40, 73, 78, 74, 21, 22, 105), harmony=(25, 24, 105, 21), comping=("strum", "fingerpick"),
       bass=(32,), bass_patterns=("root_fifth",), grooves=("folk",), kits=(0, 40),
       metres={"4/4": 0.6, "3/4": 0.25, "6/8": 0.15}, major_prob=0.65, drums_prob=0.45,
       solo=(25, 24), solo_prob=0.15, energy=(0.35, 0.5, 0.15), pentatonic=0.4,
       usage=("a campfire", "a countryside documentary", "a village festival")),
    _g("reggae", ["reggae", "reggae tune", "roots reggae track", "reggae song"], (66, 88),
       ["I IV", "I V vi IV", "I IV V IV"], ["i iv", "i VII", "i iv i VII"],
       leads=(16, 56, 66, 27, 22), harmony=(27, 28, 16), comping=("skank",),
       bass=(33,), bass_patterns=("reggae",), grooves=("one_drop",), kits=(0,),
       major_prob=0.5, drums_prob=1.0, swing=(0.5, 0.58), energy=(0.3, 0.6, 0.1), pentatonic=0.4,
       usage=("a beach bar", "a sunny island holiday", "a summer barbecue")),
    _g("bossa nova", ["bossa nova", "bossa nova tune", "brazilian bossa nova piece", "bossa nova song"], (116, 144),
       ["Imaj7 II7 ii7 V7", "ii7 V7 Imaj7 VI7", "Imaj7 Imaj7 ii7 V7"], ["i7 iv7 V7 i7", "iim7b5 V7 i7 i7"],
       leads=(73, 65, 66, 24, 0, 11), harmony=(24, 4, 0), comping=("bossa",),
       bass=(32,), bass_patterns=("bossa",), grooves=("bossa",), kits=(40, 32, 0),
       major_prob=0.65, drums_prob=0.8, solo=(24,), solo_prob=0.12, energy=(0.55, 0.45, 0.0),
       usage=("a seaside cafe", "a lounge", "a relaxed dinner")),
    _g("latin", ["latin", "salsa tune", "latin dance tune", "salsa instrumental"], (150, 180),
       ["I IV V IV", "ii7 V7 I I", "I V7 V7 I"], ["i iv V i", "i VII VI V", "i iv VII III"],
       leads=(56, 57, 61, 73, 65, 12), harmony=(0,), comping=("montuno",),
       bass=(32, 33), bass_patterns=("tumbao",), grooves=("salsa",), kits=(0,),
       major_prob=0.45, drums_prob=1.0, energy=(0.0, 0.5, 0.5),
       usage=("a salsa club", "a street carnival", "a dance class")),
    _g("metal", ["metal", "heavy metal track", "metal riff", "metal instrumental"], (100, 176),
       ["I bVII IV I"], ["i VI VII i", "i bII i VII", "i VI III VII", "i i VI VII"],
       leads=(30, 29), harmony=(30, 29), comping=("power",),
       bass=(34, 33), bass_patterns=("eighths",), grooves=("metal",), kits=(16, 0),
       major_prob=0.1, drums_prob=1.0, energy=(0.0, 0.25, 0.75), pentatonic=0.4,
       usage=("a video game boss fight", "a mosh pit", "an intense workout")),
    _g("country", ["country", "country song", "americana tune", "country instrumental"], (88, 140),
       ["I IV V I", "I I IV I", "I V IV I", "I IV I V"], ["i iv V i", "i VI VII i"],
       leads=(110, 25, 27, 105, 22, 0), harmony=(25, 105, 0), comping=("strum",),
       bass=(32, 33), bass_patterns=("root_fifth",), grooves=("country",), kits=(0, 40),
       metres={"4/4": 0.8, "3/4": 0.2}, major_prob=0.9, drums_prob=0.85, energy=(0.25, 0.55, 0.2),
       pentatonic=0.5, usage=("a honky-tonk bar", "a rodeo", "a road trip through the countryside")),
    _g("cinematic", ["cinematic", "cinematic score", "orchestral soundtrack piece", "film score cue"], (64, 120),
       ["I V vi IV", "I IV vi V", "I iii IV V"], ["i VI III VII", "i VI VII i", "i iv VI V"],
       leads=(60, 61, 56, 40, 42, 73, 68, 0), harmony=(48, 49, 44), comping=("pad", "ostinato"),
       bass=(43, 42), bass_patterns=("root",), grooves=("epic",), kits=(0, 16),
       metres={"4/4": 0.7, "3/4": 0.15, "6/8": 0.15}, major_prob=0.4, drums_prob=0.4,
       pads=(89, 49), pad_prob=0.3, energy=(0.3, 0.35, 0.35), reverb=(0.35, 0.5),
       usage=("a movie trailer", "an epic fantasy film", "a nature documentary")),
]}


def genre_spec(name: str) -> GenreSpec:
    """The recipe of a genre by name (case-insensitive, '-' / '_' / ' ' interchangeable)."""
    key = name.strip().lower().replace("_", " ")
    for spec in GENRES.values():
        if key in (spec.name, spec.name.replace(" ", "-"), spec.name.replace("-", " ")):
            return spec
    raise ValueError(f"Unknown genre {name!r}. Choose from: {', '.join(GENRES)}.")
