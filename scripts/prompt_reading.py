"""How well the pipeline reads what a prompt says about tempo, key and mode (issue 30's benchmark).

A phrasing set built for it: every corpus genre x tempo words of each class (slow, moderate,
fast) in five phrasing families; the ``prose`` family (MusicCaps-like sentences, the tempo word
deep in the sentence) is held out: the reader's vocabulary and rules were written and tuned on
the other four only, and its rates are the ones the targets are judged on. Beside it, stated
numbers, a number against a word, negations, and keys and modes spelled in words.

Prints, per family and tempo class, the share of prompts read into the class's band by the
attribute reader alone (what the pipeline did before ``prompt_reader``; once the critic's text side) and by the pipeline
now (``encode_conditioning`` -> ``asked``). With ``--audio N`` it also generates N prompts of the
held-out family (half slow, half fast; ``--seconds`` each) and reads their tempo the way ``eval``
does: strictly in the band, with half / double time allowed, and against the asked bpm.

    python scripts/prompt_reading.py [--pipeline DIR] [--audio 48 --seconds 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
import torch

from musiclm_studio.data.genres import GENRES
from musiclm_studio.analysis import estimate_tempo, tempo_agrees
from musiclm_studio.vocab.attributes import read_attribute_tokens
from musiclm_studio.vocab.musical_key import key_name, key_token, parse_key
from musiclm_studio.pipeline import MusicLMPipeline

BANDS = {"slow": (0, 95), "moderate": (96, 119), "fast": (120, 1000)}  # what each class must be read as (bpm)
WORDS = {
    "slow": ["slow", "very slow", "laid-back", "relaxed", "unhurried", "leisurely", "adagio", "largo",
             "downtempo", "half-time"],
    "moderate": ["moderate", "medium", "mid-tempo", "moderato"],
    "fast": ["fast", "very fast", "upbeat", "frantic", "quick", "up-tempo", "allegro", "presto", "double-time",
             "brisk"],
}
INSTRUMENTS = ["piano", "electric guitar", "strings", "saxophone", "synth lead", "acoustic guitar", "organ",
               "flute"]
FAMILIES = {
    "adjective": ["a {w} {g} song", "{w} {g}", "a {w} {g} track with {i}"],
    "tempo phrase": ["{g} at a {w} tempo", "a {g} tune with a {w} tempo", "{g} music, {w} tempo"],
    "stacked": ["a warm, {w} {g}", "a dreamy and {w} {g} piece", "a {w}, gentle {g} with {i}"],
    "trailing": ["{g} with {i}, {w}", "{i} in a {g} style, {w}", "{g} led by {i}; {w}"],
    "prose": ["This {g} song has a {w} tempo, with {i} and a steady bass line.",
              "The tempo is {w}. This is a {g} track featuring {i}.",
              "{I} plays a melody over a {g} groove, and the pace is {w} throughout.",
              "A {g} recording with {i}; the song feels {w} and the mix is clean."],
}
HELD_OUT = "prose"


def phrasings(family: str, tempo_class: str) -> list[str]:
    """Every genre x template of ``family`` with the class's words taken in turn."""
    words, instruments = itertools.cycle(WORDS[tempo_class]), itertools.cycle(INSTRUMENTS)
    out = []
    for template in FAMILIES[family]:
        for genre in GENRES:
            w, i = next(words), next(instruments)
            text = template.replace("a {w}", ("an" if w[0] in "aeiou" else "a") + " {w}")
            out.append(text.format(w=w, g=genre, i=i, I=i.capitalize()))
    return out


NUMBERS = [(f"{g} at {n} bpm", n) for g, n in zip(GENRES, itertools.cycle([62, 75, 88, 96, 104, 118, 126, 140, 165]))]
NUMBER_BEATS_WORD = [(f"a slow {g} at {n} BPM", n) for g, n in zip(GENRES, itertools.cycle([124, 140, 150]))] + \
                    [(f"a fast {g}, 72 beats per minute", 72) for g in GENRES]
