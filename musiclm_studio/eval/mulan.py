"""MuLan evaluation: text -> audio retrieval, zero-shot attribute classification, real prompts.

``retrieval``: each held-out caption ranks every held-out clip by cosine; recall@k is the share
whose own clip lands in the top k (chance: k / N). ``zero_shot``: each clip is labelled by the
closer of a few text prompts per attribute (drums / no drums, major / minor, slow / fast,
genre, lead instrument family: named as a family, and by its instruments' names with their prompts'
embeddings averaged) and accuracy is measured against the corpus metadata. ``counterfactual``: a
clip's caption against the same caption with one fact made false; ``named_key``: its key named alone
against its relative key (the same notes around another centre) and its parallel key.
``nearest_captions``: for real MusicCaps prompts, the training captions closest in MuLan's
text space (what the model "thinks" a real prompt means).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..data.instruments import INSTRUMENTS
from ..models.mulan import MuLan

SLOW_BPM, FAST_BPM = 95, 125  # clips between the two are left out of the slow / fast test


@torch.no_grad()
def embed_clips(model: MuLan, clips: list[torch.Tensor], batch: int = 32, tagged: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Unit audio embeddings [N, E] of equal- or mixed-length clips (zero-padded per batch); ``tagged``:
    the clips' musicnn features [N, F], if the MuLan has that branch and they are computed already."""
    device = model.logit_scale.device
    out = []
    for s in range(0, len(clips), batch):
        part = [c.float() for c in clips[s: s + batch]]
        longest = max(p.numel() for p in part)
        stacked = torch.stack([torch.nn.functional.pad(p, (0, longest - p.numel())) for p in part])
        given = [] if tagged is None else [tagged[s: s + batch].to(device)]
        out.append(model.embed_audio(stacked.to(device), *given).cpu())
    return torch.cat(out)


@torch.no_grad()
def embed_texts(model: MuLan, texts: list[str], batch: int = 128) -> torch.Tensor:
    return torch.cat([model.embed_text(texts[s: s + batch]).cpu() for s in range(0, len(texts), batch)])


def recall_at(text_emb: torch.Tensor, audio_emb: torch.Tensor, ks=(1, 5, 10)) -> dict[str, float]:
    """Text i matches audio i; recall@k and median rank (1 = best)."""
    return recall_from_scores(text_emb @ audio_emb.T, ks)


def recall_from_scores(sims: torch.Tensor, ks=(1, 5, 10)) -> dict[str, float]:
    """``recall_at`` on a score matrix [N texts, N clips] (text i matches clip i)."""
    ranks = (sims > sims.diagonal()[:, None]).sum(1)  # 0-based rank of the true clip
    out = {f"R@{k}": float((ranks < k).float().mean()) for k in ks}
    out["median_rank"] = float(ranks.float().median() + 1)
    out["chance_R@10"] = min(1.0, 10 / len(ranks))
    return out


def _tempo_word(row: dict) -> Optional[str]:
    bpm = row.get("bpm")
    if bpm is None:
        return None
    return "slow" if bpm < SLOW_BPM else "fast" if bpm > FAST_BPM else None


ATTRIBUTES: dict[str, tuple[Callable[[dict], Optional[str]], Callable[[str], str | list[str]]]] = {
    # name: (label of a metadata row or None to skip it, the prompt for a label, or prompts to average)
    "drums": (lambda r: None if r.get("drums") is None else ("drums" if r["drums"] else "no drums"),
              lambda label: "music with drums" if label == "drums" else "music without drums, no percussion"),
    "mode": (lambda r: r.get("mode"), lambda label: f"a song in a {label} key"),
    "tempo": (_tempo_word, lambda label: f"{label} music, {label} tempo"),
    "genre": (lambda r: r.get("genre"), lambda label: f"{label} music"),
    "lead family": (lambda r: r.get("lead_family"), lambda label: f"a {label} playing the melody"),
    # the same labels, each prompted as captions name them: by its instruments, their embeddings averaged
    "lead family, by instrument": (lambda r: r.get("lead_family"), lambda label: [
        f"a {i.name} playing the melody" for i in INSTRUMENTS.values() if i.family == label]),
}


@dataclass
class ZeroShotResult:
    accuracy: dict[str, float] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@torch.no_grad()
