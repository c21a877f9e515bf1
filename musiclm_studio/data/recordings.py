"""Real recordings without captions: the free game soundtracks Debian ships, cut into corpus clips.

A ``Soundtrack`` names a Debian package, where its music files lie (a glob, or a glob inside a
zip archive such as UFO:AI's ``0music.pk3``), its role (``train``, or ``test``: our own real-music
test set, never in a training split) and the licence of tracks its copyright file does not split.
Where the copyright file is machine-readable (DEP-5), each track's licence and credit are read from
the stanza that covers it, and tracks credited to Nexuiz are left out (``nexuiz-music`` is reserved).

``RESERVED`` packages (``nexuiz-music``, ``warzone2100-music``, ``drascula-music``) are kept for
independent evaluation: asking for one raises, whatever the role.

``import_recordings`` cuts each track into clips that start on a beat (librosa's beat tracker
over the whole track), so the corpus's beat grid, which starts at a clip's first sample, holds for
them too, and tags each clip only with what our analysers read truthfully: its tempo (from the
beats inside it; 0 = unknown where they are not steady), its key (left unstated where the key
profile fits weakly), drums (HPSS percussive share) and loudness (pyloudnorm, LUFS). No caption
claims more than that. The result is a corpus folder (24 kHz mono WAV + ``metadata.jsonl`` +
``manifest.json`` with every track's licence) that ``train tokens`` and the trainers read.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import json
import os
import re
import zipfile
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

import numpy as np

SAMPLE_RATE = 24_000
RESERVED = ("nexuiz-music", "warzone2100-music", "drascula-music")
ROLES = ("train", "test")
EXCLUDED_CREDITS = ("nexuiz",)  # tracks credited to these are left out (nexuiz-music is reserved)
KEY_MIN_FIT = 0.5  # Krumhansl-Schmuckler correlation below which a clip's key is left unstated
BEAT_MAX_SPREAD = 0.08  # inter-beat interval std / mean above which a clip's tempo is left unknown
DRUM_RATIO = 0.3  # HPSS percussive share above which a clip has drums (eval.adherence's default)
MIN_LUFS = -45.0  # quieter clips (fades, silence between cues) are skipped


@dataclass(frozen=True)
class Soundtrack:
    package: str
    files: str  # a glob of music files, or of members inside ``archive``
    role: str = "train"
    licence: str = ""  # for tracks the copyright file does not split
    credit: str = ""
    archive: str = ""  # a zip file holding the music (UFO:AI's .pk3)
    copyright_prefix: str = ""  # what the copyright file puts before a track's name (``base/`` for UFO:AI)
    copyright_path: str = ""  # default: the Debian package's /usr/share/doc/<package>/copyright

    @property
    def copyright_file(self) -> str:
        return self.copyright_path or f"/usr/share/doc/{self.package}/copyright"

    def available(self) -> bool:
        return os.path.exists(self.archive) if self.archive else bool(glob.glob(self.files, recursive=True))


@dataclass(frozen=True)
class Track:
    package: str
    name: str  # the file's path (or archive member)
    licence: str
    credit: str


SOUNDTRACKS: dict[str, Soundtrack] = {}


def register_soundtrack(soundtrack: Soundtrack) -> None:
    """Add (or replace) a soundtrack; reserved packages and unknown roles are refused."""
    check_package(soundtrack.package)
    if soundtrack.role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {soundtrack.role!r}")
    SOUNDTRACKS[soundtrack.package] = soundtrack


def unregister_soundtrack(package: str) -> Optional[Soundtrack]:
    return SOUNDTRACKS.pop(package, None)


def check_package(package: str) -> None:
    if package in RESERVED:
        raise ValueError(f"{package} is reserved for independent evaluation: never train, tune or select on it. "
                         f"Use another soundtrack ({', '.join(sorted(SOUNDTRACKS)) or 'see data/recordings.py'}).")


for _spec in (
    Soundtrack("wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music/*.ogg", "train",
               "GPL-2+", "The Battle for Wesnoth contributors"),
    Soundtrack("ufoai-music", "music/*.ogg", "train", archive="/usr/share/games/ufoai/base/0music.pk3",
               copyright_prefix="base/"),
    Soundtrack("hyperrogue-music", "/usr/share/hyperrogue/music/*.ogg", "train"),
    Soundtrack("asc-music", "/usr/share/games/asc/music/*.mp3", "train"),
    Soundtrack("singularity-music", "/usr/share/games/singularity/music/**/*.ogg", "test", "CC-BY-SA-3.0",
               "Max McCracken"),
):
    register_soundtrack(_spec)


def copyright_stanzas(text: str) -> list[dict]:
    """The ``Files`` stanzas of a DEP-5 copyright file: [{files: [...], copyright, license}];
    [] when the file is not machine-readable."""
    if not text.lstrip().lower().startswith("format:"):
        return []
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields, name = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                name = name.strip().lower()
                fields[name] = value.strip()
        if "files" in fields:
            stanzas.append({"files": fields["files"].split(), "copyright": fields.get("copyright", ""),
                            "license": fields.get("license", "").splitlines()[0] if fields.get("license") else ""})
    return stanzas


def _stanza_for(path: str, stanzas: list[dict]) -> Optional[dict]:
    """The last stanza whose patterns match ``path`` (DEP-5: later stanzas override earlier ones)."""
    found = None
    for stanza in stanzas:
        if any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, "*/" + pattern) for pattern in stanza["files"]):
            found = stanza
    return found


def soundtrack_tracks(package: str) -> list[Track]:
    """A soundtrack's music tracks with their licences, Nexuiz-credited tracks left out."""
    check_package(package)
    if package not in SOUNDTRACKS:
        raise ValueError(f"Unknown soundtrack {package!r}; known: {', '.join(sorted(SOUNDTRACKS))}.")
    spec = SOUNDTRACKS[package]
    if not spec.available():
        raise ValueError(f"{package} is not installed: apt-get install {package} (or `make recordings-deps`).")
    if spec.archive:
        with zipfile.ZipFile(spec.archive) as archive:
            names = sorted(n for n in archive.namelist() if fnmatch.fnmatch(n, spec.files))
    else:
        names = sorted(glob.glob(spec.files, recursive=True))
    text = open(spec.copyright_file, encoding="utf-8", errors="replace").read() \
        if os.path.isfile(spec.copyright_file) else ""
    stanzas = copyright_stanzas(text)
    tracks = []
    for name in names:
        stanza = _stanza_for(spec.copyright_prefix + name, stanzas)
        credit = " / ".join(stanza["copyright"].splitlines()) if stanza else spec.credit
        if any(word in credit.lower() for word in EXCLUDED_CREDITS):
            continue
        licence = (stanza["license"] if stanza else "") or spec.licence
        if not licence:
            raise ValueError(f"{package}: no licence found for {name}; add one to its Soundtrack entry.")
        tracks.append(Track(package, name, licence, credit or spec.credit))
    return tracks


