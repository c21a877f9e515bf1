"""Write ``docs/cli.md``, the full command-line reference, from the real argparse definitions.

Every sub-command's ``musiclm-studio ... --help`` text, in the order the parser lists them, at a
fixed width (100 columns) so the file does not depend on the terminal that wrote it:

    python scripts/cli_reference.py [--out docs/cli.md]

``tests/test_docs.py`` checks that every sub-command and option of the parser appears in the file,
so a new flag without a rerun fails the tests.
"""

from __future__ import annotations

import argparse
import os

os.environ["COLUMNS"] = "100"  # argparse wraps to $COLUMNS; read when each help text is formatted

from musiclm_studio.cli import build_parser  # noqa: E402

INTRO = """# Command-line reference

Every `musiclm-studio` sub-command with its `--help` text, generated from the argparse
definitions by `python scripts/cli_reference.py` (rerun it after changing a flag;
`tests/test_docs.py` checks that every sub-command and option is listed here). Below each help
text, every option's default ("none": not set, so the command uses the preset's or the pipeline's
value or goes without; "off": a switch not given). Examples and
what each command is for: the [README](../README.md#the-command-line); the commands that made
the shipped weights: [training.md](training.md).
"""


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(words after ``musiclm-studio``, parser) for every parser, depth first in definition order."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, path + (name,))


def defaults(parser: argparse.ArgumentParser) -> list[str]:
    """A markdown table of the parser's options and their defaults (``--help`` leaves most out)."""
    rows = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            value = "off"
        elif action.required:
            value = "required"
        elif action.default is None:
            value = "none"
        elif isinstance(action.default, (list, tuple)):
            value = " ".join(map(str, action.default))
        else:
            value = str(action.default)
        rows.append(f"| `{', '.join(action.option_strings)}` | `{value}` |")
    return ["| option | default |", "|---|---|", *rows, ""] if rows else []


def reference() -> str:
    """The whole of ``docs/cli.md``."""
    parts = [INTRO, "## Contents\n"]
    found = list(commands(build_parser()))
    parts += [f"- [`musiclm-studio {' '.join(p)}`](#{'-'.join(('musiclm-studio',) + p)})" for p, _ in found if p]
    parts.append("")
    for path, parser in found:
        title = " ".join(("musiclm-studio",) + path)
        parts += [f"## `{title}`", "", "```text", parser.format_help().rstrip(), "```", "", *defaults(parser)]
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "cli.md"))
    args = ap.parse_args()
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(reference())
    print(f"wrote {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
