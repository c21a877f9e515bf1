"""Build a captioned corpus: audio clips, optional lead stems and MIDI, and ``metadata.jsonl``.

``build_corpus`` makes clips ``0 .. clips-1`` of a seed in parallel worker processes (each
loads the SoundFont once), with a tqdm bar. Clip ``i`` depends only on (seed, i), so a build
is reproducible byte for byte and resumable: an existing folder must hold a corpus built with
the same options (``corpus.json``), clips already listed in ``metadata.jsonl`` with their
files present are kept, and only the missing ones are made. Files are written under a temporary
name and renamed, so a crash never leaves a half-written clip. Splits come from a hash of the
index (90 / 5 / 5 % train / valid / test), so they are disjoint and stable as a corpus grows.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .attributes import V2_FIELDS, BuildOptions, sample_attributes
from .captions import describe
from .composer import compose
from .instruments import instrument
from .renderer import SAMPLE_RATE, get_renderer, render_song
from .theory import NOTE_NAMES

FORMAT_VERSION = 1
MANIFEST, METADATA = "corpus.json", "metadata.jsonl"


@dataclass
class BuildReport:
    """What a build did: clips made now, clips kept from before, the total, wall time."""

    folder: str
    built: int
    kept: int
    total: int
    seconds: float


def split_of(index: int) -> str:
    """'train' / 'valid' / 'test' from a hash of the clip index (90 / 5 / 5 %)."""
    u = int(hashlib.sha1(f"clip-{index}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if u < 0.9 else ("valid" if u < 0.95 else "test")


def read_metadata(folder: str) -> list[dict]:
    """Rows of ``folder/metadata.jsonl`` (a truncated last line from a crash is ignored)."""
    path = os.path.join(folder, METADATA)
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def make_clip(seed: int, index: int, seconds: float, stems: bool, options: BuildOptions, folder: str,
              version: int = 1, family: Optional[str] = None) -> dict:
    """Compose, render and write clip ``index``; returns its metadata row.

    Version 1 renders with the FluidR3 path of ``renderer`` (unchanged, byte for byte) and writes the v1
    caption; version 2 plays the same song through ``render_v2`` (sources per track, vocals, humanised,
    produced, a held-out world) and writes caption v2 of it (``caption_family`` in the row), in
    ``family`` if given (else the family ``captions_v2.family_for`` gives its split).
    """
    from ..audio import save_audio

    attrs = sample_attributes(seed, index, options)
    song = compose(attrs, seconds)
    split, extra = split_of(index), {}
    if version == 2:
        from .render_v2 import CORPUS_VERSION, plan_sound, render_song_v2

        plan = plan_sound(song)
        rendered, done = render_song_v2(song, plan, stems=stems)
        split = "heldout" if plan.world == "heldout" else split
        extra = {"corpus_version": CORPUS_VERSION, **plan.to_dict(), **done}
        caption, aspects, extra["caption_family"] = _caption_v2(attrs, extra, split, family)
    else:
        rendered = render_song(song, get_renderer(), stems=stems)
        caption, aspects = describe(attrs)
    row = {"path": f"audio/{index:06d}.wav", "caption": caption, "aspects": aspects, "split": split,
           "seed": seed, "index": index, "seconds": seconds, "sample_rate": rendered.sample_rate}
    row.update(_attribute_fields(attrs, song))
    row.update(extra)
    files = {row["path"]: rendered.mix}
    if stems:
        row["lead_path"] = f"stems/{index:06d}_lead.wav"
        row["lead_notes"] = song.lead_notes
        files[row["lead_path"]] = rendered.lead
    row["midi_path"] = f"midi/{index:06d}.mid"
    _write_atomic(os.path.join(folder, row["midi_path"]), lambda p: song.midi.write(p))
    for rel, audio in files.items():
        _write_atomic(os.path.join(folder, rel), lambda p, a=audio: save_audio(p, a, rendered.sample_rate))
    return row


def _caption_v2(attrs, extra: dict, split: str, family: Optional[str] = None) -> tuple[str, list[str], str]:
    """Caption v2 of a v2 clip: its vocals and production record (``attributes.V2_FIELDS``) set on the
    attributes, in ``family`` or else the phrasing family ``family_for`` gives its split. Returns (text,
    aspects, family)."""
    from .captions_v2 import describe_v2, family_for

    for name in V2_FIELDS:
        setattr(attrs, name, extra[name])
    caption = describe_v2(attrs, 0, family or family_for(attrs, split))
    return caption.text, caption.aspects, caption.family


def _attribute_fields(attrs, song) -> dict:
    """Every attribute, with the tonic as a name and the lead / band spelled out."""
    lead = instrument(attrs.lead_program)
    fields = attrs.to_dict()
    fields.pop("extra")
    fields.update(tonic=NOTE_NAMES[attrs.tonic], tonic_pc=attrs.tonic, lead_family=lead.family,
                  lead_name=lead.name, instruments=attrs.instrument_names(), chords=song.chords,
                  progression=list(attrs.progression), glides=attrs.extra.get("glides", 0))
    return fields


def _write_atomic(path: str, write: Callable[[str], object]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    root, ext = os.path.splitext(path)
    tmp = f"{root}.partial{ext}"
    write(tmp)
    os.replace(tmp, path)


def _check_folder(out: str, manifest: dict) -> list[dict]:
    """Existing complete rows of a compatible corpus in ``out`` (ValueError otherwise)."""
    path = os.path.join(out, MANIFEST)
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(path):
        raise ValueError(f"{out!r} exists and is not a corpus folder; give an empty or new --out folder.")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            existing = json.load(f)
        keys = list(manifest) + [k for k in ("heldout_only",) if k in existing and k not in manifest]
        changed = [k for k in keys if existing.get(k) != manifest.get(k)]
        if existing.get("version", 1) != manifest.get("version", 1):
            changed = ["version"] + [k for k in changed if k != "version"]
        if changed:
            raise ValueError(f"{out!r} holds a corpus built with other options ({', '.join(changed)}: "
                             f"{[existing.get(k) for k in changed]}); resume with the same options or use a new --out.")
    rows = {}
    for row in read_metadata(out):
        files = [row["path"]] + ([row["lead_path"]] if manifest["stems"] else [])
        if all(os.path.isfile(os.path.join(out, f)) for f in files):
            rows[row["index"]] = row
    return [rows[i] for i in sorted(rows)]


_WORKER: dict = {}


def _init_worker(args: tuple, child: bool = True) -> None:
    if child:
        import torch

        torch.set_num_threads(1)
    _WORKER["args"] = args
    get_renderer()


def _work(index: int) -> dict:
    seed, seconds, stems, options, out, version, family = _WORKER["args"]
    return make_clip(seed, index, seconds, stems, options, out, version, family)


def heldout_indices(clips: int) -> list[int]:
    """The first ``clips`` clip indices of corpus v2's held-out world (``render_v2.world_of``)."""
    from .render_v2 import world_of

    found, index = [], 0
    while len(found) < clips:
        if world_of(index) == "heldout":
            found.append(index)
        index += 1
    return found


