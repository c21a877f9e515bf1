"""``musiclm-studio midi`` and ``musiclm-studio loop``: what was made, in the forms producers take away.

    musiclm-studio midi song.wav --out song.mid [--png roll.png]
    musiclm-studio loop "a funky drum groove with bass" --bars 4 --bpm 120 --out loops/
    musiclm-studio loop --from song.wav --bars 4 --out loops/          (any clip: on the beats librosa finds)

Each calls the public API (``midi.transcribe``, ``pipe.loop``, ``loops.loop_from``); user errors
raise ``ValueError`` for ``cli.main`` to print.
"""

from __future__ import annotations

import argparse
import os
import time

from .loops import DEFAULT_CROSSFADE_BEATS


def cmd_midi(args: argparse.Namespace) -> int:
    from . import midi

    clock = time.perf_counter()
    try:
        notes = midi.transcribe(args.audio, onset_threshold=args.onset_threshold,
                                frame_threshold=args.frame_threshold, minimum_note_length_ms=args.min_note_ms)
    except midi.MidiUnavailable as error:
        raise ValueError(str(error)) from error
    out = args.out or os.path.splitext(args.audio)[0] + ".mid"
    midi.save_midi(notes, out)
    count = len(midi.notes_of(notes))
    print(f"wrote {out} ({count} notes, {time.perf_counter() - clock:.1f} s)")
    if args.png:
        import matplotlib.pyplot as plt

        from .viz import piano_roll

        plt.imsave(args.png, piano_roll(notes))
        print(f"wrote {args.png} (piano roll)")
    return 0


def cmd_loop(args: argparse.Namespace) -> int:
    from . import loops

    if bool(args.prompt) == bool(args.source):
        raise ValueError("Give either a prompt or --from AUDIO (not both, not neither).")
    if args.source:
        loop = loops.loop_from(args.source, args.bars, sample_rate=None, bpm=args.bpm,
                               beats_per_bar=args.beats_per_bar, start_bar=args.start_bar,
                               crossfade_beats=args.crossfade_beats)
        stem = os.path.splitext(os.path.basename(args.source))[0] + "_loop"
    else:
        from .pipeline import MusicLMPipeline

        start = {} if args.start_bar is None else {"start_bar": args.start_bar}  # else generate_loop's default
        loops.check_loop(args.bars, args.beats_per_bar, args.crossfade_beats, **start)
        pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device,
                                               int8=False if args.no_int8 else None)
        pipe.show_progress = not args.quiet
        loop = pipe.loop(args.prompt, bars=args.bars, bpm=args.bpm, seed=args.seed,
                         beats_per_bar=args.beats_per_bar, crossfade_beats=args.crossfade_beats,
                         num_candidates=args.candidates, **start)
        stem = "loop"
    path = loop.save(args.out, stem=stem)
    seam = loop.seam()
    print(f"wrote {path} ({loop.bars} bars of {loop.beats_per_bar} at {loop.bpm:g} bpm from the {loop.tempo_from}, "
          f"{loop.duration_s:.2f} s{'' if loop.seed is None else f', seed {loop.seed}'})")
    print(f"seam: level jump {seam.level_jump_db:.2f} dB (beat lines inside: median "
          f"{seam.level_jump_db_inside[0]:.2f}, max {seam.level_jump_db_inside[1]:.2f}); librosa tempo "
          f"{seam.tempo_bpm:.1f} bpm")
    return 0


def register(sub) -> None:
    m = sub.add_parser("midi", help="transcribe audio to MIDI (Spotify's Basic Pitch, ONNX)")
    m.add_argument("audio", help="audio file (wav, flac, mp3, ...), at most 10 minutes")
    m.add_argument("--out", default=None, help="MIDI file to write (default: the audio's name with .mid)")
    m.add_argument("--png", default=None, help="also write a piano-roll image here")
    m.add_argument("--onset-threshold", type=float, default=0.5, help="note onset confidence, 0-1 (default 0.5)")
    m.add_argument("--frame-threshold", type=float, default=0.3, help="note frame confidence, 0-1 (default 0.3)")
    m.add_argument("--min-note-ms", type=float, default=127.7, help="shortest note kept (default 127.7 ms)")
    m.set_defaults(func=cmd_midi)

    lp = sub.add_parser("loop", help="a seamless, bar-aligned loop (WAV with its tempo in the name and metadata)")
    lp.add_argument("prompt", nargs="?", help="what the loop should sound like")
    lp.add_argument("--from", dest="source", default=None, help="cut the loop from this audio file instead")
    lp.add_argument("--bars", type=int, default=4, help="bars in the loop (default 4)")
    lp.add_argument("--bpm", type=float, default=None,
                    help="tempo (default: the prompt's, as the pipeline reads it; with --from: librosa's)")
    lp.add_argument("--beats-per-bar", type=int, default=4, help="beats per bar (default 4)")
    lp.add_argument("--start-bar", type=int, default=None,
                    help="bars skipped before the loop (default: 0 for a prompt; with --from, 1 where the audio "
                         "holds it: a clip's opening is its least settled)")
    lp.add_argument("--crossfade-beats", type=float, default=DEFAULT_CROSSFADE_BEATS,
                    help=f"crossfade at the join, in beats (default {DEFAULT_CROSSFADE_BEATS})")
    lp.add_argument("--out", default=".", help="folder (or .wav file) to write (default: here)")
    lp.add_argument("--seed", type=int, default=None)
    lp.add_argument("--candidates", type=int, default=None, help="candidates to pick from (default: the pipeline's)")
    lp.add_argument("--pipeline", default=None, help="saved pipeline folder or Hub id (default: the shipped model)")
    lp.add_argument("--device", default=None)
    lp.add_argument("--no-int8", action="store_true", help="keep the LMs in float on a CPU (default: int8 weights)")
    lp.add_argument("--quiet", action="store_true", help="no progress bars")
    lp.set_defaults(func=cmd_loop)
