"""Corpus v2 rendering: the same composed ``Song`` as v1, played and produced in a wider world.

``plan_sound`` decides, from (seed, index) alone, everything v2 adds to a clip: its world
(``train``, or ``heldout`` for about 5 % of indices: every instrument then comes from the held-out
source, a voice as in training, and the clip goes to the ``heldout`` split only), the sound source
of each track (one main SoundFont per clip, another for some tracks, a recorded instrument for half of the tracks it can
play; drums from a GM kit, an avldrums kit or a Hydrogen kit of the right style that has every
drum note the groove uses), wordless vocals, the humanised ``Performance`` and the ``Production``.
``render_song_v2`` humanises the song, renders each track through its source and its pedalboard
chain, levels the roles like v1, runs the bus chain and masters to the clip's LUFS target.

Vocals (``plan_vocals``: about 38 % of clips, from 25 % of classical to 50 % of band genres; choirs
mostly in ambient and cinematic) *double* the lead: the voice (source ``voice``, role ``vocals``)
sings the lead line in its own range, 1 dB above the lead's level, and the lead instrument stays,
4 dB under it. So everything v1 states about the clip (its lead instrument and family included)
stays true, and captions add the voice ("a piano melody ... wordless female vocals").
The musical attributes are those of v1 for the same (seed, index).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .composer import ROLES, Song
from .humanise import ARRANGE_SECONDS, CRASH, GENRE_STYLE, Performance, humanise, sample_performance
from .production import Production, bus_board, loudness, master, sample_production, settle, track_board
from .renderer import SAMPLE_RATE, Rendered, _level, _role_db
from .sources import SOURCES, available_sources, get_source, heldout_sources

CORPUS_VERSION = 2
HELDOUT_SHARE = 0.05
VOCALS = ("female", "male", "choir")
# genre style (humanise.GENRE_STYLE) -> share of clips with vocals, and the odds of female / male / choir
VOCAL_ODDS = {"band": (0.5, (0.5, 0.4, 0.1)), "laid": (0.4, (0.5, 0.4, 0.1)), "heavy": (0.35, (0.2, 0.7, 0.1)),
              "electronic": (0.35, (0.7, 0.2, 0.1)), "acoustic": (0.3, (0.45, 0.4, 0.15)),
              "space": (0.35, (0.3, 0.1, 0.6))}
VOCAL_ODDS_BY_GENRE = {"classical": (0.25, (0.25, 0.15, 0.6))}
VOCALS_DB, DOUBLED_LEAD_DB = 1.0, -4.0  # levels of the voice and of the lead it doubles, against the lead's
# GM bank-128 presets whose caption words ("drums", "jazz drums", "drum machine") a recorded kit of that
# style keeps true; brushes (40) and the 808 (25) stay on GM kits, which have them.
ACOUSTIC_KITS, ELECTRONIC_KITS = (0, 8, 16, 32), (24,)
SAMPLED_DRUMS_SHARE = 0.6
OTHER_FONT_SHARE = 0.25
SAMPLED_INSTRUMENT_SHARE = 0.5


@dataclass
class SoundPlan:
    """Everything v2 adds to a clip (JSON-serialisable via ``to_dict``)."""

    world: str
    sources: dict  # role -> source name
    vocals: Optional[str]
    performance: Performance
    production: Production

    def to_dict(self) -> dict:
        return {"world": self.world, "sources": self.sources, "vocals": self.vocals,
                "performance": self.performance.to_dict(), "production": self.production.to_dict()}


def world_of(index: int) -> str:
    """'heldout' for ~5 % of clip indices (a hash, independent of the split), else 'train'."""
    u = int(hashlib.sha1(f"world-{index}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "heldout" if u < HELDOUT_SHARE else "train"


def plan_sound(song: Song) -> SoundPlan:
    """The clip's world, per-track sources, vocals, performance and production."""
    attrs = song.attributes
    rng = np.random.default_rng([attrs.seed, attrs.index, 10])
    world = world_of(attrs.index)
    roles = [r for r in ROLES if song.track(r) is not None and song.track(r).notes]
    if world == "heldout":
        names = [n for n in heldout_sources() if SOURCES[n].available() and SOURCES[n].kind == "both"]
        if not names:
            raise ValueError("The held-out sound source is not installed; run `make system-deps`.")
        sources = {r: names[0] for r in roles}
    else:
        sources = _train_sources(song, roles, rng)
    vocals = plan_vocals(song) if "lead" in sources else None
    if vocals:
        sources["vocals"] = "voice"
    return SoundPlan(world, sources, vocals, sample_performance(attrs.genre, rng), sample_production(attrs, rng))


def plan_vocals(song: Song) -> Optional[str]:
    """The clip's wordless voice ("female", "male", "choir") or None, by genre, from (seed, index) alone
    (its own random stream, so the other choices of the plan do not depend on it). Solo pieces, and
    clips without the ``voice`` source registered, have none."""
    attrs = song.attributes
    if attrs.solo or "voice" not in available_sources(kind="melodic"):
        return None
    share, odds = VOCAL_ODDS_BY_GENRE.get(attrs.genre) or VOCAL_ODDS[GENRE_STYLE.get(attrs.genre, "band")]
    rng = np.random.default_rng([attrs.seed, attrs.index, 12])
    if rng.random() >= share:
        return None
    return VOCALS[int(rng.choice(len(VOCALS), p=odds))]


