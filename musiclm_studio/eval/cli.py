"""``musiclm-studio eval`` (how good a pipeline is) and ``musiclm-studio bench`` (how fast, next to MusicGen-small).

    musiclm-studio eval --pipeline DIR --prompts corpus:DIR|musiccaps|FILE.jsonl --out DIR
                        [--seconds 10 --limit N --data CORPUS --write-summary]
                        [--fad-embedding mulan vggish ...] [--kl critic passt] [--clap-score mulan laion-clap-music]
    musiclm-studio bench [--seconds 10 30] [--pipeline DIR] [--no-musicgen] [--out bench.json]   (prints; --out also writes)
    musiclm-studio bench --jam --minutes 5 [--chunk 2] [--threads 2]   (the jam: eval/jam_bench.py)
    musiclm-studio compare EVAL_DIR EVAL_DIR [...] [--names A B ...] [--out F.md]   (eval/compare.py: prompt by prompt)
    musiclm-studio fad --reference DIR --generated DIR --fad-embedding mulan vggish ... [--pipeline DIR] [--out F.json]

``--data`` names the corpus whose held-out clips are the reference audio (FAD, MCC ceiling,
real-clip attribute rates); with ``--prompts corpus:DIR`` it defaults to that corpus.
"""

from __future__ import annotations

import argparse
import os
import time

from .fadtk_bridge import EMBEDDINGS
from .field_metrics import CLAP_MODELS, KL_CLASSIFIERS


def _check_seconds(seconds: list[float]) -> None:
    if any(not 0 < s <= 60 for s in seconds):
        raise ValueError(f"--seconds must be between 0 and 60 (got {' '.join(f'{s:g}' for s in seconds)}).")


def cmd_eval(args: argparse.Namespace) -> int:
    from ..pipeline import MusicLMPipeline
    from .harness import EvalConfig, PipelineSystem, evaluate, load_prompts, load_reference
    from .report import markdown, write_report

    _check_seconds([args.seconds])
    if args.long_prompts and not args.seconds <= args.long_seconds <= 600:
        raise ValueError(f"--long-seconds must be between --seconds ({args.seconds:g}) and 600 (got {args.long_seconds:g}).")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    items = load_prompts(args.prompts, args.limit, split=args.prompt_split)
    data = args.data or (args.prompts[len("corpus:"):] if args.prompts.startswith("corpus:") else None)
    start = time.perf_counter()
    pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device, int8=False if args.no_int8 else None)
    pipe.show_progress = False
    reference = None
    if data:
        reference = load_reference(data, pipe.sample_rate, args.seconds, limit=args.reference_limit, split=args.split)
    from ..sampling_args import DEFAULT_GUIDANCE, from_flag, per_stage

    guidance = per_stage("guidance_scale", from_flag(args.guidance), DEFAULT_GUIDANCE)
    config = EvalConfig(seconds=args.seconds, seed=args.seed, guidance_scale=guidance,
                        baseline_limit=args.baselines, melodies=args.melodies,
                        long_seconds=args.long_seconds, long_prompts=args.long_prompts,
                        num_candidates=pipe.config.num_candidates if args.candidates is None else args.candidates,
                        fad_embeddings=tuple(args.fad_embedding or ()), fad_dir=os.path.join(args.out, "fad"),
                        kl_classifiers=tuple(args.kl or ()), clap_models=tuple(args.clap_score or ()))
    name = pipe.config.name if args.pipeline is None else f"{pipe.config.name} ({args.pipeline})"
    judge = None
    if args.judge:
        from ..components import load_trained

        judge = load_trained("mulan", args.judge).to(pipe.device)
        name += f", MuLan judge {args.judge}"
    print(f"evaluating {name} on {len(items)} prompts x {args.seconds:g} s "
          f"({0 if reference is None else len(reference.clips)} reference clips)")
    result = evaluate(PipelineSystem(pipe, guidance, config.num_candidates, judge), items, reference, config, name=name)
    pipeline_dir = None
    if args.write_summary:
        from .. import hub

        pipeline_dir = hub.resolve_pretrained(args.pipeline)
        if not os.path.isdir(pipeline_dir):
            raise ValueError(f"--write-summary needs a local pipeline folder; {args.pipeline!r} is not one.")
    paths = write_report(result, args.out, pipeline_dir)
    print(markdown(result))
    print(f"{time.perf_counter() - start:.0f} s in all; wrote " + ", ".join(paths.values()))
    return 0


