"""Clip attributes: everything a caption may say, sampled deterministically from (seed, index).

``sample_attributes`` draws a genre recipe, then tempo, key, metre, band, groove, energy, mood
and arrangement section from it with ``numpy.random.default_rng([seed, index])``, so the same
(seed, index) always gives the same clip. ``BuildOptions`` holds the user's restrictions
(genres, lead instruments, tempo range) and checks them once, with messages that say what to do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

import numpy as np

from .genres import GENRES, GenreSpec, genre_spec
from .instruments import DRUM_KITS, instrument, program_by_name
from .theory import METRES

TEMPO_LIMITS = (40, 220)
V2_FIELDS = ("vocals", "production", "effects")  # a corpus v2 row's sound plan that its caption states
ENERGIES = ("low", "medium", "high")
SECTIONS = ("intro", "verse", "chorus", "build")
SECTION_WEIGHTS = (0.2, 0.35, 0.3, 0.15)
MOODS = {
    ("major", "low"): ("calm", "peaceful", "dreamy", "tender", "relaxing"),
    ("major", "medium"): ("happy", "cheerful", "easygoing", "uplifting", "playful"),
    ("major", "high"): ("joyful", "energetic", "triumphant", "exciting"),
    ("minor", "low"): ("melancholic", "sad", "wistful", "mysterious", "somber"),
    ("minor", "medium"): ("moody", "mysterious", "nostalgic", "dark", "brooding"),
    ("minor", "high"): ("intense", "dramatic", "dark", "aggressive", "driving"),
}


@dataclass
class BuildOptions:
    """User restrictions on what the corpus contains (validated on construction)."""

    genres: Optional[list[str]] = None
    leads: Optional[list[str]] = None
    tempo: Optional[tuple[float, float]] = None

    def __post_init__(self):
        self.specs = [genre_spec(g) for g in self.genres] if self.genres else list(GENRES.values())
        self.lead_programs = [program_by_name(n) for n in self.leads] if self.leads else None
        if self.tempo is not None:
            lo, hi = self.tempo
            if not (TEMPO_LIMITS[0] <= lo <= hi <= TEMPO_LIMITS[1]):
                raise ValueError(f"Tempo range {lo}-{hi} bpm is out of range; use MIN <= MAX within "
                                 f"{TEMPO_LIMITS[0]}-{TEMPO_LIMITS[1]} bpm.")
            self.specs = [s for s in self.specs if s.tempo[0] <= hi and s.tempo[1] >= lo]
        if self.lead_programs:
            self.specs = [s for s in self.specs if set(s.leads) & set(self.lead_programs)]
        if not self.specs:
            raise ValueError("No genre fits these restrictions (genres, leads, tempo). "
                             "Widen the tempo range or pick leads the chosen genres use.")


@dataclass
class Attributes:
    """One clip's musical attributes (all JSON-serialisable)."""

    genre: str
    bpm: int
    tonic: int
    mode: str
    metre: str
    drums: bool
    kit: Optional[int]
    groove: Optional[str]
    lead_program: int
    harmony_program: int
    bass_program: Optional[int]
    pad_program: Optional[int]
    comping: str
    bass_pattern: str
    progression: tuple[str, ...]
    swing: float
    swing16: float
    energy: str
    mood: str
    section: str
    solo: bool
    reverb: float
    lofi: bool
    pentatonic: bool
    seed: int = 0
    index: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def spec(self) -> GenreSpec:
        return GENRES[self.genre]

    @property
    def distorted(self) -> bool:
        return bool({self.lead_program, self.harmony_program} & {29, 30})

    def instrument_names(self) -> list[str]:
        """Caption names of every instrument heard, lead first."""
        programs = [self.lead_program] if self.solo else [self.lead_program, self.harmony_program,
                                                          self.pad_program, self.bass_program]
        names = []
        for p in programs:
            if p is not None and instrument(p).name not in names:
                names.append(instrument(p).name)
        if self.drums:
            names.append(DRUM_KITS[self.kit][0])
        return names

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> "Attributes":
        """Rebuild a clip's attributes from its metadata row (as ``builder`` writes it)."""
        names = {f.name for f in fields(cls)} - {"extra", "tonic", "progression"}
        missing = names - set(row) - {"seed", "index"}
        if missing:
            raise ValueError(f"Metadata row lacks attributes {sorted(missing)}; is it from a built corpus?")
        attrs = cls(**{k: row[k] for k in names if k in row}, tonic=row["tonic_pc"],
                    progression=tuple(row["progression"]), extra={"glides": row.get("glides", 0)})
        for name in V2_FIELDS:  # corpus v2: what caption v2 reads besides the fields (not in v1 rows)
            if name in row:
                setattr(attrs, name, row[name])
        return attrs


