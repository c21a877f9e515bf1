"""``musiclm-studio mulan eval``: retrieval, zero-shot attributes and real-prompt neighbours.

    musiclm-studio mulan eval --mulan runs/mulan --data corpus/v1 --split test --out runs/mulan-eval

Writes ``mulan_eval.json`` and ``mulan_eval.md`` (tables ready for the model card). Retrieval
is measured with the corpus captions and with paraphrases written here from each clip's
attributes in words the caption generator never uses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import torch

from .. import hub
from ..components import load_trained
from ..models.mulan import MuLan
from ..models.descriptors import agreement, read_audio, read_texts
from .mulan import (counterfactual, embed_clips, embed_texts, named_key, nearest_captions, read_musiccaps,
                    recall_at, recall_from_scores, zero_shot)

REPO = os.path.dirname(os.path.dirname(hub.DEFAULT_PIPELINE))
MUSICCAPS = os.path.join(REPO, "..", "shared", "data", "musiccaps", "captions.csv")  # beside the clone


def load_mulan(path: str | None) -> MuLan:
    """MuLan from a pipeline folder, a component folder or a run folder (None = shipped)."""
    return load_trained("mulan", path)


def paraphrase(row: dict) -> str:
    """A plain restatement of a clip's attributes (not one of the corpus caption templates)."""
    drums = "a drummer keeps time" if row.get("drums") else "there is no drummer at all"
    lead = row.get("lead_family") or "an instrument"
    return (f"Picture a {row.get('genre', 'music')} band: the tune is carried by {lead}, {drums}, "
            f"and the piece sits in {row.get('mode', 'some')} tonality around {row.get('bpm', '?')} beats a minute.")


