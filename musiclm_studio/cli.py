"""The ``musiclm-studio`` command line: generate, serve, init, corpus, train, codec.

    musiclm-studio generate "a calm piano piece, slow" --duration 10 --seed 0 --out song.wav
    musiclm-studio generate --story "5:calm piano intro" "5:drums come in" --out story.wav
    musiclm-studio generate "jazz trio:0.7 | techno:0.3" --negative-prompt drums --out mix.wav
    musiclm-studio vary | repaint | extend song.wav ...       (edit a saved output; see edit_cli.py)
    musiclm-studio serve [--pipeline DIR] [--host 127.0.0.1] [--port 7860]
    musiclm-studio corpus build --out DIR --clips N ...      (see musiclm_studio/data/cli.py)
    musiclm-studio init --preset small --out DIR            (a fresh, untrained pipeline)
    musiclm-studio hub push-space --repo USER/NAME --dry-run (see musiclm_studio/publish.py)
    musiclm-studio jam "a funk groove" --minutes 5 --out jam.wav [--script changes.json]   (see jam_script.py)
    musiclm-studio midi song.wav --out song.mid             (see musiclm_studio/export_cli.py)
    musiclm-studio loop "funky drums and bass" --bars 4 --bpm 120 --out loops/

Every sub-command is a small function that calls the pipeline's public API; user errors
print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys


def cmd_generate(args: argparse.Namespace) -> int:
    from .output_io import save_output
    from .pipeline import MusicLMPipeline

    if bool(args.prompt) == bool(args.story):
        raise ValueError("Give either a prompt or --story segments (not both, not neither).")
    pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device, int8=False if args.no_int8 else None)
    pipe.show_progress = not args.quiet
    from .windowing import parse_story

    prompt = args.prompt if args.prompt else parse_story(args.story)
    from .sampling_args import DEFAULTS, from_flag

    temperature, guidance = from_flag(args.temperature), from_flag(args.guidance)
    top_k = DEFAULTS["top_k"] if args.top_k is None else args.top_k
    out = pipe(prompt, melody=args.melody, duration_s=args.duration, temperature=temperature, top_k=top_k,
               top_p=args.top_p, guidance_scale=guidance, seed=args.seed, num_candidates=args.candidates,
               continuation=args.continuation, bpm=args.bpm, key=args.key, negative_prompt=args.negative_prompt,
               key_lock=not args.no_key_lock)
    for notice in out.notices:
        print(f"note: {notice}", file=sys.stderr)
    path, _ = save_output(args.out, out)  # the WAV, and its tokens beside it for vary / repaint / extend
    print(f"wrote {path} ({out.duration_s:.1f} s at {out.sample_rate} Hz, seed {out.seed}, "
          f"MuLan score {out.mulan_score:.3f}, {out.timings['total']:.1f} s: RTF {out.real_time_factor:.2f})")
    if not args.no_png:
        from .viz import save_overview_png

        png = os.path.splitext(args.out)[0] + ".png"
        save_overview_png(png, out.audio, out.sample_rate, out.tokens, pipe=pipe)
        print(f"wrote {png} (spectrogram and token streams)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .pipeline import MusicLMPipeline
    from .ui.gradio_app import launch

    pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device, int8=False if args.no_int8 else None)
    launch(pipe, host=args.host, port=args.port, share=False)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .pipeline import MusicLMPipeline

    if os.path.exists(os.path.join(args.out, "pipeline.json")) and not args.force:
        raise ValueError(f"{args.out} already holds a pipeline; pass --force to replace it.")
    pipe = MusicLMPipeline.from_config(args.preset, seed=args.seed)
    pipe.save_pretrained(args.out, placeholder_seed=args.seed if args.placeholder else None)
    print(f"wrote an untrained {args.preset} pipeline to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .edit_cli import add_sampling_flags

    parser = argparse.ArgumentParser(prog="musiclm-studio", description="MusicLM Studio: text to music, offline.")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="generate music from a prompt (or a story) and write a WAV + PNG")
    g.add_argument("prompt", nargs="?", help="what the music should sound like; 'jazz trio:0.7 | techno:0.3' mixes prompts")
    g.add_argument("--story", nargs="+", metavar="SECONDS:PROMPT", help="story mode: segments with their own prompts")
    g.add_argument("--duration", type=float, default=10.0, help="seconds of audio (default 10)")
    g.add_argument("--out", default="song.wav", help="the WAV; its tokens go beside it as .tokens.safetensors")
    g.add_argument("--melody", default=None, help="audio file of a hummed / played melody to follow")
    g.add_argument("--continuation", default=None, help="audio file to continue")
    g.add_argument("--bpm", type=float, default=None,
                   help="the tempo of the beat grid that LMs trained with --beat play on (default: what the prompt asks)")
    g.add_argument("--key", default=None,
                   help="the key that LMs trained with --key play in: 'A minor', 'F# major', or 'minor' / 'major' on "
                        "a tonic drawn from the seed (default: the key, else the mode, the prompt asks for)")
    g.add_argument("--no-key-lock", action="store_true",
                   help="keep the music in the key it came out in when a key is named (default: transposed onto it "
                        "where it plays in the asked mode)")
    add_sampling_flags(g)
    g.set_defaults(func=cmd_generate)

    s = sub.add_parser("serve", help="launch the Gradio studio")
    s.add_argument("--pipeline", default=None)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--device", default=None)
    s.add_argument("--no-int8", action="store_true", help="keep the LMs in float on a CPU (default: int8 weights)")
    s.set_defaults(func=cmd_serve)

    i = sub.add_parser("init", help="write a freshly initialised (untrained) pipeline of a preset")
    i.add_argument("--preset", default="small", choices=("tiny", "small", "paper"))
    i.add_argument("--out", required=True)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--placeholder", action="store_true", help="save configs only; weights rebuilt from the seed")
    i.add_argument("--force", action="store_true")
    i.set_defaults(func=cmd_init)

    for register in _optional_commands():
        register(sub)
    return parser


def _optional_commands():
    """Command groups that live beside their code (corpus, train, eval)."""
    from .data.cli import register as corpus
    from .edit_cli import register as edit
    from .eval.cli import register as evaluation
    from .eval.codec_cli import register as codec
    from .eval.melody_eval import register as melody
    from .eval.mulan_cli import register as mulan
    from .eval.semantic_probe import register as semantic
    from .eval.stages import register as stages
    from .jam_script import register as jam
    from .export_cli import register as exports
    from .publish import register as publish
    from .train.assemble import register as assemble
    from .train.cli import register as train

    return [edit, corpus, train, codec, mulan, semantic, melody, assemble, evaluation, stages, publish, exports, jam]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