def zero_shot(model: MuLan, rows: list[dict], audio_emb: torch.Tensor) -> ZeroShotResult:
    """Per attribute: accuracy of picking the right label's prompt by cosine."""
    result = ZeroShotResult()
    for name, (label_of, prompt_for) in ATTRIBUTES.items():
        labelled = [(i, label_of(r)) for i, r in enumerate(rows)]
        labelled = [(i, lab) for i, lab in labelled if lab]
        labels = sorted({lab for _, lab in labelled})
        if len(labels) < 2:
            continue
        vectors = [embed_texts(model, [p] if isinstance(p, str) else p).mean(0) for p in map(prompt_for, labels)]
        prompts = torch.nn.functional.normalize(torch.stack(vectors), dim=-1)  # [L, E]
        index = torch.tensor([i for i, _ in labelled])
        guess = (audio_emb[index] @ prompts.T).argmax(1)
        truth = torch.tensor([labels.index(lab) for _, lab in labelled])
        result.accuracy[name] = float((guess == truth).float().mean())
        result.chance[name] = float(torch.bincount(truth).max() / len(truth))  # majority-class rate
        result.counts[name] = len(labelled)
    return result


@torch.no_grad()
def counterfactual(model: MuLan, rows: list[dict], audio_emb: torch.Tensor) -> dict[str, dict]:
    """Per fact (mode, tempo, drums, lead): how often a clip's audio scores its corpus caption above the
    same caption written with that fact false; only captions that state the fact count (chance 0.5).
    Captions the v1 generator does not write (caption v2's, a recording's tags) count for the mode and
    the lead alone (``train.mulan.counterfactual_texts``). Empty where no caption states a fact it can make false."""
    from ..train.mulan import counterfactual_right, counterfactual_texts

    captions = [[r["caption"]] for r in rows]
    false, mask = counterfactual_texts(rows, captions)
    if not mask.any():
        return {}
    text = embed_texts(model, [c[0] for c in captions])
    false_emb = embed_texts(model, [t for rewrites in false for t in rewrites]).view(len(rows), len(false[0]), -1)
    return {fact: {"right": rate, "clips": n} for fact, (rate, n) in counterfactual_right(audio_emb, text, false_emb,
                                                                                         mask).items()}


@torch.no_grad()
def named_key(model: MuLan, rows: list[dict], audio_emb: torch.Tensor) -> dict[str, dict]:
    """How often a clip's audio scores its own key, named alone ('music in the key of E minor'), above
    its relative key (the same notes around another centre: 'G major') and above its parallel key (the
    same centre, the other mode: 'E major'); clips whose key is known (``tonic_pc`` and a major or minor
    ``mode``). Chance 0.5 each. Empty where no clip's key is known."""
    from ..vocab.musical_key import key_name, key_token, relative_key

    keyed = [(i, int(r["tonic_pc"]), r["mode"]) for i, r in enumerate(rows)
             if r.get("tonic_pc") is not None and r.get("mode") in ("major", "minor")]
    if not keyed:
        return {}
    other = {"major": "minor", "minor": "major"}
    texts = []
    for _, tonic, mode in keyed:
        own = key_token(tonic, mode)
        texts += [f"music in the key of {key_name(k)}" for k in (own, relative_key(own), key_token(tonic, other[mode]))]
    scores = (embed_texts(model, texts).view(len(keyed), 3, -1)
              @ audio_emb[torch.tensor([i for i, _, _ in keyed])][:, :, None]).squeeze(-1)  # [N, own / relative / parallel]
    return {name: {"right": float((scores[:, 0] > scores[:, j]).float().mean()), "clips": len(keyed)}
            for j, name in ((1, "relative key"), (2, "parallel key"))}


def read_musiccaps(path: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return [row["caption"] for row in csv.DictReader(f)]


@torch.no_grad()
def nearest_captions(model: MuLan, queries: list[str], pool: list[str], k: int = 10) -> list[list[tuple[float, str]]]:
    """For each query, the k pool captions with the highest text-text cosine in MuLan space."""
    unique = sorted(set(pool))
    sims = embed_texts(model, queries) @ embed_texts(model, unique).T
    top = sims.topk(min(k, len(unique)), dim=1)
    return [[(float(v), unique[int(j)]) for v, j in zip(vals, idx)] for vals, idx in zip(top.values, top.indices)]