NEGATED = [(f"a {g} that is not too fast", (0, 119)) for g in GENRES] + \
          [(f"{g}, not slow at all", (96, 1000)) for g in GENRES]
KEYS = [(f"a {g} piece in {k}", k) for g, k in zip(GENRES, itertools.cycle(
    ["A minor", "F# major", "Bb major", "C minor", "E major", "D minor", "G major", "Eb minor", "B major"]))]
MODES = [(f"a {g} song in a {m} key", m) for g, m in zip(GENRES, itertools.cycle(["minor", "major"]))] + \
        [(f"a {g} tune with a {m} tonality", m) for g, m in zip(GENRES, itertools.cycle(["major", "minor"]))]

MOODS = [(f"a {w} {g} song", m) for g, (w, m) in zip(GENRES, itertools.cycle(
    [("happy", "major"), ("sad", "minor"), ("bright, cheerful", "major"), ("dark, brooding", "minor"),
     ("melancholic", "minor"), ("joyful", "major")]))]


def reader_bpms(pipe: MusicLMPipeline, texts: list[str]) -> list:
    """The bpm the attribute reader alone reads from each prompt (None: unstated)."""
    reader = pipe.components.attribute_reader
    features = pipe.components.mulan.text_features(texts)
    return [r["tempo"] for r in read_attribute_tokens(reader.config, reader.asked_tokens(features.to(pipe.device)).cpu())]


def pipeline_reading(pipe: MusicLMPipeline, texts: list[str]) -> list[dict]:
    """What the pipeline now tells the LMs for each prompt (``asked``: tempo, key, mode)."""
    return [pipe.asked(pipe.encode_conditioning(t, generator=torch.Generator().manual_seed(0)))[0] for t in texts]


def in_band(bpm, band) -> bool:
    return bpm is not None and band[0] <= bpm <= band[1]


def reading_table(pipe: MusicLMPipeline) -> dict:
    rows = {}
    for family, (name, band) in itertools.product(FAMILIES, BANDS.items()):
        texts = phrasings(family, name)
        before = reader_bpms(pipe, texts)
        after = [r["tempo"] for r in pipeline_reading(pipe, texts)]
        rows[f"{family} / {name}"] = {"n": len(texts), "before": float(np.mean([in_band(b, band) for b in before])),
                                      "after": float(np.mean([in_band(b, band) for b in after])),
                                      "misses": [t for t, b in zip(texts, after) if not in_band(b, band)][:5]}
    return rows


def other_checks(pipe: MusicLMPipeline) -> dict:
    out = {}
    for label, cases, check in [
        ("number", NUMBERS, lambda read, want: read["tempo"] == want),
        ("number beats word", NUMBER_BEATS_WORD, lambda read, want: read["tempo"] == want),
        ("negation", NEGATED, lambda read, band: in_band(read["tempo"], band)),
        ("key", KEYS, lambda read, want: read.get("key") == key_name(key_token(*parse_key(want)))),
        ("mode", MODES, lambda read, want: read.get("mode") == want),
        ("mood -> mode", MOODS, lambda read, want: read.get("mode") == want),
    ]:
        texts = [t for t, _ in cases]
        read = pipeline_reading(pipe, texts)
        ok = [check(r, want) for r, (_, want) in zip(read, cases)]
        out[label] = {"n": len(ok), "after": float(np.mean(ok)),
                      "misses": [f"{t} -> {r}" for (t, _), r, k in zip(cases, read, ok) if not k][:5]}
        if label == "mood -> mode":
            reader = pipe.components.attribute_reader
            tokens = reader.asked_tokens(pipe.components.mulan.text_features(texts).to(pipe.device)).cpu()
            modes = [r["mode"] for r in read_attribute_tokens(reader.config, tokens)]
            out[label]["before"] = float(np.mean([m == want for m, (_, want) in zip(modes, cases)]))
        if label.startswith("number") or label == "negation":
            before = reader_bpms(pipe, texts)
            from musiclm_studio.conditioning.prompt_reader import stated_tempo

            old = [{"tempo": stated_tempo(t) or b} for t, b in zip(texts, before)]  # the old rule: a number, else the critic
            out[label]["before"] = float(np.mean([check(r, want) for r, (_, want) in zip(old, cases)]))
    return out


