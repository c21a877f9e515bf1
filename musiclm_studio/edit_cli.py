"""``musiclm-studio vary | repaint | extend``: edit a saved output (a WAV with its ``.tokens.safetensors``).

    musiclm-studio generate "a rock song" --duration 8 --seed 0 --out song.wav   (writes song.tokens.safetensors)
    musiclm-studio vary song.wav --keep semantic --prompt "a string quartet" --seed 1 --out quartet.wav
    musiclm-studio repaint song.wav --start 2 --end 4 --prompt "a drum break" --out repainted.wav
    musiclm-studio extend song.wav --seconds 5 --out longer.wav

Each writes its result the same way (WAV + tokens file + overview PNG), so edits chain.
"""

from __future__ import annotations

import argparse
import os
import sys


def _pipe_and_source(args: argparse.Namespace):
    from .output_io import load_output
    from .pipeline import MusicLMPipeline

    source = load_output(args.source)  # before the pipeline loads: a missing tokens file fails fast
    pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device, int8=False if args.no_int8 else None)
    pipe.show_progress = not args.quiet
    return pipe, source


def _sampling(args: argparse.Namespace) -> dict:
    from .sampling_args import DEFAULTS, from_flag

    return dict(temperature=from_flag(args.temperature), top_k=DEFAULTS["top_k"] if args.top_k is None else args.top_k,
                top_p=args.top_p, guidance_scale=from_flag(args.guidance), seed=args.seed,
                num_candidates=args.candidates, negative_prompt=args.negative_prompt)


def _write(args: argparse.Namespace, pipe, out) -> int:
    from .output_io import save_output

    for notice in out.notices:
        print(f"note: {notice}", file=sys.stderr)
    wav, tokens = save_output(args.out, out)
    print(f"wrote {wav} and {os.path.basename(tokens)} ({out.duration_s:.1f} s, seed {out.seed}, MuLan score "
          f"{out.mulan_score:.3f}, {out.timings['total']:.1f} s)")
    if not args.no_png:
        from .viz import save_overview_png

        png = os.path.splitext(wav)[0] + ".png"
        save_overview_png(png, out.audio, out.sample_rate, out.tokens, pipe=pipe)
        print(f"wrote {png} (spectrogram and token streams)")
    return 0


def cmd_vary(args: argparse.Namespace) -> int:
    pipe, source = _pipe_and_source(args)
    return _write(args, pipe, pipe.vary(source, keep=args.keep, prompt=args.prompt, **_sampling(args)))


def cmd_repaint(args: argparse.Namespace) -> int:
    pipe, source = _pipe_and_source(args)
    return _write(args, pipe, pipe.repaint(source, args.start, args.end, prompt=args.prompt, **_sampling(args)))


def cmd_extend(args: argparse.Namespace) -> int:
    pipe, source = _pipe_and_source(args)
    return _write(args, pipe, pipe.extend(source, args.seconds, prompt=args.prompt, **_sampling(args)))


def add_sampling_flags(p: argparse.ArgumentParser) -> None:
    """The sampling and pipeline flags ``generate`` and the edit commands share."""
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--pipeline", default=None, help="saved pipeline folder or Hub id (default: the shipped model)")
    p.add_argument("--temperature", type=float, nargs="+", default=None, help="one value or semantic coarse fine")
    p.add_argument("--top-k", type=int, default=None,
                   help="sample from the k likeliest tokens (0: off; default: sampling_args.DEFAULTS)")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--guidance", type=float, nargs="+", default=None,
                   help="classifier-free guidance, one value or semantic coarse fine (1 = off; default 3 1 1)")
    p.add_argument("--candidates", type=int, default=None,
                   help="sample N and keep the one that best shows the prompt (the attribute critic, else MuLan); "
                        "default: the pipeline's (4 for the shipped model; vary under a new prompt: 8)")
    p.add_argument("--negative-prompt", default=None,
                   help="what to steer away from ('drums'): it replaces the null conditioning of guidance "
                        "(vary under a new prompt: the clip's own prompt by default; '' for none)")
    p.add_argument("--device", default=None)
    p.add_argument("--no-int8", action="store_true", help="keep the LMs in float on a CPU (default: int8 weights)")
    p.add_argument("--no-png", action="store_true", help="skip the spectrogram / token PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _edit_parser(sub, name: str, help: str, prompt_help: str, func) -> argparse.ArgumentParser:
    """One edit command: the source, its own arguments (added by the caller), --prompt, --out and the shared flags."""
    p = sub.add_parser(name, help=help)
    p.add_argument("source", help="a WAV written by generate or an edit (its .tokens.safetensors beside it), "
                                  "or that tokens file")
    p.add_argument("--prompt", default=None, help=prompt_help)
    p.add_argument("--out", default=f"{name}.wav")
    add_sampling_flags(p)
    p.set_defaults(func=func)
    return p


def register(sub) -> None:
    v = _edit_parser(sub, "vary", "a variation of a saved output: keep its semantic (or coarse) tokens, re-sample the rest",
                     "another prompt for the re-sampled stages (default: the clip's own)", cmd_vary)
    v.add_argument("--keep", default="semantic", choices=("semantic", "coarse"),
                   help="semantic: keep the composition, re-sample the sound; coarse: re-sample only the fine detail")
    r = _edit_parser(sub, "repaint", "re-sample a region of a saved output; the rest of its audio is kept",
                     "a prompt for the region (default: the clip's own)", cmd_repaint)
    r.add_argument("--start", type=float, required=True, help="region start (seconds)")
    r.add_argument("--end", type=float, required=True, help="region end (seconds); the seam moves to the next beat")
    e = _edit_parser(sub, "extend", "continue a saved output from its tokens; its audio is kept as the start",
                     "a prompt for the new part (default: the clip's own)", cmd_extend)
    e.add_argument("--seconds", type=float, required=True, help="how many seconds to add")
