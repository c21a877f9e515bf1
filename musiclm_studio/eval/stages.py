"""Where prompts stop being followed: each stage fed the real clip's tokens, the rest generated.

``musiclm-studio stages --data corpus/heldout --n 24 --out runs/stages`` takes real clips with known
attributes and produces, for each clip, audio from progressively more generated stages:

    real            the clip itself (the analysers' ceiling)
    codec           its own coarse + fine codes, decoded (what the codec keeps)
    fine            its coarse codes, generated fine codes (what the fine LM keeps)
    coarse          its semantic tokens, generated coarse + fine codes (what the acoustic LMs keep)
    audio_mulan     MuLan tokens of its *audio* (what the LMs were trained on), all LMs generating
    text            MuLan tokens of its caption (the product: text to music)

The same analysers as ``musiclm-studio eval`` (tempo half / double allowed, key mode, a
percussive-share drum threshold fitted on the real clips, lead family by MuLan) score every
row against the clip's own attributes. The first row whose rate falls well below the one above
names the stage to improve.

``--semantic-only`` generates no audio: it reads the tempo in semantic tokens (the onset flux of
their centroids, ``SemanticTokenizer.onset_envelope``) for the clip's own tokens and for tokens
the semantic LM generates from MuLan tokens of its audio and of its caption, scored on what the
caption asks (as ``eval``), with a chance rate. Seconds per clip instead of minutes: the quick
check while training a semantic LM or refitting the tokenizer.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from ..analysis import envelope_tempo, key_scores, percussive_ratio
from .adherence import CHECKED, _asked, _needed, _rate, attribute_checks, check_reading, drum_threshold
from .mulan import embed_clips

ROWS = ("real", "codec", "fine", "coarse", "audio_mulan", "text")


@torch.no_grad()
def stage_audio(pipe, clip: torch.Tensor, caption: str, seconds: float, seed: int) -> dict[str, torch.Tensor]:
    """One real clip [S] at the pipeline's rate -> audio [S'] per row of ``ROWS``."""
    from ..sampling_args import DEFAULTS, check_sampling_args

    clip = clip[: int(seconds * pipe.sample_rate)].float()
    real = pipe.tokenize_audio(clip, pipe.sample_rate)
    device = pipe.device
    semantic, coarse, fine = (t.to(device) for t in (real.semantic, real.coarse, real.fine))

    def args():  # the pipeline's default sampling, one generator per row so rows do not share draws
        a = check_sampling_args(seconds, None, DEFAULTS["top_k"], None, None, 1, pipe.config.max_duration_s)
        a.generator = torch.Generator().manual_seed(seed)
        return a

    def from_semantic(cond, tokens):
        c = pipe.generate_coarse(cond, tokens, sampling=args())
        return pipe.decode(c, pipe.generate_fine(c, sampling=args()))

    text = pipe.encode_conditioning(caption, duration_s=seconds)
    heard = dataclasses.replace(text, mulan_tokens=pipe.components.mulan.tokenize(
        pipe.components.mulan.embed_audio(clip[None].to(device))))
    out = {
        "real": clip,
        "codec": pipe.decode(coarse, fine)[0],
        "fine": pipe.decode(coarse, pipe.generate_fine(coarse, sampling=args()))[0],
        "coarse": from_semantic(text, semantic)[0],
        "audio_mulan": from_semantic(heard, pipe.generate_semantic(heard, seconds, sampling=args()))[0],
        "text": from_semantic(text, pipe.generate_semantic(text, seconds, sampling=args()))[0],
    }
    return {k: v.float().cpu() for k, v in out.items()}


def stage_report(pipe, rows: list[dict], clips: list[torch.Tensor], seconds: float = 10.0, seed: int = 0,
                 log=print) -> dict:
    """Attribute rates and percussive shares per row of ``ROWS`` over real clips with known attributes."""
    if not rows:
        raise ValueError("No clips to score: give a corpus split with clips (see --data / --split).")
    audio: dict[str, list[torch.Tensor]] = {k: [] for k in ROWS}
    start = time.perf_counter()
    for n, (row, clip) in enumerate(zip(rows, clips)):
        for name, wave in stage_audio(pipe, clip, row["caption"], seconds, seed + n).items():
            audio[name].append(wave)
        log(f"{n + 1}/{len(rows)} clips, {time.perf_counter() - start:.0f} s")
    sr, mulan = pipe.sample_rate, pipe.components.mulan
    has_drums = [bool(r.get("drums")) for r in rows]
    shares = {k: [percussive_ratio(c, sr) for c in v] for k, v in audio.items()}
    threshold = drum_threshold(shares["real"], has_drums)
    report: dict = {"clips": len(rows), "seconds": seconds, "drum_threshold": threshold, "rows": {}}
    for name in ROWS:
        ratios = dict(enumerate(shares[name]))
        checks = attribute_checks(audio[name], rows, sr, mulan, embed_clips(mulan, audio[name]), threshold, ratios)
        entry = {check: _rate(v)[0] for check, v in checks.items()}
        for label, want in (("percussive_share_drums", True), ("percussive_share_no_drums", False)):
            picked = [s for s, d in zip(shares[name], has_drums) if d == want]
            entry[label] = float(np.mean(picked)) if picked else None
        report["rows"][name] = entry
    return report


SEMANTIC_ROWS = ("real_tokens", "audio_mulan", "text")


def token_tempo(tokenizer, tokens: torch.Tensor) -> float:
    """Tempo in bpm read from one semantic token sequence [T] (0.0 when its flux is flat)."""
    envelope = tokenizer.onset_envelope(tokens.cpu()).numpy()
    return envelope_tempo(np.maximum(envelope - np.median(envelope), 0.0), tokenizer.frame_rate)


def token_mode(tokenizer, tokens: torch.Tensor) -> str:
    """'major' or 'minor': the Krumhansl-Schmuckler key that fits the chroma a semantic token sequence [T] spells."""
    return key_scores(tokenizer.chroma_profile(tokens.cpu()).numpy())[1]


@torch.no_grad()
def semantic_tempo_report(pipe, rows: list[dict], clips: list[torch.Tensor], seconds: float = 10.0, seed: int = 0,
                          log=print) -> dict:
    """Tempo and mode followed by semantic tokens alone (rows of ``SEMANTIC_ROWS``), each over the clips
    whose caption asks for it; ``chance``: the text row scored against the next such clip's request."""
    from ..sampling_args import DEFAULTS, check_sampling_args

    tokenizer, mulan = pipe.components.semantic_tokenizer, pipe.components.mulan
    picked = [(row, clip) for row, clip in zip(rows, clips) if {"tempo", "mode"} & set(_needed(_asked(row)))]
    if not picked:
        raise ValueError("No clip's caption asks for a tempo or a mode: give more clips (--n) or another corpus.")
    readings: dict[str, list[dict]] = {k: [] for k in SEMANTIC_ROWS}
    start = time.perf_counter()
    for n, (row, clip) in enumerate(picked):
        clip = clip[: int(seconds * pipe.sample_rate)].float()
        sampling = check_sampling_args(seconds, None, DEFAULTS["top_k"], None, None, 1, pipe.config.max_duration_s)
        generator = torch.Generator().manual_seed(seed + n)
        text = pipe.encode_conditioning(row["caption"], duration_s=seconds, generator=generator)
        heard = dataclasses.replace(text, mulan_tokens=mulan.tokenize(mulan.embed_audio(clip[None].to(pipe.device))))
        tokens = {"real_tokens": tokenizer(clip[None].to(pipe.device))[0]}
        for name, cond in (("audio_mulan", heard), ("text", text)):
            sampling.generator = torch.Generator().manual_seed(seed + n)
            tokens[name] = pipe.generate_semantic(cond, seconds, sampling=sampling)[0]
        for name, t in tokens.items():
            readings[name].append({"bpm": token_tempo(tokenizer, t), "mode": token_mode(tokenizer, t)})
        log(f"{n + 1}/{len(picked)} clips, {time.perf_counter() - start:.0f} s")
    asked = [_asked(row) for row, _ in picked]
    report = {"clips": len(picked), "seconds": seconds}
    for check in ("tempo", "mode"):
        index = [i for i, a in enumerate(asked) if check in _needed(a)]
        wanted = [asked[i] for i in index]

        def rate(read: list[dict], wanted: list[dict]) -> float:
            return float(np.mean([check_reading(r, a, 0.0)[check] for r, a in zip(read, wanted)]))

        report[check] = {k: rate([v[i] for i in index], wanted) if index else None for k, v in readings.items()}
        report[check]["chance"] = rate([readings["text"][i] for i in index], wanted[1:] + wanted[:1]) \
            if len(index) > 1 else None
        report[f"{check}_clips"] = len(index)
    return report


