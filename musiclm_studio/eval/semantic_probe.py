"""How much musical meaning the semantic tokens carry: linear probes against random tokens.

``musiclm-studio semantic probe --tokens tokens/v1 --data corpus/v1`` reads the token caches
of ``train tokens`` (train split to fit, valid split to score) and the corpus metadata, and
fits two linear probes (multinomial logistic regression, full batch, in torch):

- **genre** from each clip's bag of semantic tokens (normalised histogram over the codebook);
- **chord root** (12 pitch classes) of each 25 Hz frame from that frame's token, one-hot.

Each probe is scored next to the same probe on *random* tokens of the same shape (what a
tokenizer that carried nothing would give) and the majority class.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Optional

import torch

from .. import hub
from ..models.melody_tokenizer import PITCH_CLASSES
from ..analysis import NOTE_NAMES

# root spellings: the corpus's flats (NOTE_NAMES), sharps (PITCH_CLASSES) and the rarer enharmonics
_PITCH = {name: n for names in (NOTE_NAMES, PITCH_CLASSES) for n, name in enumerate(names)} | {
    "Gb": 6, "Cb": 11, "E#": 5, "Fb": 4, "B#": 0}


def chord_root(chord: str) -> Optional[int]:
    """Pitch class of a chord symbol's root ('F#m7' -> 6), or None when it has none."""
    for length in (2, 1):
        if chord[:length] in _PITCH:
            return _PITCH[chord[:length]]
    return None


def frame_roots(row: dict, frames: int, frame_rate: float) -> torch.Tensor:
    """Chord root per frame from a corpus row (one chord per bar, cycled); -1 where unknown."""
    roots = [chord_root(c) for c in row.get("chords") or []]
    out = torch.full((frames,), -1, dtype=torch.long)
    if not roots or not row.get("bpm"):
        return out
    beats = int(str(row.get("metre", "4/4")).split("/")[0])
    bar_s = beats * 60.0 / float(row["bpm"])
    bars = (torch.arange(frames) / frame_rate / bar_s).long() % len(roots)
    known = torch.tensor([-1 if r is None else r for r in roots])
    return known[bars]