def build_corpus(out: str, clips: int, seconds: float = 10.0, seed: int = 0, workers: int = 1,
                 stems: bool = False, genres: Optional[list[str]] = None, leads: Optional[list[str]] = None,
                 tempo: Optional[tuple[float, float]] = None, progress: bool = True, version: int = 1,
                 heldout_only: bool = False) -> BuildReport:
    """Make (or complete) a corpus of ``clips`` clips of ``seconds`` each in ``out``.

    ``version=1`` is the shipped corpus (one SoundFont; bytes unchanged); ``version=2`` the wider
    world of ``render_v2``, whose manifest names the corpus version, its sound sources (licence,
    world) and the held-out ones. ``heldout_only`` (version 2) makes the held-out evaluation set
    alone: the first ``clips`` indices of the held-out world (split ``heldout``, ~5 % of indices, so
    no time goes to clips that would be trained on), every caption in the held-out phrasing family
    (``captions_v2.HELD_OUT_FAMILY``): held-out sound source and held-out wording together.
    """
    if clips < 1:
        raise ValueError("--clips must be at least 1.")
    if not 1.0 <= seconds <= 60.0:
        raise ValueError("--seconds must be between 1 and 60.")
    if workers < 1:
        raise ValueError("--workers must be at least 1.")
    if version not in (1, 2):
        raise ValueError("--version must be 1 (the shipped corpus) or 2 (more sound sources, produced).")
    if heldout_only and version != 2:
        raise ValueError("--heldout-only needs --version 2 (only corpus v2 has a held-out world).")
    options = BuildOptions(genres=genres, leads=leads, tempo=tuple(tempo) if tempo else None)
    manifest = {"format": FORMAT_VERSION, "seed": seed, "seconds": seconds, "stems": stems, "genres": genres,
                "leads": leads, "tempo": list(tempo) if tempo else None, "sample_rate": SAMPLE_RATE}
    if version == 2:
        manifest.update(_sources_manifest())
    family = None
    if heldout_only:
        from .captions_v2 import HELD_OUT_FAMILY

        manifest["heldout_only"], family = True, HELD_OUT_FAMILY
    start = time.time()
    kept = _check_folder(out, manifest)
    done = {row["index"] for row in kept}
    wanted = heldout_indices(clips) if heldout_only else range(clips)
    todo = [i for i in wanted if i not in done]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest | {"soundfont": os.path.basename(get_renderer().soundfont)}, f, indent=2)
    _rewrite_metadata(out, kept)
    if version == 2 and todo:
        from .sources import preload_soundfonts

        preload_soundfonts()  # once, before the workers fork (MuseScore General's sf3 takes seconds)
    rows = _run(todo, (seed, seconds, stems, options, out, version, family), workers, progress)
    _rewrite_metadata(out, kept + rows)
    wanted = set(wanted)
    return BuildReport(out, len(rows), len([r for r in kept if r["index"] in wanted]), len(kept) + len(rows),
                       time.time() - start)


