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


@torch.no_grad()
def fit_mulan_map(old, new, corpora: list[str], clips: int = 300, ridge: float = 1e-3, text_weight: float = 1.0,
                  texts: list[str] = (), texts_weight: float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """A linear map [E new, E old] from ``new`` MuLan's joint space onto ``old``'s: ridge regression on both models'
    unit embeddings of the same clips and of their captions (the first ``clips`` of each corpus's train
    split). The LMs are trained on audio embeddings and prompted with text ones, so both are fitted; a
    caption pair weighs ``text_weight`` times an audio pair. ``texts`` (prompts with no clip, e.g. the
    MusicCaps captions: how users write) add text pairs, each weighing ``texts_weight`` times an audio
    pair; by default all of them together weigh what the captions weigh, so however many there are they
    widen the wording the map carries without outweighing the clips (weighed 1 each, thousands pull the
    fit off the clips: docs/experiments/wider_world.md, session 45).
    Also returns the map's mean cosine to the old embeddings on the pairs left out of the fit (every
    tenth, when there are ten), audio, captions and ``texts`` apart: how much of the old space the new
    one carries."""
    from ..eval.mulan import embed_clips, embed_texts
    from .data import load_split

    pairs = {"audio": ([], []), "text": ([], [])}
    for corpus in corpora:
        rows, audio = load_split(corpus, "train", new.config.sample_rate, limit=clips)
        if not rows:
            raise ValueError(f"{corpus} has no train split to fit the MuLan map on: name a corpus folder "
                             "(musiclm-studio corpus build).")
        if old.config.sample_rate != new.config.sample_rate:
            _, old_audio = load_split(corpus, "train", old.config.sample_rate, limit=clips)
        else:
            old_audio = audio
        captions = [r["caption"] for r in rows]
        pairs["audio"][0].append(embed_clips(new, audio)), pairs["audio"][1].append(embed_clips(old, old_audio))
        pairs["text"][0].append(embed_texts(new, captions)), pairs["text"][1].append(embed_texts(old, captions))
    if texts:
        pairs["prompts"] = ([embed_texts(new, list(texts))], [embed_texts(old, list(texts))])
    x = {kind: torch.cat(a).float() for kind, (a, _) in pairs.items()}
    y = {kind: torch.cat(b).float() for kind, (_, b) in pairs.items()}
    held = {kind: torch.arange(len(v)) % 10 == 9 for kind, v in x.items()}
    weight = {"audio": 1.0, "text": text_weight ** 0.5}  # on the rows: squared in the loss
    if texts:
        share = text_weight * len(x["text"]) / len(x["prompts"]) if texts_weight is None else texts_weight
        weight["prompts"] = share ** 0.5
    fit_x = torch.cat([x[k][~held[k]] * weight[k] for k in x])
    fit_y = torch.cat([y[k][~held[k]] * weight[k] for k in y])
    gram = fit_x.T @ fit_x
    gram = gram + ridge * gram.diagonal().mean() * torch.eye(len(gram))
    mapping = torch.linalg.solve(gram, fit_x.T @ fit_y)
    report = {f"{kind}_cosine": float(torch.nn.functional.cosine_similarity(x[kind][held[kind]] @ mapping,
                                                                           y[kind][held[kind]]).mean())
              for kind in x if held[kind].any()}
    return mapping, report


def assemble(base: str | None, out: str, components: dict[str, str], dtype: str = "float16",
             name: str | None = None, num_candidates: int | None = None, map_mulan: list[str] | None = None,
             map_clips: int = 300, map_text_weight: float = 1.0, map_texts: list[str] | None = None,
             map_texts_weight: float | None = None):
    """Write the pipeline ``base`` with ``components`` swapped in to ``out``. With ``map_mulan`` (corpus
    folders) and a new MuLan, the semantic and coarse LMs keep theirs: a linear map from the new MuLan's
    space onto the old one's, fitted on those corpora (``fit_mulan_map``), is folded into the layers that
    read MuLan's code vectors, so LMs trained on the old MuLan's tokens read the new one's. ``map_texts``
    (prompt sets as ``eval --prompts`` reads them; a corpus gives its train captions) join the fit as text
    pairs, so prompts written like them reach the LMs where the old MuLan put them."""
    from ..pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained(base, int8=False)
    if name:
        pipe.config.name = name
    if num_candidates is not None:
        pipe.config = replace(pipe.config, num_candidates=num_candidates)  # checked by the config
    seed = hub.read_json(os.path.join(hub.resolve_pretrained(base), "pipeline.json")).get("placeholder_seed", 0)
    if map_mulan and "mulan" not in components:
        raise ValueError("--map-mulan maps the LMs onto a new MuLan: give one with --component mulan=RUN.")
    if map_texts and not map_mulan:
        raise ValueError("--map-texts adds prompts to the MuLan map's fit: give --map-mulan CORPUS too.")
    prompts = _map_prompts(map_texts or [])
    old_mulan = pipe.components.mulan
    for name, path in components.items():
        if name not in COMPONENT_TYPES:
            raise ValueError(f"Unknown component {name!r}; choose from {sorted(COMPONENT_TYPES)}.")
        folder = trained_folder(path, name)
        config = component_config(folder, name)
        module = COMPONENT_TYPES[name][1](config).to(pipe.device)
        load_weights(folder, name, module)
        setattr(pipe.config, name, config)
        pipe.components.mark_trained(name, module.eval())
    if map_mulan:
        mapping, report = fit_mulan_map(old_mulan, pipe.components.mulan, map_mulan, map_clips,
                                        text_weight=map_text_weight, texts=prompts, texts_weight=map_texts_weight)
        if prompts:
            print(f"MuLan map: {len(prompts)} prompt texts join its fit")
        print("MuLan map, mean cosine to the old space on held-out pairs: "
              + ", ".join(f"{k.split('_')[0]} {v:.3f}" for k, v in report.items()))
        for lm, stream in pipe.components.mulan_code_streams():
            lm.remap_condition(stream.name, pipe.components.mulan.code_vectors().to(mapping), mapping)
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


def _map_prompts(specs: list[str]) -> list[str]:
    """Every prompt of ``specs`` (``eval --prompts`` sets: musiccaps, a .csv/.jsonl/.txt file, or corpus:DIR,
    whose train captions are taken, never its test or held-out ones), each once."""
    from ..eval.harness import load_prompts

    texts = [item.text for spec in specs for item in load_prompts(spec, split="train")]  # split: corpora only
    return list(dict.fromkeys(texts))


def register(sub) -> None:
    a = sub.add_parser("assemble", help="put trained components into a pipeline folder")
    a.add_argument("--base", default=None, help="pipeline to start from (default: the shipped one)")
    a.add_argument("--out", required=True)
    a.add_argument("--component", action="append", default=[], metavar="NAME=FOLDER",
                   help=f"one of {', '.join(COMPONENT_TYPES)} = a run or component folder (repeatable)")
    a.add_argument("--dtype", default="float16")
    a.add_argument("--name", default=None, help="the pipeline's display name")
    a.add_argument("--map-mulan", default=None, metavar="CORPUS[,CORPUS]",
                   help="with a new MuLan: keep the base LMs, reading its tokens through a linear map onto the old "
                        "MuLan's space fitted on these corpora's train clips and captions")
    a.add_argument("--map-clips", type=int, default=300, help="clips per corpus the map is fitted on")
    a.add_argument("--map-texts", default=None, metavar="PROMPTS[,PROMPTS]",
                   help="prompt sets whose texts join the map's fit (musiccaps, a .csv/.jsonl/.txt file, or corpus:DIR "
                        "for its train captions): how users write, carried where the old MuLan put it")
    a.add_argument("--map-texts-weight", type=float, default=None,
                   help="weight of one --map-texts prompt against a clip pair (default: together they weigh what "
                        "the captions weigh)")
    a.add_argument("--map-text-weight", type=float, default=1.0,
                   help="weight of a caption pair against a clip pair in the map's fit (prompts are text)")
    a.add_argument("--candidates", type=int, default=None,
                   help="candidates a generation samples by default (the critic, else MuLan, keeps one)")

    def run(args) -> int:
        pairs = dict(item.split("=", 1) for item in args.component if "=" in item)
        if len(pairs) != len(args.component):
            raise ValueError("Each --component must look like NAME=FOLDER, e.g. codec=runs/codec.")
        pipe = assemble(args.base, args.out, pairs, args.dtype, args.name, args.candidates,
                        args.map_mulan.split(",") if args.map_mulan else None, args.map_clips, args.map_text_weight,
                        args.map_texts.split(",") if args.map_texts else None, args.map_texts_weight)
        print(f"wrote {args.out}: trained {sorted(set(COMPONENT_TYPES) - set(pipe.untrained_components) - {'melody'})}, "
              f"untrained {pipe.untrained_components}")
        return 0

    a.set_defaults(func=run)