def _train_sources(song: Song, roles: list[str], rng) -> dict:
    """Each role's source in the training world."""
    melodic = available_sources("train", "melodic")
    fonts = [n for n in melodic if SOURCES[n].kind == "both" and not SOURCES[n].clip_share]
    # sampled instruments for some programs (those added later with a share of clips of their own aside)
    recorded = [n for n in melodic if SOURCES[n].programs and not SOURCES[n].clip_share]
    if not fonts:
        raise ValueError("No training SoundFont is installed; apt-get install fluid-soundfont-gm (make system-deps).")
    main = str(rng.choice(fonts))
    sources = {}
    for role in roles:
        if role == "drums":
            sources[role] = _drum_source(song, fonts, main, rng)
        else:
            sources[role] = str(rng.choice(fonts)) if rng.random() < OTHER_FONT_SHARE else main
            program = song.track(role).program
            players = [n for n in recorded if SOURCES[n].plays(program)]
            if players and rng.random() < SAMPLED_INSTRUMENT_SHARE:
                sources[role] = str(rng.choice(players))
    return _added_fonts(song, sources, fonts)


def _added_fonts(song: Song, sources: dict, fonts: list[str]) -> dict:
    """Sources added later (``SourceSpec.clip_share``), in registry order, take a clip's font-played melodic
    roles (a patch set: those of the programs it has), each for its share of the clips the ones before it
    leave, on a random stream of its own: a clip none takes keeps the sources drawn above. The drums stay
    as drawn (an added font's one kit would make the captions' 808s and brushes untrue)."""
    attrs = song.attributes
    rng = np.random.default_rng([attrs.seed, attrs.index, 13])
    for name in available_sources("train", "melodic"):
        spec = SOURCES[name]
        if spec.clip_share and rng.random() < spec.clip_share:
            return {role: name if source in fonts and role != "drums" and spec.plays(song.track(role).program)
                    else source for role, source in sources.items()}
    return sources


def _drum_source(song: Song, fonts: list[str], main: str, rng) -> str:
    """A recorded kit of the clip's style that has every note the groove plays, else a GM kit."""
    kit = song.attributes.kit
    style = "acoustic" if kit in ACOUSTIC_KITS else ("electronic" if kit in ELECTRONIC_KITS else None)
    pitches = {n.pitch for n in song.track("drums").notes} | ({CRASH} if song.seconds >= ARRANGE_SECONDS else set())
    sampled = [n for n in available_sources("train", "drums")
               if SOURCES[n].kind == "drums" and SOURCES[n].style == style] if style else []
    if sampled and rng.random() < SAMPLED_DRUMS_SHARE:
        fits = [n for n in sampled if pitches <= get_source(n).notes]
        if fits:
            return str(rng.choice(fits))
    return main if rng.random() > OTHER_FONT_SHARE else str(rng.choice(fonts))


def render_song_v2(song: Song, plan: SoundPlan, stems: bool = False) -> tuple[Rendered, dict]:
    """Humanise, render each track through its source and chain, mix, master.

    Returns the rendering and what was done: the effects per role and on the bus (names of the
    pedalboard plugins) and the mix's measured loudness in LUFS. ``plan.production``'s booleans are
    settled to what was applied.
    """
    attrs, sr = song.attributes, SAMPLE_RATE
    rng = np.random.default_rng([attrs.seed, attrs.index, 11])
    humanise(song, plan.performance, rng)
    tracks, effects = {}, {}  # role -> levelled audio, role -> plugin names
    seed = attrs.seed * 100_003 + attrs.index
    for role in ROLES + ("vocals",):
        track = song.track("lead" if role == "vocals" else role)
        if track is None or not track.notes or role not in plan.sources:
            continue
        source = get_source(plan.sources[role])
        if role == "vocals":  # the voice sings the (humanised) lead line
            audio = source.render(track, song.seconds, seed=seed, voice=plan.vocals)
        else:
            audio = source.render(track, song.seconds, seed=seed)
        board, effects[role] = track_board(role, track.program, plan.production, attrs.bpm, rng)
        audio = board(np.ascontiguousarray(audio, np.float32), sr)
        mix_db = float(rng.uniform(-1.5, 1.5))
        tracks[role] = _level(audio, _mix_db(role, attrs.genre, plan.vocals) + mix_db)
    mix = sum(tracks.values())
    lead = tracks.get("lead") + tracks.get("vocals", 0.0) if stems and "lead" in tracks else None
    bus, effects["bus"] = bus_board(plan.production)
    settle(plan.production, effects)
    mix = master(bus(mix.astype(np.float32), sr), plan.production, sr)
    if lead is not None:
        lead = master(bus_board(plan.production)[0](lead.astype(np.float32), sr), plan.production, sr)
    return Rendered(mix, lead, sr), {"effects": effects, "loudness_lufs": round(loudness(mix, sr), 2)}


def _mix_db(role: str, genre: str, vocals: Optional[str]) -> float:
    """v1's level per role; with vocals, the voice in front and the lead it doubles under it."""
    if role == "vocals":
        return _role_db("lead", genre) + VOCALS_DB
    return _role_db(role, genre) + (DOUBLED_LEAD_DB if role == "lead" and vocals else 0.0)