def _sources_manifest() -> dict:
    """Corpus v2's version, installed sound sources (kind, world, licence, origin) and held-out names."""
    from .render_v2 import CORPUS_VERSION, HELDOUT_SHARE
    from .sources import SOURCES, available_sources, heldout_sources

    return {"version": CORPUS_VERSION, "heldout_share": HELDOUT_SHARE, "heldout_sources": heldout_sources(),
            "sound_sources": {n: SOURCES[n].as_manifest() for n in available_sources()}}


def _run(todo: list[int], args: tuple, workers: int, progress: bool) -> list[dict]:
    """Make the clips in ``todo``, appending each row to metadata.jsonl as it completes."""
    from tqdm import tqdm

    rows = []
    bar = tqdm(total=len(todo), unit="clip", desc="corpus", disable=not progress or not todo)
    with open(os.path.join(args[4], METADATA), "a", encoding="utf-8") as meta:
        if workers == 1 or len(todo) < 4:
            _init_worker(args, child=False)
            results = map(_work, todo)
            pool = None
        else:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            pool = context.Pool(workers, initializer=_init_worker, initargs=(args,))
            results = pool.imap(_work, todo, chunksize=2)
        try:
            for row in results:
                meta.write(json.dumps(row) + "\n")
                meta.flush()
                rows.append(row)
                bar.update(1)
        finally:
            if pool is not None:
                pool.terminate()
            bar.close()
    return rows


def _rewrite_metadata(out: str, rows: list[dict]) -> None:
    """metadata.jsonl sorted by index, replaced atomically."""
    rows = sorted({r["index"]: r for r in rows}.values(), key=lambda r: r["index"])
    path = os.path.join(out, METADATA)
    with open(path + ".partial", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(path + ".partial", path)
