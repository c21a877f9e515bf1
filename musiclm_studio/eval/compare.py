"""Evaluations side by side, prompt by prompt: is a candidate better, or is it the draw?

    musiclm-studio compare eval/shipped eval/candidate [eval/other ...] [--names ...] [--out F.md]

Each attribute's rate comes with its standard error (sqrt(p (1 - p) / n): over 25 prompts asking a
tempo, about 0.08), and every run after the first is set against the first on the prompts both scored:
how many prompts only it followed, how many only the first followed, and the two-sided sign-test p of
that split (scipy's exact binomial test). Pairing needs the same prompts in the same order (the
reports' ``prompt_digest``) and the same seed; other runs are set side by side only. Runs generated
on different machines are flagged: other CPUs round differently and draw other clips from the same
seeds (``eval.machine``), so a gain between them mixes the model with the machine.
"""

from __future__ import annotations

import json
import math
import os
from typing import Optional

from .adherence import CHECKED


def load_report(path: str) -> dict:
    """An ``eval.json`` (or the folder ``musiclm-studio eval --out`` wrote it to)."""
    file = os.path.join(path, "eval.json") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise ValueError(f"No evaluation at {path!r}: give the folder `musiclm-studio eval --out` wrote, "
                         "or its eval.json.")
    with open(file, encoding="utf-8") as f:
        report = json.load(f)
    if "adherence" not in report or "config" not in report:
        raise ValueError(f"{file} is not a `musiclm-studio eval` report (no adherence or config).")
    return report


def paired(first: dict, other: dict) -> bool:
    """Whether two reports scored the same prompts, in order, from the same seed and length."""
    keys = ("seed", "seconds")
    return (first["adherence"].get("prompt_digest") is not None
            and first["adherence"].get("prompt_digest") == other["adherence"].get("prompt_digest")
            and all(first["config"].get(k) == other["config"].get(k) for k in keys))


def split(first: list, other: list) -> tuple[int, int]:
    """(prompts only ``other`` followed, prompts only ``first`` followed), over prompts both scored."""
    pairs = [(a, b) for a, b in zip(first, other) if a is not None and b is not None]
    return sum(b and not a for a, b in pairs), sum(a and not b for a, b in pairs)


def sign_p(better: int, worse: int) -> float:
    """Two-sided exact sign test of ``better`` against ``worse`` (1.0 when there is no split)."""
    if better + worse == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(better, better + worse, 0.5).pvalue)


def _rate(v: dict) -> str:
    rate, n = v.get("rate"), v.get("count") or 0
    if rate is None:
        return "-"
    return f"{rate:.3f} +- {math.sqrt(rate * (1 - rate) / n):.3f} ({n})"


def _figure(report: dict, key: str) -> Optional[float]:
    return report.get("summary", {}).get(key)


def compare(paths: list[str], names: Optional[list[str]] = None) -> dict:
    """The comparison as data: per run its rates, and per run after the first its split against it."""
    if len(paths) < 2:
        raise ValueError("Compare needs at least two evaluations (the first is the one the others are set against).")
    reports = [load_report(p) for p in paths]
    names = names or [os.path.basename(os.path.normpath(p)) for p in paths]
    first = reports[0]
    out = {"runs": names, "machines": [r.get("machine") or "not recorded" for r in reports],
           "paired": [paired(first, r) for r in reports[1:]], "attributes": {}, "figures": {}}
    for attribute in CHECKED:
        row = {"rates": [r["adherence"].get(attribute, {}) for r in reports], "splits": []}
        for r, same in zip(reports[1:], out["paired"]):
            a, b = first["adherence"].get(attribute, {}).get("passed"), r["adherence"].get(attribute, {}).get("passed")
            if same and a is not None and b is not None:
                better, worse = split(a, b)
                row["splits"].append({"better": better, "worse": worse, "p": sign_p(better, worse)})
            else:
                row["splits"].append(None)
        out["attributes"][attribute] = row
    for key in ("mcc", "fad_mulan", "rtf"):
        out["figures"][key] = [_figure(r, key) for r in reports]
    return out


def markdown(result: dict) -> str:
    """The comparison as a table, with the caveats that decide how far to trust it."""
    runs = result["runs"]
    head = ["", *runs] + [f"{n} against {runs[0]}: prompts better / worse (sign-test p)" for n in runs[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for attribute, row in result["attributes"].items():
        splits = [f"{s['better']} / {s['worse']} (p {s['p']:.2f})" if s else "not paired" for s in row["splits"]]
        lines.append("| " + " | ".join([attribute, *(_rate(v) for v in row["rates"]), *splits]) + " |")
    for key, label in (("mcc", "MCC"), ("fad_mulan", "FAD (MuLan, lower is better)"), ("rtf", "real-time factor")):
        values = result["figures"][key]
        lines.append("| " + " | ".join([label, *("-" if v is None else f"{v:.3f}" for v in values)]
                                       + [""] * (len(runs) - 1)) + " |")
    notes = []
    if not all(result["paired"]):
        unpaired = [n for n, ok in zip(runs[1:], result["paired"]) if not ok]
        notes.append(f"Not paired with {runs[0]} (other prompts, seed or length, or a report from before per-prompt "
                     f"outcomes were kept): {', '.join(unpaired)}.")
    machines = set(result["machines"])
    if len(machines) > 1 or "not recorded" in machines:
        notes.append("Generated on different or unrecorded machines (" + "; ".join(
            f"{n}: {m}" for n, m in zip(runs, result["machines"])) + "). Other CPUs draw other clips from the same "
            "seeds: rerun the runs you compare on one machine before reading a gain.")
    return "\n".join(lines) + "".join(f"\n\n{n}" for n in notes) + "\n"