def sample_attributes(seed: int, index: int, options: Optional[BuildOptions] = None) -> Attributes:
    """The attributes of clip ``index`` of a corpus built with ``seed``."""
    options = options or BuildOptions()
    rng = np.random.default_rng([seed, index, 1])
    spec = options.specs[int(rng.integers(len(options.specs)))]
    energy = ENERGIES[_pick(rng, spec.energy)]
    metre = list(spec.metres)[_pick(rng, list(spec.metres.values()))]
    mode = "major" if rng.random() < spec.major_prob else "minor"
    progressions = spec.major if mode == "major" else spec.minor
    solo = bool(spec.solo) and rng.random() < spec.solo_prob
    drums = (not solo) and rng.random() < spec.drums_prob
    leads = [p for p in spec.leads if not options.lead_programs or p in options.lead_programs]
    lead = int(rng.choice(spec.solo if solo else leads))
    harmony = lead if solo else int(rng.choice(spec.harmony))
    pad = int(rng.choice(spec.pads)) if spec.pads and rng.random() < spec.pad_prob and not solo else None
    swing = float(np.round(rng.uniform(*spec.swing), 3))
    return Attributes(
        genre=spec.name, bpm=_tempo(rng, spec, energy, metre, options.tempo), tonic=int(rng.integers(12)),
        mode=mode, metre=metre, drums=drums, kit=int(rng.choice(spec.kits)) if drums else None,
        groove=str(rng.choice(spec.grooves)) if drums else None, lead_program=lead,
        harmony_program=harmony,
        bass_program=None if solo else int(rng.choice(spec.bass)), pad_program=pad,
        comping=_solo_comping(lead) if solo else _comping(str(rng.choice(spec.comping)), harmony),
        bass_pattern="root" if solo else str(rng.choice(spec.bass_patterns)),
        progression=tuple(str(rng.choice(progressions)).split()), swing=swing, swing16=spec.swing16,
        energy=energy, mood=str(rng.choice(MOODS[(mode, energy)])),
        section=SECTIONS[_pick(rng, SECTION_WEIGHTS)], solo=solo,
        reverb=float(np.round(rng.uniform(*spec.reverb), 3)), lofi=spec.lofi,
        pentatonic=bool(rng.random() < spec.pentatonic), seed=seed, index=index)


def _pick(rng: np.random.Generator, weights) -> int:
    w = np.asarray(weights, dtype=float)
    return int(rng.choice(len(w), p=w / w.sum()))


def _tempo(rng, spec: GenreSpec, energy: str, metre: str, limits) -> int:
    """A genre-typical tempo, faster when the energy is high; dotted-quarter beats in 6/8."""
    lo, hi = spec.tempo
    span = hi - lo
    lo, hi = {"low": (lo, lo + 0.6 * span), "medium": (lo, hi), "high": (lo + 0.4 * span, hi)}[energy]
    if limits:
        lo, hi = max(lo, limits[0]), min(hi, limits[1])
        lo, hi = (lo, hi) if lo <= hi else (max(spec.tempo[0], limits[0]), min(spec.tempo[1], limits[1]))
    bpm = rng.uniform(lo, hi)
    if metre == "6/8" and not limits:
        bpm = bpm / METRES["6/8"][1]  # the felt beat is the dotted quarter
    return int(round(bpm))


def _comping(style: str, program: int) -> str:
    """Strums, fingerpicking and power chords are for guitars; keyboards play block chords."""
    if style in ("strum", "fingerpick", "power") and instrument(program).family != "guitar":
        return "block"
    return style


def _solo_comping(program: int) -> str:
    return {0: "alberti", 4: "block", 46: "arp"}.get(program, "fingerpick")
