"""The documentation stays a front door: README size, links that resolve, a CLI reference that
lists every flag, model folders that hold only what a model needs, and figures that match the
evaluation summary they come from."""

import argparse
import json
import re
from pathlib import Path

import pytest

from musiclm_studio.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT = 15_000  # bytes: the README is a front door; the rest lives in docs/ and the model cards
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "assets").glob("*/README.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def headings_anchors(path: Path) -> set[str]:
    """GitHub's anchors for a markdown file's headings (code blocks skipped, repeats numbered)."""
    anchors, seen, in_code = set(), {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"#{1,6} (.+)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # links in code are code
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_readme_is_short():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes (limit {README_LIMIT}): move detail to docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    broken = []
    for target in relative_links(doc):
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in headings_anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{doc.relative_to(ROOT)}: " + ", ".join(broken)


def commands(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, path + (name,))


def test_cli_reference_lists_every_command_and_flag():
    """docs/cli.md is written by scripts/cli_reference.py; rerun it after changing a flag."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `([^`]+)`\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M))
    for path, parser in commands(build_parser()):
        title = " ".join(("musiclm-studio",) + path)
        assert title in sections, f"{title} is missing from docs/cli.md: run python scripts/cli_reference.py"
        flags = [s for a in parser._actions for s in a.option_strings]
        missing = [f for f in flags if not re.search(rf"{re.escape(f)}\b", sections[title])]
        assert not missing, f"{title}: {missing} missing from docs/cli.md: run python scripts/cli_reference.py"


@pytest.mark.parametrize("model", sorted(p for p in (ROOT / "assets").iterdir() if (p / "pipeline.json").exists()),
                         ids=lambda p: p.name)
def test_model_folder_holds_only_the_model(model):
    """Weights, configs, the card and eval_summary.json; experiments belong in docs/experiments/."""
    extra = []
    for item in model.iterdir():
        if item.is_dir():
            extra += [str(f.relative_to(model)) for f in item.iterdir()
                      if f.name not in ("config.json", "model.safetensors")]
        elif item.name not in ("pipeline.json", "README.md", "eval_summary.json"):
            extra.append(item.name)
    assert not extra, f"{model.name} holds {extra}: move experiment files to docs/experiments/"


def adherence_rows(path: Path) -> dict[str, list[str]]:
    """The first three figures of each attribute row of a markdown adherence table."""
    names = {"tempo": "tempo", "mode": "mode", "drums": "drums", "lead family": "lead"}
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        for name, word in names.items():
            if len(cells) >= 4 and re.search(rf"\b{word}\b", cells[0]) and re.fullmatch(r"0\.\d{3}", cells[1]):
                rows.setdefault(name, cells[1:4])
    return rows


@pytest.mark.parametrize("doc", ["README.md", "assets/musiclm-small/README.md"])
def test_adherence_figures_match_eval_summary(doc):
    """A number lives in one place: the tables are eval_summary.json's figures, rounded."""
    summary = json.loads((ROOT / "assets" / "musiclm-small" / "eval_summary.json").read_text())
    rows = adherence_rows(ROOT / doc)
    assert set(rows) == set(summary["attribute_adherence"]), rows
    for name, (generated, real, chance) in rows.items():
        expected = [summary[k][name] for k in ("attribute_adherence", "real_clip_adherence", "chance_adherence")]
        assert [generated, real, chance] == [f"{v:.3f}" for v in expected], f"{doc}: {name}"