class LinearProbe(torch.nn.Module):
    """A linear classifier on dense features [N, F], or on token ids [N] read as one-hot vectors
    (the same maths as a Linear layer on the one-hot, without building it)."""

    def __init__(self, features: int, classes: int, one_hot: bool):
        super().__init__()
        self.one_hot = one_hot
        self.weight = torch.nn.Parameter(torch.zeros(features, classes))
        self.bias = torch.nn.Parameter(torch.zeros(classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.weight[x] if self.one_hot else x @ self.weight) + self.bias


def fit_probe(x: torch.Tensor, y: torch.Tensor, classes: int, features: Optional[int] = None, steps: int = 300,
              weight_decay: float = 1e-4) -> LinearProbe:
    """Multinomial logistic regression (full-batch Adam) on features [N, F], or token ids [N] with
    ``features`` = the vocabulary size."""
    one_hot = not x.is_floating_point()
    probe = LinearProbe(features if one_hot else x.shape[1], classes, one_hot)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.05, weight_decay=weight_decay)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(probe(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe.eval()


def accuracy(probe: LinearProbe, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((probe(x).argmax(-1) == y).float().mean())


def bags(tokens: torch.Tensor, lengths: torch.Tensor, vocab: int) -> torch.Tensor:
    """Per-clip normalised token histograms [C, vocab] from concatenated tokens and clip lengths."""
    clip = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    counts = torch.zeros(len(lengths), vocab).index_put_((clip, tokens), torch.ones(len(tokens)), accumulate=True)
    return counts / lengths[:, None].clamp(min=1)


def probe_tokens(train_tokens, train_lengths, train_rows, valid_tokens, valid_lengths, valid_rows, vocab: int,
                 frame_rate: float, max_frames: int = 500_000, seed: int = 0) -> dict:
    """Genre and chord-root probe accuracies on the valid split (see the module docstring)."""
    genres = sorted({r["genre"] for r in train_rows + valid_rows if r.get("genre")})
    genre_id = {g: n for n, g in enumerate(genres)}

    def genre_labels(rows):
        return torch.tensor([genre_id.get(r.get("genre"), -1) for r in rows])

    def roots(rows, lengths):
        return torch.cat([frame_roots(r, int(n), frame_rate) for r, n in zip(rows, lengths)])

    def run(train_t, valid_t) -> dict:
        out = {}
        xg, yg = bags(train_t, train_lengths, vocab), genre_labels(train_rows)
        vg, vyg = bags(valid_t, valid_lengths, vocab), genre_labels(valid_rows)
        keep, vkeep = yg >= 0, vyg >= 0
        out["genre"] = accuracy(fit_probe(xg[keep], yg[keep], len(genres)), vg[vkeep], vyg[vkeep])
        yr, vyr = roots(train_rows, train_lengths), roots(valid_rows, valid_lengths)
        pick = torch.nonzero(yr >= 0).flatten()
        pick = pick[torch.randperm(len(pick), generator=torch.Generator().manual_seed(seed))[:max_frames]]
        probe = fit_probe(train_t[pick], yr[pick], 12, features=vocab)
        vpick = vyr >= 0
        out["chord_root"] = accuracy(probe, valid_t[vpick], vyr[vpick])
        return out

    generator = torch.Generator().manual_seed(seed + 1)
    real = run(train_tokens, valid_tokens)
    random = run(torch.randint(0, vocab, train_tokens.shape, generator=generator),
                 torch.randint(0, vocab, valid_tokens.shape, generator=generator))
    valid_genres = genre_labels(valid_rows)
    valid_roots = roots(valid_rows, valid_lengths)
    majority = {"genre": float((valid_genres == valid_genres.mode().values).float().mean()),
                "chord_root": float((valid_roots[valid_roots >= 0] == valid_roots[valid_roots >= 0].mode().values)
                                    .float().mean())}
    return {"semantic_tokens": real, "random_tokens": random, "majority_class": majority,
            "genres": len(genres), "train_clips": len(train_rows), "valid_clips": len(valid_rows)}


def cmd_probe(args: argparse.Namespace) -> int:
    from ..train.data import corpus_entries
    from ..train.tokens import TokenSet

    train = TokenSet.load(os.path.join(args.tokens, "train.safetensors"))
    valid = TokenSet.load(os.path.join(args.tokens, f"{args.split}.safetensors"))
    train_rows, valid_rows = corpus_entries(args.data, "train"), corpus_entries(args.data, args.split)
    for name, rows, tokens in (("train", train_rows, train), (args.split, valid_rows, valid)):
        if len(rows) < len(tokens.lengths):
            raise ValueError(f"{args.data!r} has {len(rows)} {name} clips but the token cache has "
                             f"{len(tokens.lengths)}: give the corpus the cache was built from.")
    train_rows, valid_rows = train_rows[: len(train.lengths)], valid_rows[: len(valid.lengths)]
    report = probe_tokens(train.semantic, train.lengths, train_rows, valid.semantic, valid.lengths, valid_rows,
                          args.vocab, args.frame_rate, seed=args.seed)
    print(json.dumps(report, indent=2))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        hub.write_json(args.out, report)
    return 0


def register(sub) -> None:
    semantic = sub.add_parser("semantic", help="semantic tokens: linear probes of genre and chord root")
    kinds = semantic.add_subparsers(dest="semantic_command", required=True)
    p = kinds.add_parser("probe", help="genre / chord-root probe accuracy vs random tokens")
    p.add_argument("--tokens", required=True, help="token caches from `musiclm-studio train tokens`")
    p.add_argument("--data", required=True, help="the corpus the caches were built from")
    p.add_argument("--split", default="valid", help="the cached split to score on")
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--frame-rate", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the report as JSON")
    p.set_defaults(func=cmd_probe)
