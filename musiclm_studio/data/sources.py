"""Sound sources for corpus v2: each one renders a track (notes in) to 24 kHz mono float32 out.

A source is anything with ``render(track, seconds, seed) -> np.ndarray [S]`` where ``track`` is a
``pretty_midi.Instrument`` (its program, ``is_drum`` flag, notes and pitch bends). ``SOURCES`` is
the registry: a ``SourceSpec`` per name says what the source can play (``melodic``, ``drums`` or
``both``), its drum style (``gm``: any General MIDI kit; ``acoustic`` / ``electronic`` recorded
kits), which world it belongs to (``train``, or ``heldout``: never in a training split), its
licence and where it comes from. Sources are built lazily, once per process (``get_source``),
and only when their files are installed (``available``). ``register_source`` adds more. The
wordless voice of ``musiclm_studio.data.voice`` is the source ``voice`` (``VoiceSource``): it sings
the lead line of clips with vocals.

Built in: the FluidR3 and MuseScore General SoundFonts (MIT; train), the OPL-3 FM SoundFont
(CC-BY-SA-4.0; train, a third of the clips: FM synthesis, unlike any sampled font), TimGM6mb (GPL-2,
shipped with pretty_midi; the held-out world), the Salamander Grand Piano (CC-BY-3.0, npm, for the
piano), the freepats GUS patches (GPL-2+, Debian; recorded instruments for 72 programs, a share of the
training clips of their own, played by ``sampler.PatchSet``), the two recorded avldrums kits
(CC-BY-SA-3.0) and ten Debian Hydrogen kits (licences per kit below) played by ``sampler.HydrogenKit``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .renderer import SAMPLE_RATE, get_renderer
from .sampler import HYDROGEN_DIR, HydrogenKit, MultiSampledInstrument, PatchSet

WORLDS = ("train", "heldout")
KINDS = ("melodic", "drums", "both")
PROBE_NOTES = tuple(range(35, 82))


@dataclass(frozen=True)
class SourceSpec:
    """What a source is, what it plays and where it may appear."""

    name: str
    kind: str  # melodic | drums | both
    world: str  # train | heldout
    licence: str
    origin: str  # Debian package, pip / npm package or module
    path: str = ""  # file or folder the source needs ('' = nothing on disk)
    style: str = "gm"  # drums: gm (any GM kit) | acoustic | electronic
    programs: tuple = ()  # melodic: the GM programs it can play (() = all)
    # a SoundFont added after corpus v2 was first built: it plays this share of the training clips in
    # place of the clip's fonts, drawn on a stream of its own, so that the clips it does not take render
    # exactly as before it was installed (render_v2.plan_sound); 0 = one of the fonts drawn per clip
    clip_share: float = 0.0
    factory: Optional[Callable[["SourceSpec"], object]] = field(default=None, compare=False, repr=False)

    def available(self) -> bool:
        return not self.path or os.path.exists(self.path)

    def as_manifest(self) -> dict:
        return {"kind": self.kind, "world": self.world, "style": self.style, "licence": self.licence,
                "origin": self.origin, "programs": list(self.programs) or "all"}

    def plays(self, program: int) -> bool:
        return not self.programs or program in self.programs


class SoundFontSource:
    """A SoundFont through tinysoundfont (one cached synth per file and process), with a gain."""

    def __init__(self, path: str, gain_db: float = 0.0, drum_bank: Optional[int] = None,
                 drum_preset: Optional[int] = None, program_gain_db: Optional[dict] = None):
        self.path, self.gain = path, 10 ** (gain_db / 20)
        self.program_gain = {p: 10 ** (db / 20) for p, db in (program_gain_db or {}).items()}
        self.drum_bank, self.drum_preset = drum_bank, drum_preset
        self._notes: Optional[set] = None

    def render(self, track, seconds: float, seed: int = 0) -> np.ndarray:
        renderer = get_renderer(self.path, SAMPLE_RATE)
        if track.is_drum:
            audio = renderer.render_track(track, seconds, bank=self.drum_bank, preset=self.drum_preset)
        else:
            audio = renderer.render_track(track, seconds) * self.program_gain.get(track.program, 1.0)
        return (audio * self.gain).astype(np.float32)

    @property
    def notes(self) -> set[int]:
        """The GM drum notes that sound (probed once: each note alone, 60 ms)."""
        if self._notes is None:
            import pretty_midi

            self._notes = set()
            for pitch in PROBE_NOTES:
                probe = pretty_midi.Instrument(self.drum_preset or 0, is_drum=True)
                probe.notes.append(pretty_midi.Note(100, pitch, 0.0, 0.05))
                if np.abs(self.render(probe, 0.06)).max() > 1e-3:
                    self._notes.add(pitch)
        return self._notes


class HydrogenSource:
    """A Hydrogen kit as a source (drum tracks only)."""

    def __init__(self, folder: str):
        self.kit = HydrogenKit(folder, SAMPLE_RATE)

    @property
    def notes(self) -> set[int]:
        return self.kit.notes

    def render(self, track, seconds: float, seed: int = 0) -> np.ndarray:
        if not track.is_drum:
            raise ValueError(f"{self.kit.name!r} is a drum kit; it cannot play a melodic track.")
        return self.kit.render(track.notes, seconds)


class PatchSetSource:
    """A folder of General MIDI GUS patches (Debian ``freepats``; melodic tracks of the programs it has)."""

    def __init__(self, folder: str):
        self.patches = PatchSet(folder, SAMPLE_RATE)

    def render(self, track, seconds: float, seed: int = 0) -> np.ndarray:
        if track.is_drum:
            raise ValueError("The patch set's melodic programs cannot play a drum track.")
        return self.patches.render(track.program, track.notes, seconds)


class SampledInstrumentSource:
    """A multi-sampled instrument (melodic tracks of the programs it was recorded for)."""

    def __init__(self, layers: dict[str, int]):
        self.instrument = MultiSampledInstrument(layers, SAMPLE_RATE)

    def render(self, track, seconds: float, seed: int = 0) -> np.ndarray:
        if track.is_drum:
            raise ValueError("A sampled melodic instrument cannot play a drum track.")
        return self.instrument.render(track.notes, seconds)


def samples_dir() -> str:
    """Where ``make sample-deps`` puts npm sample packages: $MUSICLM_SAMPLES, else <repo>/.samples."""
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".samples")
    return os.path.join(os.environ.get("MUSICLM_SAMPLES", default), "node_modules", "@audio-samples")


def _salamander(spec: SourceSpec) -> SampledInstrumentSource:
    return SampledInstrumentSource({os.path.join(spec.path, f"piano-velocity{v}", "audio"): top
                                    for v, top in SALAMANDER_LAYERS.items()})


def _timgm6mb() -> str:
    """TimGM6mb: Debian's copy if installed, else the one pretty_midi ships."""
    if os.path.isfile("/usr/share/sounds/sf2/TimGM6mb.sf2"):
        return "/usr/share/sounds/sf2/TimGM6mb.sf2"
    try:
        import pretty_midi
    except ImportError:
        return "/usr/share/sounds/sf2/TimGM6mb.sf2"
    found = glob.glob(os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2"))
    return found[0] if found else "/usr/share/sounds/sf2/TimGM6mb.sf2"


def _soundfont(gain_db: float = 0.0, drum_bank=None, drum_preset=None, program_gain_db=None):
    return lambda spec: SoundFontSource(spec.path, gain_db, drum_bank, drum_preset, program_gain_db)


# Gain per font (the median over the composer's programs) and per program where a font differs from
# FluidR3 by more than 8 dB, measured on C4-F4 at velocity 90 (RMS). MuseScore General's piano is
# ~29 dB quieter through tinysoundfont. The v2 mixer levels every track to its role level anyway;
# these gains make each source's raw output comparable.
SOUNDFONT_GAIN_DB = {"fluidr3": 0.0, "musescore_general": 3.9, "timgm6mb": 3.1, "opl3_fm": -2.6}
PROGRAM_GAIN_DB = {
    "musescore_general": {0: 24.8, 2: 12.0, 6: 14.1, 7: 7.1, 18: 7.0, 19: 8.6, 24: 7.3, 25: 12.8, 26: 8.0,
                          29: 12.0, 30: 16.9, 44: 7.5, 45: 5.5, 47: -12.3, 48: 9.2, 49: 16.1, 50: 10.3,
                          59: 5.0, 71: 5.4, 92: 14.4, 95: 15.2, 99: 4.4, 110: 8.1},
    "timgm6mb": {2: 12.5, 6: 11.7, 7: 9.4, 11: -12.7, 18: 8.6, 19: 6.7, 25: 6.5, 27: 5.5, 29: 7.4, 30: 10.7,
                 42: -12.8, 46: -11.3, 47: -16.3, 49: 6.7, 50: 11.6, 57: 7.4, 59: 6.8, 61: 6.4, 84: 13.3,
                 88: -14.6, 90: 5.0, 95: 8.2},
    "opl3_fm": {0: -12.3, 5: -13.0, 6: 9.5, 11: -9.1, 22: -9.5, 38: -9.0, 47: -17.1, 49: 10.7, 80: -11.3, 88: -13.1},
}
# Not used: Debian csound-soundfont's sf_GMbank.sf2 shares 392 of its 489 sample names with TimGM6mb
# (the held-out world); FluidR3 and MuseScore General share 9 and 22 generic ones.
# Hydrogen kits used, with the licence Debian's copyright file gives for each.
HYDROGEN_KITS = {
    "The Black Pearl 1.0": ("acoustic", "GPL-2 (Glen MacArthur)"),
    "Millo_MultiLayered2": ("acoustic", "GPL-2 (Emiliano Grilli)"),
    "Millo_MultiLayered3": ("acoustic", "GPL-2 (Emiliano Grilli)"),
    "ColomboAcousticDrumkit": ("acoustic", "GPL-2+ with composition exception (Marcos Guglielmetti)"),
    "rumpf_kit_z01_h2": ("acoustic", "CC-BY-3.0 (Emanuel Rumpf)"),
    "BJA_Pacific": ("acoustic", "CC-BY-SA-3.0-us (Luc Tanguay / Bransin James Anderson)"),
    "ElectricEmpireKit": ("electronic", "GPL-2+ (Artemiy Pavlov)"),
    "HardElectro1": ("electronic", "GPL-2+ (Artemiy Pavlov)"),
    "VariBreaks": ("electronic", "GPL-2+ (Artemiy Pavlov)"),
    "Audiophob": ("electronic", "CC0 (audiophobdubstep)"),
}
# The General MIDI programs Debian's freepats (20060219) has a patch for, in Tone_000 (72 of 128).
FREEPATS_DIR = "/usr/share/midi/freepats"
FREEPATS_PROGRAMS = (0, 1, 2, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 19, 21, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34,
                     35, 36, 37, 38, 40, 42, 44, 45, 46, 47, 48, 53, 56, 57, 58, 59, 60, 61, 64, 65, 66, 67, 68, 69,
                     70, 71, 72, 73, 74, 75, 76, 79, 80, 84, 88, 94, 95, 98, 101, 102, 104, 114, 115, 120, 122, 125)
# Salamander Grand Piano velocity packages used (of 16) -> top MIDI velocity each one plays.
SALAMANDER_LAYERS = {4: 40, 8: 72, 12: 100, 16: 127}
SOURCES: dict[str, SourceSpec] = {}
_BUILT: dict[str, object] = {}


def register_source(spec: SourceSpec) -> None:
    """Add (or replace) a source in the registry."""
    if spec.kind not in KINDS or spec.world not in WORLDS:
        raise ValueError(f"Source {spec.name!r}: kind must be one of {KINDS} and world one of {WORLDS}.")
    if spec.factory is None:
        raise ValueError(f"Source {spec.name!r} needs a factory that builds it.")
    SOURCES[spec.name] = spec
    _BUILT.pop(spec.name, None)


def unregister_source(name: str) -> Optional[SourceSpec]:
    """Remove ``name`` from the registry (and its built instance); returns its spec, if any."""
    _BUILT.pop(name, None)
    return SOURCES.pop(name, None)


def get_source(name: str):
    """The built source ``name`` (cached per process)."""
    if name not in SOURCES:
        raise ValueError(f"Unknown sound source {name!r}; known: {', '.join(sorted(SOURCES))}.")
    spec = SOURCES[name]
    if not spec.available():
        raise ValueError(f"Sound source {name!r} needs {spec.path} ({spec.origin}); run `make system-deps`.")
    if name not in _BUILT:
        _BUILT[name] = spec.factory(spec)
    return _BUILT[name]


def preload_soundfonts() -> None:
    """Load every installed SoundFont source now (forked workers then share the loaded fonts)."""
    for name in available_sources():
        if isinstance(get_source(name), SoundFontSource):
            get_renderer(get_source(name).path, SAMPLE_RATE)


def available_sources(world: Optional[str] = None, kind: Optional[str] = None) -> list[str]:
    """Names of installed sources, in registry order, filtered by world and by what they play."""
    return [n for n, s in SOURCES.items() if s.available() and (world is None or s.world == world)
            and (kind is None or s.kind in (kind, "both"))]


def heldout_sources() -> list[str]:
    return [n for n, s in SOURCES.items() if s.world == "heldout"]


def _register_builtins() -> None:
    fonts = [("fluidr3", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "MIT", "Debian fluid-soundfont-gm", "train", 0.0),
             ("musescore_general", "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "MIT",
              "Debian musescore-general-soundfont-small", "train", 0.0),
             ("timgm6mb", _timgm6mb(), "GPL-2", "pretty_midi (or Debian timgm6mb-soundfont)", "heldout", 0.0),
             ("opl3_fm", "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "CC-BY-SA-4.0 (Zandro Reveille)",
              "Debian opl3-soundfont", "train", 1 / 3)]
    for name, path, licence, origin, world, share in fonts:
        register_source(SourceSpec(name, "both", world, licence, origin, path, clip_share=share,
                                   factory=_soundfont(SOUNDFONT_GAIN_DB[name],
                                                      program_gain_db=PROGRAM_GAIN_DB.get(name))))
    register_source(SourceSpec("salamander_piano", "melodic", "train", "CC-BY-3.0 (Alexander Holm)",
                               "npm @audio-samples/piano-velocity{4,8,12,16}", samples_dir(), programs=(0,),
                               factory=_salamander))
    # recorded patches unlike the SoundFonts' (added in session 33): like the FM font, a share of the clips
    # of its own (the melodic tracks it has a program for), so the other clips render as before
    register_source(SourceSpec("freepats", "melodic", "train", "GPL-2+ with a composition exception (freepats.opensrc.org)",
                               "Debian freepats", FREEPATS_DIR, programs=FREEPATS_PROGRAMS, clip_share=0.4,
                               factory=lambda spec: PatchSetSource(spec.path)))
    for kit in ("Black_Pearl", "Red_Zeppelin"):
        register_source(SourceSpec(f"avldrums_{kit.lower()}", "drums", "train", "CC-BY-SA-3.0 (Glen MacArthur)",
                                   "Debian avldrums.lv2-soundfont", f"/usr/share/sounds/sf2/{kit}_4_LV2.sf2",
                                   "acoustic", factory=_soundfont(0.0, drum_bank=0, drum_preset=0)))
    for kit, (style, licence) in HYDROGEN_KITS.items():
        register_source(SourceSpec(f"hydrogen_{kit.lower().replace(' ', '_').replace('.', '')}", "drums", "train",
                                   licence, "Debian hydrogen-drumkits", os.path.join(HYDROGEN_DIR, kit), style,
                                   factory=lambda spec: HydrogenSource(spec.path)))


def _register_voice() -> None:
    """The wordless formant voice (``musiclm_studio.data.voice``) as the source ``voice``."""
    register_source(SourceSpec("voice", "melodic", "train", "own code (formant synthesis)",
                               "musiclm_studio.data.voice", factory=lambda spec: VoiceSource()))


class VoiceSource:
    """A melody sung by ``voice.render_voice`` ("female", "male" or "choir"; the lead line of a clip
    with vocals). The voice is chosen per call, its performance (vowels, vibrato, drift) by ``seed``."""

    def __init__(self, voice: str = "female"):
        self.voice = voice

    def render(self, track, seconds: float, seed: int = 0, voice: Optional[str] = None) -> np.ndarray:
        from .voice import render_voice

        return render_voice(track.notes, seconds, sample_rate=SAMPLE_RATE, voice=voice or self.voice, seed=seed)


_register_builtins()
_register_voice()
