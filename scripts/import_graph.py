"""The package's import graph against its layers: upward arrows and import circles.

Layers (lower may not import higher): 0 building blocks (``modules/``, ``vocab/``, configs, settings,
outputs, audio and hub I/O, viz), 1 ``models/`` and ``data/``, 2 the pipeline and its parts
(components, windows, conditioning, streaming), 3 ``train/`` and ``eval/``, 4 front ends (``ui/``,
``cli``, ``publish``). Prints every upward arrow (module-level and lazy, in-function imports apart)
and every circle among module-level imports. ``python scripts/import_graph.py [PACKAGE_DIR]``
"""

from __future__ import annotations

import ast
import os
import sys

LAYERS = {"modules": 0, "vocab": 0, "config": 0, "sampling_args": 0, "outputs": 0, "audio": 0, "hub": 0, "viz": 0,
          "lyrics": 0, "models": 1, "data": 1, "analysis": 1, "components": 2, "generation": 2, "windowing": 2, "conditioning": 2,
          "prompt_reader": 2, "streaming": 2, "batch": 2, "pipeline": 2, "jam": 2, "jam_script": 2, "train": 3, "eval": 3, "ui": 4, "cli": 4, "publish": 4}


def modules(root: str) -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), root)[:-3].replace(os.sep, ".")
                out[rel.removesuffix(".__init__") if rel != "__init__" else ""] = os.path.join(folder, f)
    return out


def edges(name: str, path: str, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module, lazy) for each package-internal import of module ``name``."""
    tree, package = ast.parse(open(path).read()), name.split(".")[:-1] if not path.endswith("__init__.py") else name.split(".")
    found = []
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in typing_only:
            base = package[: len(package) - node.level + 1] if node.level > 1 else package
            target = ".".join(base + ([node.module] if node.module else []))
            lazy = node not in tree.body
            for alias in node.names:
                full = f"{target}.{alias.name}" if target else alias.name
                hit = full if full in known else target
                if hit in known and hit != name:
                    found.append((hit, lazy))
    return found


def layer(name: str) -> int | None:
    return LAYERS.get(name.split(".")[0])


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "musiclm_studio")
    mods = modules(root)
    upward, graph, packages = set(), {}, {}
    for name, path in mods.items():
        for target, lazy in edges(name, path, set(mods)):
            a_top, b_top = name.split(".")[0], target.split(".")[0]
            if a_top != b_top:
                packages.setdefault(a_top, set()).add(b_top)
            if not lazy:
                graph.setdefault(name, set()).add(target)
            a, b = layer(name), layer(target)
            if a is not None and b is not None and b > a:
                upward.add(f"{name} -> {target}{' (lazy)' if lazy else ''}")
    rings, package_rings = circles(graph), circles(packages)
    print(f"{len(upward)} upward arrows, {len(rings)} circles among module-level imports, "
          f"{len(package_rings)} among top-level parts (lazy imports included)")
    for line in sorted(upward):
        print("  up:", line)
    for ring in rings + package_rings:
        print("  circle:", " <-> ".join(ring))


if __name__ == "__main__":
    main()
