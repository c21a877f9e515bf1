"""Told a key in words, does the audio play in it? (issue 23's key target: >= 100 prompts in varied wording)

Prompts: ``--n`` (default 120) of them, every key of the 24 as often, genres of the corpus in turn, the key
spelled every way caption v2 spells it (``captions_v2.key_phrase``: "in B flat major", "in the key of
bb minor", "in Bb maj", "in A# minor") inside five sentence plans (terse, a request, MusicCaps-like
prose, tags, a trailing key); every sixth prompt gives the key as ``key=`` instead. Each is generated
for ``--seconds`` (default 10) with the pipeline's defaults and one seed per prompt, once with the key
lock (``key_lock.py``: transposition onto the asked tonic where the audio plays in the asked mode)
and, unless ``--no-before``, once without (``key_lock=False``: the pipeline as it was).

The audio's key is read by two analysers: the eval's (``analysis.estimate_key_mode``, the one the key
lock reads) and, as a judge the key lock never consults, Essentia's ``KeyExtractor`` (EDMA profile)
when ``essentia`` is installed (``pip install essentia``; AGPL-3.0, used by this script only). Prints
and writes (``--json``) the shares in exactly the asked key and in the asked mode, per analyser.

    python scripts/key_prompts.py [--pipeline DIR] [--n 120] [--seconds 10] [--json out.json]
        [--key-guidance SEMANTIC COARSE] [--set-seed 0]

``--set-seed`` draws another prompt set (other key spellings; generation seeds move with it): tune on
one, report on the target's set 0.
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np
import torch

from musiclm_studio import key_lock
from musiclm_studio.analysis import estimate_key_mode
from musiclm_studio.data.captions_v2 import key_phrase
from musiclm_studio.data.genres import GENRES
from musiclm_studio.pipeline import MusicLMPipeline
from musiclm_studio.vocab.musical_key import NOTE_NAMES, parse_key

PLANS = (
    "{genre} {key}",
    "I'd like a {mood} {genre} piece {key}, please",
    "The recording features a {mood} {genre} song {key}. The tempo is moderate",
    "{genre}, {mood}, {bare}",
    "a {mood} {genre} track that stays {key} all the way through",
)
MOODS = ("calm", "bright", "dark", "energetic", "dreamy", "melancholic")


def prompt_set(n: int, seed: int = 0) -> list[dict]:
    """``n`` prompts: (text, key given as ``key=`` or None, asked tonic index, asked mode)."""
    rng = np.random.default_rng(seed)
    genres = sorted(GENRES)
    items = []
    for i in range(n):
        tonic, mode = (i * 7) % 12, ("major", "minor")[(i // 12) % 2]  # every key as often, tonics spread
        genre, mood = genres[i % len(genres)], MOODS[i % len(MOODS)]
        if i % 6 == 5:
            items.append({"text": re.sub(r"\ba ([aeiou])", r"an \1", f"a {mood} {genre} piece"),
                          "key": f"{NOTE_NAMES[tonic]} {mode}", "tonic": tonic, "mode": mode, "plan": "key="})
            continue
        phrase = key_phrase(tonic, mode, rng, with_tonic=True)
        plan = PLANS[i % len(PLANS)]
        text = plan.format(genre=genre, mood=mood, key=phrase, bare=phrase.removeprefix("in ").removeprefix("the key of "))
        text = re.sub(r"\ba ([aeiou])", r"an \1", text)
        items.append({"text": text, "key": None, "tonic": tonic, "mode": mode, "plan": i % len(PLANS)})
    return items


def essentia_key(audio: np.ndarray, sample_rate: int):
    """(tonic index, mode) by Essentia's KeyExtractor, or None when essentia is not installed."""
    try:
        import essentia.standard as es
    except ImportError:
        return None
    key, scale, _ = es.KeyExtractor(sampleRate=float(sample_rate), profileType="edma")(audio.astype(np.float32))
    return parse_key(f"{key} {scale}")


def read(audio: np.ndarray, sample_rate: int) -> dict:
    tonic, mode = estimate_key_mode(audio, sample_rate)
    out = {"ours": [NOTE_NAMES.index(tonic), mode]}
    judged = essentia_key(audio, sample_rate)
    if judged is not None:
        out["essentia"] = [int(judged[0]), judged[1]]
    return out


def shares(rows: list[dict], which: str) -> dict:
    out = {}
    for judge in ("ours", "essentia"):
        got = [(r[which][judge], (r["tonic"], r["mode"])) for r in rows if judge in r[which]]
        if got:
            out[judge] = {"exact": round(float(np.mean([tuple(g) == a for g, a in got])), 3),
                          "mode": round(float(np.mean([g[1] == a[1] for g, a in got])), 3), "n": len(got)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default=None)
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-before", action="store_true", help="only with the key lock")
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 beside another job)")
    parser.add_argument("--set-seed", type=int, default=0, help="another prompt set to tune on (default 0: the target's)")
    parser.add_argument("--key-guidance", type=float, nargs=2, metavar=("SEMANTIC", "COARSE"), default=None,
                        help="the key lock's key guidance per stage instead of key_lock.KEY_GUIDANCE (0 0: none)")
    args = parser.parse_args()
    if args.key_guidance is not None:
        key_lock.KEY_GUIDANCE.update(zip(("semantic", "coarse"), args.key_guidance))
    torch.set_num_threads(args.threads)
    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    rows, start = [], time.time()
    for i, item in enumerate(prompt_set(args.n, seed=args.set_seed)):
        row = dict(item)
        for lock in (True,) if args.no_before else (True, False):
            out = pipe(item["text"], key=item["key"], duration_s=args.seconds, seed=1000 + 1000 * args.set_seed + i,
                       key_lock=lock)
            row["after" if lock else "before"] = read(out.audio.numpy(), pipe.sample_rate)
            if lock and out.key_lock is not None:
                row["semitones"] = out.key_lock.semitones
        rows.append(row)
        print(f"{i + 1}/{args.n} {time.time() - start:.0f}s  {item['text']!r} key={item['key']} -> "
              + "  ".join(f"{k}: {NOTE_NAMES[row[k]['ours'][0]]} {row[k]['ours'][1]}" for k in ("before", "after") if k in row),
              flush=True)
    result = {"pipeline": args.pipeline or "shipped", "set_seed": args.set_seed, "n": len(rows), "seconds": args.seconds,
              "after": shares(rows, "after"), "transposed": sum(bool(r.get("semitones")) for r in rows),
              "wall_s": round(time.time() - start, 1)}
    if not args.no_before:
        result["before"] = shares(rows, "before")
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**result, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
