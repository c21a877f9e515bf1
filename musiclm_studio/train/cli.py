"""``musiclm-studio train ...``: one sub-command per trainable component.

    musiclm-studio train codec --data corpus/v1 --out runs/codec --steps 20000 --max-minutes 60

Every trainer resumes from ``--out``/last by default, can start from committed weights with
``--init-from DIR``, runs bf16 autocast on CPU or CUDA, and runs DDP unchanged under
``torchrun --nproc_per_node N -m musiclm_studio.cli train ...``. Flags mirror the fields of
each trainer's run config (``--help`` lists them with defaults).
"""

from __future__ import annotations

import argparse
from dataclasses import fields


def _codec(args: argparse.Namespace) -> int:
    from .codec import CodecRunConfig, train_codec

    train_codec(_run_config(CodecRunConfig, args))
    return 0


def _mulan(args: argparse.Namespace) -> int:
    from .mulan import MuLanRunConfig, train_mulan

    train_mulan(_run_config(MuLanRunConfig, args))
    return 0


def _semantic(args: argparse.Namespace) -> int:
    from .semantic import SemanticFitConfig, fit_semantic

    fit_semantic(_run_config(SemanticFitConfig, args))
    return 0


def _tokens(args: argparse.Namespace) -> int:
    from .tokens import TokenCacheConfig, build_token_cache

    build_token_cache(_run_config(TokenCacheConfig, args))
    return 0


def _lm(stage: str):
    def run(args: argparse.Namespace) -> int:
        from .lm import LMRunConfig, train_lm

        config = _run_config(LMRunConfig, args)
        config.stage = stage
        train_lm(config)
        return 0

    return run


TRAINERS = {
    "codec": ("the SoundStream-style acoustic codec", "codec", "CodecRunConfig", _codec),
    "semantic": ("the semantic tokenizer (k-means on chroma + MFCC + onset features)", "semantic",
                 "SemanticFitConfig", _semantic),
    "mulan": ("MuLan (audio tower + text projection, then its RVQ)", "mulan", "MuLanRunConfig", _mulan),
    "tokens": ("(not a model) the token caches the three LMs train on", "tokens", "TokenCacheConfig", _tokens),
    "semantic-lm": ("the semantic LM (MuLan + melody -> semantic tokens)", "lm", "LMRunConfig", _lm("semantic")),
    "coarse-lm": ("the coarse LM (MuLan + semantic -> codec levels 1-4)", "lm", "LMRunConfig", _lm("coarse")),
    "fine-lm": ("the fine LM (coarse -> codec levels 5-12)", "lm", "LMRunConfig", _lm("fine")),
}


def _run_config(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def register(sub) -> None:
    from .common import add_arguments

    train = sub.add_parser("train", help="train a component (codec, ...) on a corpus")
    kinds = train.add_subparsers(dest="component", required=True)
    for name, (description, module, config_name, func) in TRAINERS.items():
        import importlib

        config_cls = getattr(importlib.import_module(f"{__package__}.{module}"), config_name)
        parser = kinds.add_parser(name, help=f"train {description}",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_arguments(parser, config_cls(out=""))
        parser.set_defaults(func=func)