def cmd_jam_bench(args: argparse.Namespace) -> int:
    import json

    from .jam_bench import jam_report, jam_table, run_jam_bench

    if not args.minutes > 0:
        raise ValueError("--minutes must be positive, e.g. --minutes 5.")
    row = run_jam_bench(args.minutes, chunk_s=args.chunk, change_every_s=args.change_every, pipeline=args.pipeline,
                        threads=args.threads or 2, context_s=args.context, record=args.record)
    print("\n" + jam_table(row))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(jam_report(row), f, indent=2)
        print(f"wrote {args.out}")
    return 0


def cmd_fad(args: argparse.Namespace) -> int:
    import json

    from .fadtk_bridge import fad_command, fad_table

    results = fad_command(args.reference, args.generated, args.fad_embedding, args.pipeline, args.device)
    print(fad_table(results))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump([r.to_dict() for r in results], f, indent=1)
        print(f"wrote {args.out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_cases, markdown_table, run_bench, write_bench

    if args.jam:
        return cmd_jam_bench(args)
    _check_seconds(args.seconds)
    if args.layouts:
        import torch

        from .layout_bench import layout_table, time_layouts

        for seconds in args.seconds:
            print(f"\n{seconds:g} s of audio, torch threads {torch.get_num_threads()}:\n")
            print(layout_table(time_layouts(seconds)))
        return 0
    cases = bench_cases(args.seconds, pipeline=args.pipeline, musicgen=not args.no_musicgen, devices=args.device,
                        guidance_scale=args.guidance, threads=args.threads)
    rows = run_bench(cases)
    print("\n" + markdown_table(rows))
    if args.out:  # files only when asked for
        print("wrote " + " and ".join(write_bench(rows, args.out)))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, markdown

    if args.names and len(args.names) != len(args.runs):
        raise ValueError(f"--names gives {len(args.names)} names for {len(args.runs)} evaluations: one each, or none.")
    table = markdown(compare(args.runs, args.names))
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(table)
    return 0


def register(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a pipeline: MCC, FAD, attribute adherence, melody, diversity, speed")
    e.add_argument("--pipeline", default=None, help="saved pipeline folder (default: the shipped model)")
    e.add_argument("--prompts", required=True, help="corpus:DIR (its test split, or a held-out set's heldout split), musiccaps, a .csv, .jsonl or .txt file")
    e.add_argument("--out", required=True, help="folder for eval.json, eval.md and spectrogram PNGs")
    e.add_argument("--seconds", type=float, default=10.0, help="seconds of audio per prompt (default 10)")
    e.add_argument("--limit", type=int, default=None, help="evaluate only the first N prompts")
    e.add_argument("--prompt-split", default=None,
                   help="with corpus:DIR, the split whose captions are the prompts (default test, or heldout for a "
                        "held-out set; all: every clip, for a corpus never trained on)")
    e.add_argument("--data", default=None, help="corpus with held-out reference clips (default: the prompts' corpus)")
    e.add_argument("--split", default="test", help="the reference corpus split (default test)")
    e.add_argument("--reference-limit", type=int, default=200, help="at most this many reference clips")
    e.add_argument("--baselines", type=int, default=50, help="unconditional generations for the FAD baseline")
    e.add_argument("--melodies", type=int, default=3, help="hummed melodies for the chroma-cosine test")
    e.add_argument("--long-seconds", type=float, default=60.0, help="length of the long generations checked for drift")
    e.add_argument("--long-prompts", type=int, default=6,
                   help="how many long generations (0 = none; one is a noisy figure: 6 windows of one clip)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--guidance", type=float, nargs="+", default=None,
                   help="classifier-free guidance, one value or semantic coarse fine (default: the pipeline's, 3 1 1)")
    e.add_argument("--candidates", type=int, default=None,
                   help="candidates per prompt (default: the pipeline's num_candidates); the attribute critic "
                        "(else MuLan) keeps one")
    e.add_argument("--device", default=None)
    e.add_argument("--no-int8", action="store_true", help="keep the LMs in float on a CPU (default: int8 weights)")
    e.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is faster on a busy machine)")
    e.add_argument("--judge", default=None,
                   help="a pipeline (or MuLan run / component folder) whose MuLan reads MCC, FAD, lead family and "
                        "diversity (default: the evaluated pipeline's own); give runs you compare one judge")
    e.add_argument("--write-summary", action="store_true", help="also write <pipeline>/eval_summary.json for the app")
    e.add_argument("--fad-embedding", nargs="+", choices=EMBEDDINGS, default=None, metavar="NAME",
                   help=f"also FAD through Microsoft's fadtk in these embeddings ({', '.join(EMBEDDINGS)}); needs the "
                        "[eval] extra, and the weights of all but mulan")
    e.add_argument("--kl", nargs="+", choices=KL_CLASSIFIERS, default=None, metavar="CLASSIFIER",
                   help=f"also KL of each clip's label probabilities against its prompt's real clip, by these "
                        f"classifiers ({', '.join(KL_CLASSIFIERS)}; passt needs hear21passt, timm and a matching "
                        "torchaudio)")
    e.add_argument("--clap-score", nargs="+", choices=CLAP_MODELS, default=None, metavar="MODEL",
                   help=f"also the CLAP score (prompt-clip cosine) in these spaces ({', '.join(CLAP_MODELS)}; "
                        "laion-clap-* need laion_clap and its checkpoint)")
    e.set_defaults(func=cmd_eval)

    c = sub.add_parser("compare", help="evaluations side by side, prompt by prompt: rates with standard errors, "
                                      "and each run's better / worse prompts against the first (sign test)")
    c.add_argument("runs", nargs="+", help="folders `musiclm-studio eval --out` wrote (or their eval.json); the "
                                           "first is the one the others are set against")
    c.add_argument("--names", nargs="+", default=None, help="a name per evaluation (default: the folder names)")
    c.add_argument("--out", default=None, help="also write the table to this markdown file")
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("fad", help="FAD of a folder of generated clips against reference clips, through fadtk")
    d.add_argument("--reference", required=True, help="folder of reference clips (e.g. MusicCaps audio you downloaded)")
    d.add_argument("--generated", required=True, help="folder of generated clips")
    d.add_argument("--fad-embedding", nargs="+", choices=EMBEDDINGS, default=["mulan"], metavar="NAME",
                   help=f"embedding spaces: {', '.join(EMBEDDINGS)} (mulan: the pipeline's own, offline)")
    d.add_argument("--pipeline", default=None, help="whose MuLan for the mulan embedding (default: the shipped model)")
    d.add_argument("--device", default=None)
    d.add_argument("--out", default=None, help="also write the results as JSON here")
    d.set_defaults(func=cmd_fad)

    b = sub.add_parser("bench", help="real-time factor, first audio and peak memory next to MusicGen-small")
    b.add_argument("--seconds", type=float, nargs="+", default=[10.0], help="audio durations (e.g. 10 30)")
    b.add_argument("--pipeline", default=None, help="saved pipeline folder (default: the shipped model)")
    b.add_argument("--no-musicgen", action="store_true", help="only our pipeline")
    b.add_argument("--device", nargs="+", default=None, help="devices (default: cpu, and cuda when present)")
    b.add_argument("--guidance", type=float, default=3.0, help="the CFG scale of the 'with CFG' rows")
    b.add_argument("--threads", type=int, default=None, help="CPU threads for torch in every case (default: torch's)")
    b.add_argument("--layouts", action="store_true",
                   help="instead: time the coarse / fine LMs with the delay pattern against MusicLM's flattened layout")
    b.add_argument("--out", default=None, help="also write this JSON file and a .md table beside it (default: print only)")
    b.add_argument("--jam", action="store_true",
                   help="instead: a scripted jam (eval/jam_bench.py): generation time per chunk, underruns, memory")
    b.add_argument("--minutes", type=float, default=5.0, help="--jam: minutes of audio (default 5)")
    b.add_argument("--chunk", type=float, default=2.0, help="--jam: seconds per chunk (default 2)")
    b.add_argument("--change-every", type=float, default=20.0, help="--jam: seconds between prompt changes (default 20)")
    b.add_argument("--context", type=float, default=None, help="--jam: seconds of context (default: the pipeline's)")
    b.add_argument("--record", default=None, help="--jam: also write the jam to this WAV (+ a spectrogram PNG)")
    b.set_defaults(func=cmd_bench)