def read_track(track: Track, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A track decoded to mono float32 at ``sample_rate``."""
    import librosa
    import soundfile

    spec = SOUNDTRACKS[track.package]
    if spec.archive:
        with zipfile.ZipFile(spec.archive) as archive:
            data, sr = soundfile.read(io.BytesIO(archive.read(track.name)), dtype="float32", always_2d=True)
    else:
        data, sr = soundfile.read(track.name, dtype="float32", always_2d=True)
    mono = data.mean(1)
    if sr != sample_rate:
        mono = librosa.resample(mono, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def analyse_clip(clip: np.ndarray, beats_in_clip: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """What the analysers read truthfully of a clip: bpm (0: unknown), tonic / mode (None: unstated),
    the key fit, drums, percussive share and loudness."""
    from ..analysis import percussive_ratio, steady_bpm
    from .production import loudness

    ratio = percussive_ratio(clip, sample_rate)
    return {"bpm": round(steady_bpm(beats_in_clip, BEAT_MAX_SPREAD), 2), **key_tags(clip, sample_rate),
            "drums": bool(ratio > DRUM_RATIO), "percussive_ratio": round(ratio, 3),
            "lufs": round(loudness(clip, sample_rate), 2)}


def key_tags(clip: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict:
    """The clip's key as the analysers read it (``read_key`` at ``KEY_MIN_FIT``): tonic name and mode
    (None: unstated) and the fit."""
    from ..analysis import read_key
    from ..vocab.musical_key import NOTE_NAMES

    tonic, mode, fit = read_key(clip, sample_rate, KEY_MIN_FIT)
    return {"tonic": None if tonic is None else NOTE_NAMES[tonic], "mode": mode,
            "key_fit": round(fit, 3) if np.isfinite(fit) else None}


def retag_keys(folder: str) -> dict:
    """Re-read the key of every clip of a recordings corpus with today's key reader (``analysis.read_key``
    at ``KEY_MIN_FIT``) and rewrite its tags and caption; the clips, their bpm (read from the whole
    track's beats when cut) and their splits are kept. Returns counts {clips, keyed, changed}."""
    from ..audio import read_audio_file

    meta = os.path.join(folder, "metadata.jsonl")
    if not os.path.isfile(meta):
        raise ValueError(f"{folder!r} holds no recordings corpus (no metadata.jsonl); cut one with "
                         "`musiclm-studio corpus recordings --out DIR`.")
    with open(meta, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    changed = 0
    for row in rows:
        data, sr, _ = read_audio_file(os.path.join(folder, row["path"]))
        clip = data.mean(1)
        if sr != SAMPLE_RATE:
            raise ValueError(f"{row['path']} is at {sr} Hz, not {SAMPLE_RATE}: not a clip this module cut.")
        tags = key_tags(clip)
        changed += (row.get("tonic"), row.get("mode")) != (tags["tonic"], tags["mode"])
        row.update(tags)
        row["caption"] = caption_for(row)
    with open(meta + ".partial", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(meta + ".partial", meta)
    return {"clips": len(rows), "keyed": sum(r["tonic"] is not None for r in rows), "changed": changed}


def caption_for(tags: dict) -> str:
    """A caption that says only what the analysers read."""
    parts = ["a recorded instrumental game soundtrack piece"]
    if tags.get("tonic"):
        parts.append(f"in {tags['tonic']} {tags['mode']}")
    if tags.get("bpm"):
        parts.append(f"at about {round(tags['bpm'])} bpm")
    parts.append("with drums" if tags["drums"] else "without drums")
    return " ".join(parts)


def track_clips(track: Track, clip_s: float = 10.0, every_s: float = 20.0, max_clips: Optional[int] = None,
                skip_s: float = 2.0) -> Iterator[tuple[float, np.ndarray, dict]]:
    """(start_s, clip, tags) for clips cut every ``every_s`` seconds, each starting on a beat."""
    from ..analysis import beat_times

    audio = read_track(track)
    beats = beat_times(audio, SAMPLE_RATE)
    n, length, made = len(audio), int(round(clip_s * SAMPLE_RATE)), 0
    start_wanted = skip_s
    while start_wanted + clip_s <= n / SAMPLE_RATE and (max_clips is None or made < max_clips):
        later = beats[beats >= start_wanted]
        start = float(later[0]) if len(later) else start_wanted
        first = int(round(start * SAMPLE_RATE))
        if first + length > n:
            break
        clip = audio[first: first + length]
        inside = beats[(beats >= start) & (beats < start + clip_s)] - start
        tags = analyse_clip(clip, inside)
        start_wanted = start + every_s
        if not np.isfinite(tags["lufs"]) or tags["lufs"] < MIN_LUFS:
            continue
        made += 1
        yield start, clip, tags


def _cut_track(task: tuple) -> list[dict]:
    """One track's clips written to ``out``: their metadata rows (without a split)."""
    from ..audio import save_audio

    out, package, t_index, track, clip_s, every_s, max_per_track = task
    rows = []
    for made, (start, clip, tags) in enumerate(track_clips(track, clip_s, every_s, max_per_track)):
        name = f"audio/{package}-{t_index:03d}-{made:03d}.wav"
        save_audio(os.path.join(out, name), clip, SAMPLE_RATE)
        rows.append({"path": name, "source": "recording", "package": package, "track": os.path.basename(track.name),
                     "start_s": round(start, 3), "seconds": clip_s, "licence": track.licence,
                     "caption": caption_for(tags), **tags})
    return rows


def import_recordings(out: str, packages: Optional[list[str]] = None, clip_s: float = 10.0, every_s: float = 20.0,
                      max_per_track: Optional[int] = None, valid_every: int = 20, limit_tracks: Optional[int] = None,
                      workers: int = 1, progress: bool = True) -> dict:
    """Cut the installed soundtracks (all that are available, or ``packages``) into a corpus at ``out``.

    Clips of ``train`` soundtracks go to split ``train`` (every ``valid_every``-th to ``valid``),
    clips of ``test`` soundtracks to split ``test``. Returns the manifest (also written to
    ``out/manifest.json``). Deterministic (no randomness; the same for any ``workers``).
    """
    from multiprocessing import get_context

    if packages is None:
        packages = [name for name, spec in SOUNDTRACKS.items() if spec.available()]
    for package in packages:
        check_package(package)
    if not packages:
        raise ValueError("No soundtrack is installed: `make recordings-deps` (or apt-get install "
                         + " ".join(sorted(SOUNDTRACKS)) + ").")
    os.makedirs(os.path.join(out, "audio"), exist_ok=True)
    tasks = [(out, package, i, track, clip_s, every_s, max_per_track)
             for package in packages for i, track in enumerate(soundtrack_tracks(package)[:limit_tracks])]
    if workers > 1:
        from ..analysis import compile_analysers

        compile_analysers()  # before the workers: they must not fill numba's cache at once
        with get_context("spawn").Pool(workers) as pool:
            results = list(pool.imap(_cut_track, tasks))
    else:
        results = map(_cut_track, tasks)
    rows, tracks_out, counter = [], [], 0
    for task, track_rows in zip(tasks, results):
        role = SOUNDTRACKS[task[1]].role
        for row in track_rows:
            row["split"] = "test" if role == "test" else ("valid" if counter % valid_every == valid_every - 1
                                                          else "train")
            counter += role != "test"
            rows.append(row)
        tracks_out.append({**asdict(task[3]), "role": role, "clips": len(track_rows)})
        if progress:
            print(f"{task[1]}: {os.path.basename(task[3].name)} -> {len(track_rows)} clips", flush=True)
    with open(os.path.join(out, "metadata.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    manifest = {"kind": "recordings", "sample_rate": SAMPLE_RATE, "clip_s": clip_s, "every_s": every_s,
                "max_per_track": max_per_track, "reserved_never_used": list(RESERVED), "tracks": tracks_out,
                "splits": {s: sum(r["split"] == s for r in rows) for s in ("train", "valid", "test")}}
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return manifest