def cmd_eval(args: argparse.Namespace) -> int:
    from ..train.data import corpus_entries, load_split

    start = time.perf_counter()
    model = load_mulan(args.mulan)
    split = None if args.split == "all" else args.split  # "all": e.g. a corpus built with another seed
    rows, clips = load_split(args.data, split, model.config.sample_rate, limit=args.n)
    audio = embed_clips(model, clips)
    captions, paraphrases = [r["caption"] for r in rows], [paraphrase(r) for r in rows]
    caption_emb, paraphrase_emb = embed_texts(model, captions), embed_texts(model, paraphrases)
    report = {"clips": len(rows), "split": args.split,
              "retrieval": recall_at(caption_emb, audio), "retrieval_paraphrased": recall_at(paraphrase_emb, audio)}
    if not args.no_descriptors:  # the learned cosine plus the key and tempo read by rules (models/descriptors.py)
        heard = read_audio(clips, model.config.sample_rate)
        for name, texts, emb in (("retrieval_descriptors", captions, caption_emb),
                                 ("retrieval_paraphrased_descriptors", paraphrases, paraphrase_emb)):
            descriptor_score = agreement(read_texts(texts), heard, model.descriptor_weights)
            report[name] = recall_from_scores(emb @ audio.T + descriptor_score)
        report["descriptor_weights"] = dataclasses.asdict(model.descriptor_weights)
    shot = zero_shot(model, rows, audio)
    report["zero_shot"] = {"accuracy": shot.accuracy, "chance": shot.chance, "counts": shot.counts}
    report["counterfactual"] = counterfactual(model, rows, audio)
    report["named_key"] = named_key(model, rows, audio)
    musiccaps = args.musiccaps if args.musiccaps else os.path.normpath(MUSICCAPS)
    if not args.no_musiccaps and os.path.isfile(musiccaps):
        captions = read_musiccaps(musiccaps)
        embedded = embed_texts(model, captions)
        report["musiccaps"] = {"captions": len(captions), "all_finite": bool(torch.isfinite(embedded).all())}
        pool = [r["caption"] for r in corpus_entries(args.train_data or args.data, "train")]
        picks = [captions[i] for i in range(0, len(captions), max(1, len(captions) // 5))][:5]
        report["musiccaps"]["nearest_training_captions"] = [
            {"query": q, "nearest": near} for q, near in zip(picks, nearest_captions(model, picks, pool))]
    report["seconds"] = round(time.perf_counter() - start, 1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "mulan_eval.json"), "w") as f:
        json.dump(report, f, indent=2)
    markdown = render_markdown(report)
    with open(os.path.join(args.out, "mulan_eval.md"), "w") as f:
        f.write(markdown + "\n")
    print(markdown)
    return 0


def render_markdown(report: dict) -> str:
    r, p = report["retrieval"], report["retrieval_paraphrased"]
    lines = [f"Text -> audio retrieval on {report['clips']} {report['split']} clips (chance R@10 = {r['chance_R@10']:.3f}):",
             "", "| captions | R@1 | R@5 | R@10 | median rank |", "|---|---:|---:|---:|---:|",
             f"| corpus captions | {r['R@1']:.3f} | {r['R@5']:.3f} | {r['R@10']:.3f} | {r['median_rank']:.0f} |",
             f"| paraphrases (unseen wording) | {p['R@1']:.3f} | {p['R@5']:.3f} | {p['R@10']:.3f} | {p['median_rank']:.0f} |"]
    for name, label in (("retrieval_descriptors", "corpus captions, + the stated key and tempo heard (`similarity`)"),
                        ("retrieval_paraphrased_descriptors", "paraphrases, + the stated key and tempo heard")):
        if name in report:
            d = report[name]
            lines.append(f"| {label} | {d['R@1']:.3f} | {d['R@5']:.3f} | {d['R@10']:.3f} | {d['median_rank']:.0f} |")
    lines += ["", "| zero-shot attribute | accuracy | majority-class rate | clips |", "|---|---:|---:|---:|"]
    z = report["zero_shot"]
    for name, acc in z["accuracy"].items():
        lines.append(f"| {name} | {acc:.3f} | {z['chance'][name]:.3f} | {z['counts'][name]} |")
    if report.get("counterfactual"):
        lines += ["", "| the true caption scores above the same caption with one fact made false | share | clips |",
                  "|---|---:|---:|"]
        lines += [f"| {fact} | {v['right']:.3f} | {v['clips']} |" for fact, v in report["counterfactual"].items()]
    if report.get("named_key"):
        lines += ["", "| a clip's own key named alone scores above | share | clips |", "|---|---:|---:|"]
        lines += [f"| its {name} | {v['right']:.3f} | {v['clips']} |" for name, v in report["named_key"].items()]
    if "musiccaps" in report:
        m = report["musiccaps"]
        lines += ["", f"All {m['captions']} MusicCaps captions embedded (finite: {m['all_finite']})."]
    return "\n".join(lines)


def register(sub) -> None:
    mulan = sub.add_parser("mulan", help="MuLan: evaluation (retrieval, zero-shot attributes), ensembles")
    kinds = mulan.add_subparsers(dest="mulan_command", required=True)
    e = kinds.add_parser("eval", help="retrieval R@k, zero-shot attribute accuracy, MusicCaps neighbours")
    e.add_argument("--mulan", default=None, help="pipeline, mulan component or run folder (default: shipped)")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test", help="train / valid / test, or all (a held-out corpus)")
    e.add_argument("--n", type=int, default=1000)
    e.add_argument("--train-data", default=None, help="the corpus MuLan trained on (default: --data)")
    e.add_argument("--musiccaps", default=None, help="captions.csv (default: ../shared/data/musiccaps)")
    e.add_argument("--no-musiccaps", action="store_true",
                   help="skip the MusicCaps neighbours (5.5k captions through the text encoder: minutes on a CPU)")
    e.add_argument("--no-descriptors", action="store_true",
                   help="skip the retrieval rows with the rule-read key and tempo (their analysers take 0.03 s "
                        "a 10-s clip on 2 cores)")
    e.add_argument("--out", required=True)
    e.set_defaults(func=cmd_eval)
    j = kinds.add_parser("ensemble", help="join trained MuLans into one (their embeddings joined, an RVQ over them)")
    j.add_argument("--members", required=True, metavar="MULAN,MULAN[,...]",
                   help="pipeline, mulan component or run folders of the MuLans to join")
    j.add_argument("--data", required=True, metavar="CORPUS[,CORPUS]",
                   help="corpora whose train clips and captions fit the RVQ (the first one's valid split picks the "
                        "descriptor weights)")
    j.add_argument("--clips", type=int, default=600, help="clips per corpus")
    j.add_argument("--seed", type=int, default=0)
    j.add_argument("--out", required=True, help="the ensemble's component folder (assemble --component mulan=OUT)")
    j.set_defaults(func=cmd_ensemble)


def cmd_ensemble(args: argparse.Namespace) -> int:
    from ..train.mulan import data_folders
    from ..train.mulan_ensemble import make_ensemble

    model, report = make_ensemble([m.strip() for m in args.members.split(",") if m.strip()], data_folders(args.data),
                                  args.clips, args.seed)
    hub.save_component(args.out, model.config, model)
    hub.write_json(os.path.join(args.out, "ensemble.json"), report)
    print(json.dumps(report, indent=2))
    print(f"MuLan ensemble -> {args.out}")
    return 0
