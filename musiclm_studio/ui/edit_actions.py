"""The edit actions both UIs offer on the current clip, and the history of its versions.

``EditHistory`` holds every version of a clip (the generated one first), which one is current,
and how each was made; ``apply`` runs an action (``ACTIONS``) on the current version through the
pipeline's ``vary`` / ``repaint`` / ``extend`` and appends the result, ``go`` and ``undo`` move
back and forth. ``token_changes`` says, per token stream, what an edit changed (the kept stream
reads "unchanged": the very tokens of the version it came from). The Gradio Edit area
(``ui/edit_panel.py``) and the Jupyter widgets (``ui/widgets.py``) are thin views of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

ACTIONS = {
    "vary": "Vary the sound (keep the composition)",
    "vary_fine": "Vary the detail (keep the coarse tokens)",
    "repaint": "Repaint a region",
    "extend": "Extend",
}
ACTION_HELP = ("Vary re-samples the sound over the same semantic tokens (optionally under a new prompt); "
               "'detail' re-samples only the fine tokens. Repaint re-samples start-end s and joins the original "
               "on the next beat. Extend adds seconds after the end. Leave the prompt empty to keep the clip's own.")


@dataclass
class Version:
    """One version of the clip: its output, a label, and the version it was made from (None: generated)."""

    output: object  # MusicLMOutput
    label: str
    parent: Optional[int] = None
    files: list[str] = field(default_factory=list)  # the UI's saved files for it (WAV first)


class EditHistory:
    """The versions of one clip and the current one."""

    def __init__(self, output, label: str = "generated"):
        self.versions = [Version(output, f"v1: {label}")]
        self.current = 0

    @property
    def output(self):
        return self.versions[self.current].output

    def labels(self) -> list[str]:
        return [v.label for v in self.versions]

    def apply(self, pipe, action: str, *, prompt: str = "", start_s: float = 0.0, end_s: float = 0.0,
              seconds: float = 0.0, seed: Optional[int] = None, callback: Optional[Callable] = None) -> Version:
        """Run ``action`` on the current version and make the result current (``ValueError`` on bad input)."""
        if action not in ACTIONS:
            raise ValueError(f"Unknown edit {action!r}; choose one of {', '.join(ACTIONS)}.")
        prompt = (prompt or "").strip() or None
        source, base = self.output, self.current
        common = dict(seed=seed, callback=callback)
        if action == "vary":
            out = pipe.vary(source, keep="semantic", prompt=prompt, **common)
            what = "vary (semantic kept)"
        elif action == "vary_fine":
            out = pipe.vary(source, keep="coarse", prompt=prompt, **common)
            what = "vary detail (coarse kept)"
        elif action == "repaint":
            out = pipe.repaint(source, start_s, end_s, prompt=prompt, **common)
            what = f"repaint {float(start_s):g}-{float(end_s):g} s"
        else:
            out = pipe.extend(source, seconds, prompt=prompt, **common)
            what = f"extend +{float(seconds):g} s"
        label = f"v{len(self.versions) + 1}: {what} of v{base + 1}" + (f", '{prompt[:40]}'" if prompt else "")
        label += f", seed {out.seed}" if out.seed is not None else ""
        self.versions.append(Version(out, label, base))
        self.current = len(self.versions) - 1
        return self.versions[-1]

    def go(self, index: int) -> Version:
        if not 0 <= index < len(self.versions):
            raise ValueError(f"There is no version {index + 1}; pick one of 1-{len(self.versions)}.")
        self.current = index
        return self.versions[index]

    def undo(self) -> Version:
        """Back to the version the current one was made from (the first stays)."""
        parent = self.versions[self.current].parent
        return self.go(parent if parent is not None else self.current)

    def index_of(self, label: str) -> int:
        return self.labels().index(label)


def token_changes(before, after, pipe) -> dict[str, str]:
    """Per token stream (semantic, coarse, fine): "unchanged" when ``after`` holds ``before``'s tokens
    bit for bit over ``before``'s length (an extension's new frames aside), else the span that differs."""
    from ..viz import frame_rates

    rates, out = frame_rates(pipe), {}
    for name in ("semantic", "coarse", "fine"):
        a, b = getattr(before.tokens, name), getattr(after.tokens, name)
        n = a.shape[-1]
        differs = (a != b[..., :n]).reshape(-1, n).any(0).nonzero()
        added = f", +{(b.shape[-1] - n) / rates[name]:.2f} s new" if b.shape[-1] > n else ""
        if not len(differs):
            out[name] = "unchanged" + added
        else:
            first, last = int(differs.min()), int(differs.max()) + 1
            out[name] = f"changed {first / rates[name]:.2f}-{last / rates[name]:.2f} s{added}"
    return out


def changes_markdown(history: EditHistory, pipe) -> str:
    """What the current version kept and changed against the version it was made from."""
    version = history.versions[history.current]
    if version.parent is None:
        return f"**{version.label}**: the generated clip. Edits below apply to the current version."
    parent = history.versions[version.parent]
    changes = token_changes(parent.output, version.output, pipe)
    said = " · ".join(f"{name} tokens {what}" for name, what in changes.items())
    return f"**{version.label}**  \nAgainst v{version.parent + 1}: {said}."