def audio_check(pipe: MusicLMPipeline, n: int, seconds: float, before: bool = False) -> dict:
    """Generate ``n`` held-out prompts (half slow, half fast) and read their tempo as ``eval`` does.
    ``before``: lay the tempo the critic's text side alone reads (what the pipeline did before)."""
    slow, fast = phrasings(HELD_OUT, "slow"), phrasings(HELD_OUT, "fast")
    rng = np.random.default_rng(0)
    picks = [("slow", t) for t in rng.choice(slow, n // 2, replace=False)] + \
            [("fast", t) for t in rng.choice(fast, n - n // 2, replace=False)]
    rows, t0 = [], time.time()
    for k, (name, text) in enumerate(picks):
        bpm = reader_bpms(pipe, [text])[0] if before else None
        out = pipe(text, duration_s=seconds, seed=k, bpm=bpm)
        asked = out.asked[0]["tempo"] if out.asked else None
        read = estimate_tempo(out.audio.numpy(), out.sample_rate)
        band = BANDS[name]
        rows.append({"class": name, "prompt": text, "asked_bpm": asked, "audio_bpm": round(read, 1),
                     "strict": in_band(read, band),
                     "half_double": any(in_band(read * r, band) for r in (0.5, 1.0, 2.0)),
                     "agrees_with_asked": bool(asked) and tempo_agrees(read, float(asked))})
    summary = {key: float(np.mean([r[key] for r in rows])) for key in ("strict", "half_double", "agrees_with_asked")}
    for name in BANDS:
        part = [r for r in rows if r["class"] == name]
        if part:
            summary[name] = {key: float(np.mean([r[key] for r in part])) for key in ("strict", "half_double")}
    return {"n": len(rows), "seconds": seconds, "wall_s": round(time.time() - t0, 1), **summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", default=None, help="a saved pipeline folder (default: the shipped one)")
    parser.add_argument("--audio", type=int, default=0, help="generate this many held-out prompts and read their tempo")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--before", action="store_true",
                        help="audio: lay the tempo the critic alone reads (the pipeline before the prompt reader)")
    parser.add_argument("--json", default=None, help="also write every figure here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    table = reading_table(pipe)
    print(f"Tempo words read into their band (held-out family: {HELD_OUT})\n")
    print("| family / class | n | critic alone (before) | pipeline (now) |\n|---|---:|---:|---:|")
    for name, row in table.items():
        print(f"| {name}{' (held out)' if name.startswith(HELD_OUT) else ''} | {row['n']} | {row['before']:.3f} | {row['after']:.3f} |")
    others = other_checks(pipe)
    print("\n| check | n | before | now |\n|---|---:|---:|---:|")
    for name, row in others.items():
        before = f"{row['before']:.3f}" if "before" in row else "same rule"
        print(f"| {name} | {row['n']} | {before} | {row['after']:.3f} |")
    misses = {k: v["misses"] for k, v in {**table, **others}.items() if v["misses"]}
    if misses:
        print("\nMisses (up to 5 each):")
        for name, texts in misses.items():
            print(f"  {name}: " + " || ".join(texts))
    result = {"reading": table, "checks": others}
    if args.audio:
        audio = audio_check(pipe, args.audio, args.seconds, args.before)
        result["audio"] = audio
        print(f"\nAudio{' (before: the critic alone)' if args.before else ''} ({audio['n']} held-out prompts x {args.seconds:g} s, {audio['wall_s']} s): tempo in the asked "
              f"band strictly {audio['strict']:.3f}, half / double allowed {audio['half_double']:.3f}; agrees with the "
              f"asked bpm (8 %, half / double) {audio['agrees_with_asked']:.3f}")
        for name in BANDS:
            if name in audio:
                print(f"  {name}: strict {audio[name]['strict']:.3f}, half / double {audio[name]['half_double']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
