"""The ``corpus`` command group: build, preview, stats, check, import.

    musiclm-studio corpus build --out DIR --clips N --seconds 10 --seed S --workers W [--stems] [--genres ...] [--version 2]
    musiclm-studio corpus preview --out DIR [--n 4]
    musiclm-studio corpus stats DIR [--png PATH]
    musiclm-studio corpus check DIR [--n 200] [--split heldout]
    musiclm-studio corpus import FOLDER --out DIR [--captions FILE] [--seconds 10] [--clips-per-shard N]
    musiclm-studio corpus shard --data CORPUS --out DIR [--clips-per-shard 256]

``register(sub)`` adds the group to the main parser; every command returns an exit status and
user errors raise ``ValueError`` (printed by the main CLI as one line, exit status 2).
"""

from __future__ import annotations

import argparse


def _names(values):
    """Accept both '--genres rock jazz' and '--genres rock,jazz'."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def cmd_build(args: argparse.Namespace) -> int:
    from .builder import build_corpus

    report = build_corpus(args.out, args.clips, seconds=args.seconds, seed=args.seed, workers=args.workers,
                          stems=args.stems, genres=_names(args.genres), leads=_names(args.leads),
                          tempo=args.tempo, progress=not args.quiet, version=args.corpus_version,
                          heldout_only=args.heldout_only)
    print(f"{args.out}: {report.built} clips made, {report.kept} kept from before, {report.total} in total "
          f"({report.seconds:.1f} s)")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from .builder import build_corpus, read_metadata

    build_corpus(args.out, args.n, seconds=args.seconds, seed=args.seed, workers=1, stems=False,
                 genres=_names(args.genres), progress=False)
    for row in read_metadata(args.out)[: args.n]:
        print(f"{row['path']}  [{row['genre']}, {row['bpm']} bpm, {row['tonic']} {row['mode']}, "
              f"{'drums' if row['drums'] else 'no drums'}]\n  {row['caption']}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import contact_sheet, corpus_stats

    print(corpus_stats(args.dir).table())
    if args.png:
        print(f"wrote {contact_sheet(args.dir, args.png, n=args.n)}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .truth import check_corpus

    print(check_corpus(args.dir, n=args.n, seed=args.seed, progress=not args.quiet, split=args.split).text())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .user_data import to_corpus

    report = to_corpus(args.folder, args.out, captions=args.captions, seconds=args.seconds,
                       clips_per_shard=args.clips_per_shard)
    print(report.summary())
    if args.clips_per_shard:
        _print_index(args.out)
    return 0


def _print_index(out: str) -> None:
    from .shards import read_index

    index = read_index(out)
    print(f"{out}/shards: {index['clips']} clips; " + ", ".join(
        f"{split} {sum(s['clips'] for s in shards)} in {len(shards)} shards" for split, shards in index["splits"].items()))


def cmd_shard(args: argparse.Namespace) -> int:
    from .shards import shard_corpus

    shard_corpus(args.data, args.out, clips_per_shard=args.clips_per_shard)
    _print_index(args.out)
    return 0


def cmd_recordings(args: argparse.Namespace) -> int:
    from .recordings import import_recordings, retag_keys

    if args.retag:
        counts = retag_keys(args.out)
        print(f"{args.out}: keys re-read for {counts['clips']} clips: {counts['keyed']} keyed, {counts['changed']} changed")
        return 0
    manifest = import_recordings(args.out, packages=_names(args.packages) if args.packages else None,
                                 clip_s=args.seconds, every_s=args.every_s, max_per_track=args.max_per_track,
                                 workers=args.workers, progress=not args.quiet)
    print(f"{sum(t['clips'] for t in manifest['tracks'])} clips from {len(manifest['tracks'])} tracks: "
          + ", ".join(f"{k} {v}" for k, v in manifest["splits"].items()))
    return 0


def register(sub) -> None:
    """Add ``corpus`` and its sub-commands to the main CLI's sub-parsers."""
    corpus = sub.add_parser("corpus", help="build and inspect the procedural, captioned training corpus")
    commands = corpus.add_subparsers(dest="corpus_command", required=True)

    b = commands.add_parser("build", help="compose, render and caption N clips (resumable)")
    b.add_argument("--out", required=True, help="corpus folder (an existing one is resumed, never overwritten)")
    b.add_argument("--clips", type=int, required=True)
    b.add_argument("--seconds", type=float, default=10.0)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int, default=1, help="worker processes (one SoundFont each)")
    b.add_argument("--stems", action="store_true", help="also write the lead alone and its notes")
    b.add_argument("--genres", nargs="+", help="restrict to these genres (default: all)")
    b.add_argument("--leads", nargs="+", help="restrict lead instruments (names such as 'flute' 'alto sax')")
    b.add_argument("--tempo", type=float, nargs=2, metavar=("MIN", "MAX"), help="bpm range")
    b.add_argument("--version", dest="corpus_version", type=int, default=1, choices=(1, 2),
                   help="corpus version: 1 = one SoundFont (the shipped model's), 2 = several sound sources, "
                        "humanised, produced, with a held-out world (split 'heldout')")
    b.add_argument("--heldout-only", action="store_true",
                   help="with --version 2: only the held-out evaluation set, --clips clips of the held-out world "
                        "(held-out sound source), every caption in the held-out phrasing family")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)

    p = commands.add_parser("preview", help="render a few clips and print their captions")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--genres", nargs="+")
    p.set_defaults(func=cmd_preview)

    s = commands.add_parser("stats", help="counts per genre, instrument, tempo, mode, drums; contact sheet")
    s.add_argument("dir")
    s.add_argument("--png", default=None, help="write a mel-spectrogram contact sheet here")
    s.add_argument("--n", type=int, default=16, help="clips on the contact sheet")
    s.set_defaults(func=cmd_stats)

    c = commands.add_parser("check", help="measure whether captions are true (tempo, drums, mode)")
    c.add_argument("dir")
    c.add_argument("--n", type=int, default=200)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--split", default=None, help="only this split (train, valid, test, heldout)")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_check)

    i = commands.add_parser("import", help="turn a folder of your own audio + captions into a corpus")
    i.add_argument("folder")
    i.add_argument("--out", required=True)
    i.add_argument("--captions", default=None, help="CSV or JSONL (MusicCaps columns accepted)")
    i.add_argument("--seconds", type=float, default=None, help="cut long files into clips of this length")
    i.add_argument("--clips-per-shard", type=int, default=None,
                   help="write WebDataset tar shards of this many clips (DIR/shards) instead of WAV files")
    i.set_defaults(func=cmd_import)

    h = commands.add_parser("shard", help="write a corpus as WebDataset tar shards that trainers stream")
    h.add_argument("--data", required=True, help="a corpus folder (metadata.jsonl + audio) or a folder of audio files")
    h.add_argument("--out", required=True, help="where DIR/shards/index.json and the .tar shards go")
    h.add_argument("--clips-per-shard", type=int, default=256)
    h.set_defaults(func=cmd_shard)

    r = commands.add_parser("recordings", help="cut Debian's free game soundtracks into beat-aligned clips tagged by "
                                               "the analysers (tempo, key, drums, loudness); no captions needed")
    r.add_argument("--out", required=True)
    r.add_argument("--packages", nargs="+", help="soundtrack packages (default: every installed one; "
                                                 "nexuiz-, warzone2100- and drascula-music are refused: reserved)")
    r.add_argument("--seconds", type=float, default=10.0, help="clip length")
    r.add_argument("--every-s", type=float, default=20.0, help="a clip every this many seconds of a track")
    r.add_argument("--max-per-track", type=int, default=None)
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--retag", action="store_true",
                   help="re-read the keys of the clips already in --out with today's key reader (clips kept)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_recordings)