def semantic_markdown(report: dict) -> str:
    cell = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    rows = [f"| {name.replace('_', ' ')} | {cell(v)} | {cell(report['mode'][name])} |"
            for name, v in report["tempo"].items()]
    return (f"{report['clips']} real clips x {report['seconds']:g} s; tempo ({report['tempo_clips']} clips) and mode "
            f"({report['mode_clips']}) read from semantic tokens, each scored on the clips whose caption asks for it"
            "\n\n| tokens | tempo followed | mode followed |\n|---|---:|---:|\n" + "\n".join(rows) + "\n")


def markdown(report: dict) -> str:
    keys = list(CHECKED) + ["percussive_share_drums", "percussive_share_no_drums"]
    lines = [f"{report['clips']} real clips x {report['seconds']:g} s; drum threshold {report['drum_threshold']:.3f}",
             "", "| row | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for name, entry in report["rows"].items():
        cells = ["-" if entry[k] is None else f"{entry[k]:.3f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cmd_stages(args: argparse.Namespace) -> int:
    import json
    import os

    from ..pipeline import MusicLMPipeline
    from ..train.data import load_split
    from .cli import _check_seconds

    _check_seconds([args.seconds])
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = MusicLMPipeline.from_pretrained(args.pipeline, device=args.device, int8=False if args.no_int8 else None)
    pipe.show_progress = False
    rows, clips = load_split(args.data, None if args.split == "all" else args.split, pipe.sample_rate, limit=args.n)
    if args.semantic_only:
        report = semantic_tempo_report(pipe, rows, clips, args.seconds, args.seed)
    else:
        report = stage_report(pipe, rows, clips, args.seconds, args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "stages.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    table = semantic_markdown(report) if args.semantic_only else markdown(report)
    with open(os.path.join(args.out, "stages.md"), "w", encoding="utf-8") as f:
        f.write(table)
    print(table)
    return 0


def register(sub) -> None:
    s = sub.add_parser("stages", help="where prompts stop being followed: each stage fed a real clip's tokens")
    s.add_argument("--pipeline", default=None, help="saved pipeline folder (default: the shipped model)")
    s.add_argument("--data", required=True, help="a corpus with attributes (corpus/heldout: never trained on)")
    s.add_argument("--split", default="all", help="the corpus split, or all (default)")
    s.add_argument("--n", type=int, default=24, help="how many clips (each costs about four generations)")
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default=None)
    s.add_argument("--no-int8", action="store_true", help="keep the LMs in float on a CPU (default: int8 weights)")
    s.add_argument("--semantic-only", action="store_true",
                   help="no audio: tempo read from real and generated semantic tokens (seconds per clip)")
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--out", required=True, help="folder for stages.json and stages.md")
    s.set_defaults(func=cmd_stages)
