"""Put trained components into a pipeline folder: ``musiclm-studio assemble``.

    musiclm-studio assemble --base assets/musiclm-small --out assets/musiclm-small \\
        --component codec=runs/codec --component mulan=runs/mulan --dtype float16

Each ``NAME=FOLDER`` takes a run folder (its ``last/``), its ``best/`` or a component folder.
The component is rebuilt from its own config.json (which may differ from the base's, e.g. an
LM retrained with another conditioning or dropout) and the assembled pipeline must pass the
contract checks between stages (rates, vocabularies, levels, MuLan code vectors). Components
not given keep their state (trained, or a seeded placeholder saved as config only). Weights
can be stored in float16 to halve the size.
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from .. import hub
from ..components import COMPONENT_TYPES, check_contracts, component_config, load_weights, trained_folder


def assemble(base: str | None, out: str, components: dict[str, str], dtype: str = "float16",
             name: str | None = None, num_candidates: int | None = None):
    from ..pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained(base, int8=False)
    if name:
        pipe.config.name = name
    if num_candidates is not None:
        pipe.config = replace(pipe.config, num_candidates=num_candidates)  # checked by the config
    seed = hub.read_json(os.path.join(hub.resolve_pretrained(base), "pipeline.json")).get("placeholder_seed", 0)
    for name, path in components.items():
        if name not in COMPONENT_TYPES:
            raise ValueError(f"Unknown component {name!r}; choose from {sorted(COMPONENT_TYPES)}.")
        folder = trained_folder(path, name)
        config = component_config(folder, name)
        module = COMPONENT_TYPES[name][1](config).to(pipe.device)
        load_weights(folder, name, module)
        setattr(pipe.config, name, config)
        pipe.components.mark_trained(name, module.eval())
    try:
        check_contracts(pipe.config, pipe.components)
    except ValueError as error:
        raise ValueError(f"{error}\nTrain the components with the same --preset and token caches made by "
                         "this pipeline's tokenizers.") from error
    types = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": None}
    if dtype not in types:
        raise ValueError(f"--dtype must be one of {sorted(types)}.")
    pipe.save_pretrained(out, dtype=types[dtype], placeholder_seed=seed if pipe.untrained_components else None)
    return pipe


def register(sub) -> None:
    a = sub.add_parser("assemble", help="put trained components into a pipeline folder")
    a.add_argument("--base", default=None, help="pipeline to start from (default: the shipped one)")
    a.add_argument("--out", required=True)
    a.add_argument("--component", action="append", default=[], metavar="NAME=FOLDER",
                   help=f"one of {', '.join(COMPONENT_TYPES)} = a run or component folder (repeatable)")
    a.add_argument("--dtype", default="float16")
    a.add_argument("--name", default=None, help="the pipeline's display name")
    a.add_argument("--candidates", type=int, default=None,
                   help="candidates a generation samples by default (the critic, else MuLan, keeps one)")

    def run(args) -> int:
        pairs = dict(item.split("=", 1) for item in args.component if "=" in item)
        if len(pairs) != len(args.component):
            raise ValueError("Each --component must look like NAME=FOLDER, e.g. codec=runs/codec.")
        pipe = assemble(args.base, args.out, pairs, args.dtype, args.name, args.candidates)
        print(f"wrote {args.out}: trained {sorted(set(COMPONENT_TYPES) - set(pipe.untrained_components) - {'melody'})}, "
              f"untrained {pipe.untrained_components}")
        return 0

    a.set_defaults(func=run)
