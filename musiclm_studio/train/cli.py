"""``musiclm-studio train ...``: one sub-command per trainable component.

    musiclm-studio train codec --data corpus/v1 --out runs/codec --steps 20000 --max-minutes 60

``musiclm-studio train estimate --preset paper`` prints what a preset costs (``train.estimate``).
Every trainer resumes from ``--out``/last by default, can start from committed weights with
``--init-from DIR``, runs bf16 autocast on CPU or CUDA, and runs DDP unchanged under
``torchrun --nproc_per_node N -m musiclm_studio.cli train ...``. Flags mirror the fields of
each trainer's run config (``--help`` lists them with defaults).
"""

from __future__ import annotations

import argparse
from dataclasses import fields


# sub-command: (what it trains, module, run-config class, entry function, fixed config fields)
TRAINERS = {
    "codec": ("the SoundStream-style acoustic codec", "codec", "CodecRunConfig", "train_codec", {}),
    "semantic": ("the semantic tokenizer (k-means on chroma + MFCC + onset features)", "semantic",
                 "SemanticFitConfig", "fit_semantic", {}),
    "mulan": ("MuLan (audio tower + text projection, then its RVQ)", "mulan", "MuLanRunConfig", "train_mulan", {}),
    "tokens": ("(not a model) the token caches the three LMs train on", "tokens", "TokenCacheConfig",
               "build_token_cache", {}),
    "semantic-lm": ("the semantic LM (MuLan + melody -> semantic tokens)", "lm", "LMRunConfig", "train_lm",
                    {"stage": "semantic"}),
    "coarse-lm": ("the coarse LM (MuLan + semantic -> codec levels 1-4)", "lm", "LMRunConfig", "train_lm",
                  {"stage": "coarse"}),
    "fine-lm": ("the fine LM (coarse -> codec levels 5-12)", "lm", "LMRunConfig", "train_lm", {"stage": "fine"}),
    "critic": ("the attribute critic that ranks candidates and the reader of what a prompt asks (coarse tokens / MuLan text -> tempo, mode, drums, "
               "lead family)", "critic", "CriticRunConfig", "train_critic", {}),
}


def _runner(module, config_cls, entry: str, fixed: dict):
    """The sub-command's function: flags -> run config (plus the fixed fields) -> the trainer."""
    def run(args: argparse.Namespace) -> int:
        from .common import end_torchrun_rank, teardown_distributed

        values = {f.name: getattr(args, f.name) for f in fields(config_cls) if f.name not in fixed}
        try:
            getattr(module, entry)(config_cls(**values, **fixed))
        finally:
            teardown_distributed()
        end_torchrun_rank()  # a finished rank under torchrun exits here; otherwise returns
        return 0

    return run


def register(sub) -> None:
    import importlib

    from .common import add_arguments

    train = sub.add_parser("train", help="train a component (codec, ...) on a corpus")
    kinds = train.add_subparsers(dest="component", required=True)
    for name, (description, module_name, config_name, entry, fixed) in TRAINERS.items():
        module = importlib.import_module(f"{__package__}.{module_name}")
        config_cls = getattr(module, config_name)
        parser = kinds.add_parser(name, help=f"train {description}",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_arguments(parser, config_cls(out=""), skip=set(fixed))
        parser.set_defaults(func=_runner(module, config_cls, entry, fixed))
    e = kinds.add_parser("estimate", help="parameters, memory and measured step times of a preset's components, "
                         "with GPU step-time estimates", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--preset", default="paper")
    e.add_argument("--components", nargs="+", default=None, help="default: codec mulan semantic_lm coarse_lm fine_lm")
    e.add_argument("--batch", type=int, default=1, help="clips in the measured (reduced) batch")
    e.add_argument("--seconds", type=float, default=1.0, help="seconds of audio per clip in the measured batch")
    e.add_argument("--steps", type=int, default=3, help="optimizer steps measured (the first is a warm-up)")
    e.add_argument("--out", default=None, help="also write the rows as JSON here")
    e.set_defaults(func=_estimate)


def _estimate(args: argparse.Namespace) -> int:
    import json

    from .estimate import COMPONENTS, estimate_table, measure

    unknown = set(args.components or ()) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"Unknown components {sorted(unknown)}; choose from {', '.join(COMPONENTS)}.")
    rows = []
    for component in args.components or COMPONENTS:
        rows.append(measure(component, args.preset, args.batch, args.seconds, args.steps))
        print(f"{component}: {rows[-1].parameters / 1e6:.1f} M parameters, {rows[-1].measured_step_s:.2f} s a step",
              flush=True)
    print(estimate_table(rows))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump([r.to_dict() for r in rows], f, indent=1)
    return 0
