"""Fit the key reader of MuLan's descriptor score (``models/descriptors.py``) on a corpus's known keys.

Reads each clip's treble and bass chroma (``analysis.chroma_profiles``, about 0.2 s a clip), fits the
major and minor profiles per register by ``descriptors.fit_key_profiles`` on ``--split`` (default
train), and prints them as ``KEY_PROFILES``, with the share of keys read exactly and in the right mode
on ``--check`` (default valid), next to the Krumhansl-Schmuckler reader of ``analysis.best_key``.

    python scripts/fit_key_profiles.py --data corpus/v2 [--split train] [--check valid] [--cache chroma.npz]

``--cache`` keeps the chroma of both splits in an .npz (read back when it exists). Only rows with a
known key are used: corpus rows with ``tonic_pc`` and ``mode``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import soundfile as sf

from musiclm_studio import analysis
from musiclm_studio.models.descriptors import fit_key_profiles, key_logits


def keyed_rows(corpus: str, split: str) -> list[dict]:
    with open(os.path.join(corpus, "metadata.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if r.get("split") == split and r.get("tonic_pc") is not None and r.get("mode")]


def chroma_of(corpus: str, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    treble, bass = [], []
    for row in rows:
        audio, sr = sf.read(os.path.join(corpus, row["path"]), dtype="float32")
        t, b = analysis.chroma_profiles(audio, sr)
        treble.append(t)
        bass.append(b)
    return np.array(treble), np.array(bass)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a corpus folder (metadata.jsonl with tonic_pc and mode)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--check", default="valid")
    parser.add_argument("--cache", default=None, help="an .npz keeping both splits' chroma")
    args = parser.parse_args()
    start = time.perf_counter()
    fit_rows, check_rows = keyed_rows(args.data, args.split), keyed_rows(args.data, args.check)
    if not fit_rows:
        raise SystemExit(f"No clip of split {args.split!r} in {args.data} has a known key (tonic_pc and mode).")
    if args.cache and os.path.isfile(args.cache):
        cached = np.load(args.cache)
        fit_chroma = cached["fit_treble"], cached["fit_bass"]
        check_chroma = cached["check_treble"], cached["check_bass"]
    else:
        fit_chroma, check_chroma = chroma_of(args.data, fit_rows), chroma_of(args.data, check_rows)
        if args.cache:
            np.savez(args.cache, fit_treble=fit_chroma[0], fit_bass=fit_chroma[1], check_treble=check_chroma[0],
                     check_bass=check_chroma[1])

    def keys(rows):
        return np.array([("major", "minor").index(r["mode"]) * 12 + int(r["tonic_pc"]) for r in rows])

    profiles = fit_key_profiles(*fit_chroma, keys(fit_rows))
    print(f"KEY_PROFILES = {json.dumps(profiles)}")
    for name, rows, (treble, bass) in ((args.split, fit_rows, fit_chroma), (args.check, check_rows, check_chroma)):
        if not rows:
            continue
        truth = keys(rows)
        fitted = key_logits(treble, bass, profiles).argmax(1)
        ks = np.array([("major", "minor").index(m) * 12 + tonic for tonic, m, _ in
                       (analysis.best_key(t, b) for t, b in zip(treble, bass))])
        mode_fitted, mode_ks = np.mean(fitted // 12 == truth // 12), np.mean(ks // 12 == truth // 12)
        print(f"{name} ({len(rows)} clips): exact key fitted {np.mean(fitted == truth):.3f} / Krumhansl-Schmuckler "
              f"{np.mean(ks == truth):.3f}; mode {mode_fitted:.3f} / {mode_ks:.3f}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
