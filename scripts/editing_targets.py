"""Measure issue 25's editing targets on the shipped model (docs/experiments/editing.md has the numbers).

    python scripts/editing_targets.py [--trials 20] [--seconds 6] [--out /tmp/editing_targets.json] [--png-dir docs/img]

- variation keeping the semantic tokens under another prompt: frame-wise chroma cosine to the
  original (librosa chroma_cqt, 0.17-s frames, mean over frames), and whether the critic's audio
  side hears the lead family the new prompt asks for (and heard it in the original);
- repaint of [2, 4) s under another prompt: samples outside the region and its fades equal; MuLan
  score of the new prompt on the region, repainted against original; loudness jump at the seams
  (RMS dB of the 0.25 s after each seam minus that before it, absolute), beside the same measure
  at the same places in the original;
- negative prompt "drums" on prompts that leave drums open: the percussive share (HPSS) and the
  critic's drum probability, same seed with and without;
- cost: each edit's wall time against generating its own length from scratch (the first
  ``--cost-trials``, after one untimed generation, repaint and extend; on a shared machine wall times
  are noisy, so the medians of ratios are reported);
- ``--stage-repeats N`` instead: the cost of every action, side by side: the seconds of each stage
  (``out.timings``) of a repaint of [2, 4) s, an extend by 4 s, two variations, a weighted and a
  negative prompt, a MIDI transcription and a 4-bar loop, and of generating their own lengths (for
  repaint and extend both readings: the edited span, and the clip each returns), the minimum of N
  interleaved runs (the shared machine's noise filtered out), and each action's ratio;
- ``--vary-seed S`` instead: the variation trials alone, originals on seeds S, S + 1, ... and their
  variations on S + 100, ... (``--vary-temperature T``: the coarse stage's temperature;
  ``--vary-no-negative``: no negative prompt, where a variation under a new prompt moves away from the
  original's by default);
- ``--repaint-seed S`` instead: the repaint trials alone, originals on seeds S, S + 1, ... and their
  repaints on S + 200, ... (``--start-candidates K`` sets ``editing.START_CANDIDATES``: tune it on seeds
  other than a full run's 0... / 200...);
- ``--negative-seed S`` instead: the negative-prompt trials alone, on seeds S, S + 1, ... (another
  sample of the 20 drum-open prompts than a full run's seeds 300...).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from musiclm_studio import editing, seams  # noqa: E402
from musiclm_studio.analysis import percussive_ratio  # noqa: E402
from musiclm_studio.pipeline import MusicLMPipeline  # noqa: E402

# (original prompt, new prompt, the lead family the new prompt asks for)
VARIATIONS = [
    ("a pop song with a bright piano lead", "a pop song played by a string section", "strings"),
    ("a calm folk song with acoustic guitar", "a calm folk song played on a church organ", "organ"),
    ("a jazz ballad with a saxophone lead", "a jazz ballad with a piano lead", "piano"),
    ("an upbeat rock song with electric guitar", "an upbeat rock song with a brass section lead", "brass"),
    ("a cinematic piece with strings", "a cinematic piece with a synth lead", "synth"),
    ("a bossa nova with nylon guitar", "a bossa nova with a flute melody", "pipe"),
    ("a blues with an electric guitar lead", "a blues with a harmonica and organ lead", "organ"),
    ("a lo-fi hip hop beat with electric piano", "a lo-fi hip hop beat with a guitar melody", "guitar"),
    ("a classical piano piece", "a classical piece for string quartet", "strings"),
    ("a country song with acoustic guitar", "a country song with a piano lead", "piano"),
    ("an ambient track with synth pads", "an ambient track with a soft piano", "piano"),
    ("a funk groove with a clavinet", "a funk groove with a brass section", "brass"),
    ("a reggae tune with an organ skank", "a reggae tune with a guitar lead", "guitar"),
    ("a house track with a synth lead", "a house track with a piano riff", "piano"),
    ("a waltz played on piano", "a waltz played by strings", "strings"),
    ("a latin tune with a trumpet lead", "a latin tune with a marimba lead", "chromatic percussion"),
    ("a metal song with distorted guitars", "a metal song with a synth lead", "synth"),
    ("a folk ballad with a fiddle", "a folk ballad with a clarinet lead", "reed"),
    ("a techno track with a synth lead", "a techno track with an organ lead", "organ"),
    ("a gentle lullaby on a music box", "a gentle lullaby on an acoustic guitar", "guitar"),
]
OPEN_DRUMS = ["a jazz tune", "a pop song", "a rock song", "a funk groove", "a bossa nova", "a country song",
              "a reggae tune", "a blues", "a latin tune", "a house track", "a folk song", "a soul ballad",
              "a lo-fi hip hop track", "a disco song", "a techno track", "an indie pop song", "a swing tune",
              "a hip hop beat", "a metal song", "a cinematic piece"]
REPAINT_PROMPTS = ["a loud drum break", "a calm solo piano", "a string section swell", "a distorted guitar riff",
                   "a soft flute melody"]


def chroma_cosine(a: torch.Tensor, b: torch.Tensor, sr: int) -> float:
    import librosa

    ca = librosa.feature.chroma_cqt(y=a.numpy().astype(np.float32), sr=sr, hop_length=4096)
    cb = librosa.feature.chroma_cqt(y=b.numpy().astype(np.float32), sr=sr, hop_length=4096)
    n = min(ca.shape[1], cb.shape[1])
    ca, cb = ca[:, :n], cb[:, :n]
    cos = (ca * cb).sum(0) / (np.linalg.norm(ca, axis=0) * np.linalg.norm(cb, axis=0) + 1e-9)
    return float(cos.mean())


def seam_jump(audio: torch.Tensor, at: int, sr: int) -> float:
    """The loudness step at sample ``at``: the measure repaint picks its seam by (``seams.level_jump_db``)."""
    return seams.level_jump_db(audio, at, round(seams.SEAM_WINDOW_S * sr))


def critic_read(pipe, coarse: torch.Tensor) -> dict:
    critic = pipe.components.critic
    with torch.no_grad():
        heard = critic.audio_logits(coarse.to(pipe.device))
    return {"family": critic.config.families[int(heard["lead_family"][0].argmax())],
            "drums": float(heard["drums"].softmax(-1)[0, 1])}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def warm_up(pipe, seconds: float, seed: int = 0) -> tuple:
    """One generation, repaint of [2, 4) s and 4-s extension, untimed: one-off first-call costs (librosa's
    beat tracker compiling) are not an edit's. Returns (the generation, the repaint's ``edit``)."""
    original = pipe(VARIATIONS[0][0], duration_s=seconds, seed=seed)
    edit = pipe.repaint(original, 2.0, 4.0, prompt=REPAINT_PROMPTS[0], seed=200 + seed).edit
    pipe.extend(original, 4.0, seed=500 + seed)
    return original, edit


def vary_trial(pipe, original, i: int, seed: int, **sampling):
    """Variation ``i`` of ``VARIATIONS`` of ``original``, its semantic tokens kept, under the new prompt on ``seed``:
    (the variation, its row: chroma cosine to the original, the lead family the critic hears before and after)."""
    original_prompt, new_prompt, family = VARIATIONS[i % len(VARIATIONS)]
    varied, elapsed = timed(lambda: pipe.vary(original, keep="semantic", prompt=new_prompt, seed=seed, **sampling))
    assert torch.equal(varied.tokens.semantic, original.tokens.semantic)
    before, after = critic_read(pipe, original.tokens.coarse), critic_read(pipe, varied.tokens.coarse)
    return varied, {"prompt": original_prompt, "new": new_prompt, "asked": family, "seconds": elapsed,
                    "chroma_cosine": chroma_cosine(original.audio, varied.audio, pipe.sample_rate),
                    "family_before": before["family"], "family_after": after["family"]}


def vary_only(trials: int, seconds: float, seed_base: int, coarse_temperature: float | None,
              no_negative: bool = False) -> dict:
    """The variation trials alone: original ``i`` on seed ``seed_base + i``, its variation on ``seed_base + 100 + i``
    (another sample of seeds than a full run's 0... and 100...), the coarse stage at ``coarse_temperature``;
    ``no_negative``: no negative prompt (``negative_prompt=""``; by default a variation under a new prompt moves
    away from the original's, ``editing.away_from``)."""
    sampling = {} if coarse_temperature is None else {"temperature": {"coarse": coarse_temperature}}

    def trial(pipe, i):
        old = VARIATIONS[i % len(VARIATIONS)][0]
        original = pipe(old, duration_s=seconds, seed=seed_base + i)
        negative = {"negative_prompt": ""} if no_negative else {}
        return vary_trial(pipe, original, i, seed_base + 100 + i, **sampling, **negative)[1]

    return trials_alone("variation", trials, trial, vary_summary)


def vary_summary(v: list[dict]) -> dict:
    return {
        "variation_chroma_cosine_median": statistics.median(x["chroma_cosine"] for x in v),
        "variation_chroma_cosine_min": min(x["chroma_cosine"] for x in v),
        "variation_chroma_at_least_0.6": sum(x["chroma_cosine"] >= 0.6 for x in v) / len(v),
        "variation_family_as_asked": sum(x["family_after"] == x["asked"] for x in v) / len(v),
        "original_family_as_asked": sum(x["family_before"] == x["asked"] for x in v) / len(v)}


def repaint_trial(pipe, original, region_prompt: str, seed: int, start_s: float = 2.0, end_s: float = 4.0):
    """Repaint [start_s, end_s) of ``original`` under ``region_prompt`` on ``seed``: (the repaint, its row: samples
    outside the region and fades equal, the seam on a beat, MuLan of the new prompt on the region repainted and
    original, the loudness steps at both seams and the original's at the same places)."""
    sr, hop, rate = pipe.sample_rate, pipe.config.codec.hop_length, pipe.config.coarse_lm.frame_rate
    repainted, elapsed = timed(lambda: pipe.repaint(original, start_s, end_s, prompt=region_prompt, seed=seed))
    fade = round(editing.CROSSFADE_S * rate)
    frames = original.tokens.coarse.shape[-1]
    differs = (repainted.audio != original.audio).nonzero()
    first, last = int(differs.min()), int(differs.max())
    a = round(repainted.edit["start_s"] * rate) * hop
    seam = round(repainted.edit["end_s"] * rate)  # the seam it chose
    beats = seams.beat_frames(pipe, repainted.conditioning, frames, original.audio)
    grid = repainted.conditioning.tempo_bpm is not None and any(repainted.conditioning.tempo_bpm)
    region = slice(a, seam * hop)
    s_new = pipe.score(region_prompt, repainted.audio[region][None]).item()
    s_old = pipe.score(region_prompt, original.audio[region][None]).item()
    jumps = [seam_jump(repainted.audio, a, sr), seam_jump(repainted.audio, (seam + fade) * hop, sr)]
    baseline = [seam_jump(original.audio, a, sr), seam_jump(original.audio, (seam + fade) * hop, sr)]
    return repainted, {"prompt": region_prompt, "seed": seed, "seconds": elapsed, "first_changed_s": first / sr,
                       "last_changed_s": last / sr, "start_s": a / sr,
                       "outside_identical": first >= a - fade * hop and last < (seam + fade) * hop,
                       "seam_on_beat": seam in beats, "beats_from": "grid" if grid else "librosa",
                       "seam_s": seam * hop / sr, "mulan_new": s_new, "mulan_original": s_old,
                       "seam_jump_db": jumps, "original_jump_db": baseline}


def repaint_only(trials: int, seconds: float, seed_base: int) -> dict:
    """The repaint trials alone: original ``i`` on seed ``seed_base + i``, its repaint on ``seed_base + 200 + i``
    (another sample of seeds than a full run's 0... and 200...: what a repaint setting is tuned on)."""
    def trial(pipe, i):
        original = pipe(VARIATIONS[i % len(VARIATIONS)][0], duration_s=seconds, seed=seed_base + i)
        return repaint_trial(pipe, original, REPAINT_PROMPTS[i % len(REPAINT_PROMPTS)], seed_base + 200 + i)[1]

    return trials_alone("repaint", trials, trial, repaint_summary)


def repaint_summary(p: list[dict]) -> dict:
    med = statistics.median
    return {
        "repaint_outside_identical": sum(x["outside_identical"] for x in p) / len(p),
        "repaint_seam_on_beat": sum(x["seam_on_beat"] for x in p) / len(p),
        "repaint_mulan_rises": sum(x["mulan_new"] > x["mulan_original"] for x in p) / len(p),
        "repaint_seam_jump_db_median": med(j for x in p for j in x["seam_jump_db"]),
        "repaint_seam_jump_db_median_start_back": [med(x["seam_jump_db"][k] for x in p) for k in (0, 1)],
        "original_jump_db_median_same_places": med(j for x in p for j in x["original_jump_db"]),
        "original_jump_db_median_start_back": [med(x["original_jump_db"][k] for x in p) for k in (0, 1)]}


def negative_trial(pipe, i: int, seconds: float, seed_base: int) -> dict:
    """Drum-open prompt ``i`` with and without the negative prompt "drums", both on seed ``seed_base + i``."""
    open_prompt, sr = OPEN_DRUMS[i % len(OPEN_DRUMS)], pipe.sample_rate
    plain = pipe(open_prompt, duration_s=seconds, seed=seed_base + i)
    negative = pipe(open_prompt, duration_s=seconds, seed=seed_base + i, negative_prompt="drums")
    return {"prompt": open_prompt,
            "percussive_plain": percussive_ratio(plain.audio.numpy(), sr),
            "percussive_negative": percussive_ratio(negative.audio.numpy(), sr),
            "critic_drums_plain": critic_read(pipe, plain.tokens.coarse)["drums"],
            "critic_drums_negative": critic_read(pipe, negative.tokens.coarse)["drums"]}


def negative_only(trials: int, seconds: float, seed_base: int) -> dict:
    """The negative-prompt trials alone, on seeds ``seed_base + i`` (another sample of seeds than a full run's)."""
    return trials_alone("negative", trials, lambda pipe, i: negative_trial(pipe, i, seconds, seed_base),
                        negative_summary)


def trials_alone(name: str, trials: int, trial, summarise) -> dict:
    """One kind of trial alone: ``trial(pipe, i)``'s row for i < ``trials``, each printed as it comes (a stopped
    run's rows stay in its log), as ``{name: rows, "summary": summarise(rows)}``."""
    pipe, rows = shipped_pipe(), []
    for i in range(trials):
        rows.append(trial(pipe, i))
        print(json.dumps(rows[-1]), flush=True)
    return {name: rows, "summary": summarise(rows)}


def shipped_pipe() -> MusicLMPipeline:
    """The shipped model, quiet (no progress bars between the rows printed)."""
    pipe = MusicLMPipeline.from_pretrained()
    pipe.show_progress = False
    return pipe


# the percussive share above which a clip has drums: the corpus's clips without drums read 0.024 +- 0.011
# (docs/corpus.md), so their mean + 2 sd; below it a clip's share moves by noise
DRUMS_SHARE = 0.024 + 2 * 0.011


def negative_summary(n: list[dict]) -> dict:
    med = statistics.median
    drums = [x for x in n if x["percussive_plain"] > DRUMS_SHARE]  # drums without the negative prompt
    return {
        "negative_percussive_falls": sum(x["percussive_negative"] < x["percussive_plain"] for x in n) / len(n),
        "negative_percussive_falls_where_drums": [sum(x["percussive_negative"] < x["percussive_plain"] for x in drums),
                                                  len(drums)],
        "negative_critic_drums_falls": sum(x["critic_drums_negative"] < x["critic_drums_plain"] for x in n) / len(n),
        "negative_percussive_median": [med(x["percussive_plain"] for x in n), med(x["percussive_negative"] for x in n)]}


def run(trials: int, seconds: float, png_dir: str | None, cost_trials: int) -> dict:
    pipe = shipped_pipe()
    sr = pipe.sample_rate
    result = {"trials": trials, "seconds": seconds, "variation": [], "repaint": [], "negative": [], "cost": []}
    if cost_trials:
        warm_up(pipe, seconds)
    for i in range(trials):
        original_prompt = VARIATIONS[i % len(VARIATIONS)][0]
        original, t_gen = timed(lambda: pipe(original_prompt, duration_s=seconds, seed=i))
        # 1. variation keeping the semantic tokens, under the new prompt
        varied, row = vary_trial(pipe, original, i, 100 + i)
        t_vary = row["seconds"]
        result["variation"].append(row)
        # 2. repaint [2, 4) s under another prompt
        region_prompt = REPAINT_PROMPTS[i % len(REPAINT_PROMPTS)]
        repainted, row = repaint_trial(pipe, original, region_prompt, 200 + i)
        t_repaint, a, seam = row["seconds"], round(row["start_s"] * sr), round(row["seam_s"] * sr)
        if png_dir and i == 0:
            save_pngs(pipe, png_dir, original, varied, repainted, a, seam)
        result["repaint"].append(row)
        # 3. negative prompt "drums", same seed with and without
        result["negative"].append(negative_trial(pipe, i, seconds, 300))
        # 4. cost: each edit against generating its own length from scratch (the first ``cost_trials``)
        if i >= cost_trials:
            print(json.dumps({k: v[-1] for k, v in result.items() if isinstance(v, list) and k != "cost"}), flush=True)
            continue
        _, t_region = timed(lambda: pipe(region_prompt, duration_s=(seam - a) / sr, seed=400 + i))
        extended, t_extend = timed(lambda: pipe.extend(original, 4.0, seed=500 + i))
        assert torch.equal(extended.audio[: original.audio.numel()], original.audio)
        _, t_four = timed(lambda: pipe(original_prompt, duration_s=4.0, seed=500 + i))
        result["cost"].append({"generate_s": t_gen, "vary_s": t_vary, "repaint_s": t_repaint,
                               "generate_region_s": t_region, "extend_4s_s": t_extend, "generate_4s_s": t_four})
        print(json.dumps({k: v[-1] for k, v in result.items() if isinstance(v, list)}), flush=True)
    result["summary"] = summary(result)
    return result


def stage_minima(seconds: float, repeats: int, bars: int = 4, bpm: float = 120.0) -> dict:
    """Every editing action of issue 25 and generating its own length from scratch, per stage (and wall)
    seconds, the minimum of ``repeats`` interleaved runs; and each action's ratio to generating what it
    makes. Repaint and extend make a span inside the clip they return, so both readings of "its own
    length" are timed: the span alone, and the returned clip."""
    from musiclm_studio import midi
    from musiclm_studio.loops import loop_seconds

    pipe = shipped_pipe()
    prompt, new_prompt, region_prompt = VARIATIONS[0][0], VARIATIONS[0][1], REPAINT_PROMPTS[0]
    original, edit = warm_up(pipe, seconds)  # the same edits as timed below, first untimed
    midi.transcribe(original.audio, original.sample_rate)  # and the transcriber's first load
    loop_prompt, loop_s = "a funky drum groove with slap bass", loop_seconds(bars, bpm)
    jobs = {"repaint": lambda: pipe.repaint(original, 2.0, 4.0, prompt=region_prompt, seed=200),
            "generate_region": lambda: pipe(region_prompt, duration_s=edit["end_s"] - edit["start_s"], seed=400),
            "extend_4s": lambda: pipe.extend(original, 4.0, seed=500),
            "generate_4s": lambda: pipe(prompt, duration_s=4.0, seed=500),
            "vary_semantic_new_prompt": lambda: pipe.vary(original, keep="semantic", prompt=new_prompt, seed=700),
            "vary_coarse": lambda: pipe.vary(original, keep="coarse", seed=700),
            "weighted_prompt": lambda: pipe(f"{prompt}:0.7 | {new_prompt}:0.3", duration_s=seconds, seed=600),
            "negative_prompt": lambda: pipe(prompt, duration_s=seconds, seed=600, negative_prompt="drums"),
            "midi": lambda: midi.transcribe(original.audio, original.sample_rate),
            "loop": lambda: pipe.loop(loop_prompt, bars=bars, bpm=bpm, seed=800),
            "generate_loop_length": lambda: pipe(loop_prompt, duration_s=loop_s, bpm=bpm, seed=800),
            # the clip each edit returns (and what the others make: a clip of the original's length)
            "generate_clip": lambda: pipe(prompt, duration_s=seconds, seed=600),
            "generate_extended": lambda: pipe(prompt, duration_s=seconds + 4.0, seed=600)}
    best = {}
    for _ in range(repeats):
        for name, job in jobs.items():
            out, wall = timed(job)
            row = {"wall": wall, **(getattr(out, "timings", None) or getattr(getattr(out, "output", None), "timings", {}))}
            best[name] = {k: min(v, best.get(name, row).get(k, v)) for k, v in row.items()}
    wall = {name: row["wall"] for name, row in best.items()}
    ratios = {  # action: (its wall / generating what it makes) under each reading that applies
        "repaint / its region": wall["repaint"] / wall["generate_region"],
        "repaint / the clip it returns": wall["repaint"] / wall["generate_clip"],
        "extend 4 s / 4 s": wall["extend_4s"] / wall["generate_4s"],
        "extend 4 s / the clip it returns": wall["extend_4s"] / wall["generate_extended"],
        "vary (semantic kept, new prompt) / the clip": wall["vary_semantic_new_prompt"] / wall["generate_clip"],
        "vary (coarse kept) / the clip": wall["vary_coarse"] / wall["generate_clip"],
        "weighted prompt / the clip": wall["weighted_prompt"] / wall["generate_clip"],
        "negative prompt / the clip": wall["negative_prompt"] / wall["generate_clip"],
        "MIDI / the clip": wall["midi"] / wall["generate_clip"],
        f"loop of {bars} bars / its {loop_s:g} s": wall["loop"] / wall["generate_loop_length"]}
    return {"repeats": repeats, "region_s": edit["end_s"] - edit["start_s"], "loop_s": loop_s,
            "ratios": {k: round(v, 3) for k, v in ratios.items()}, "seconds": best}


def save_pngs(pipe, folder, original, varied, repainted, start, seam) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from musiclm_studio import viz

    os.makedirs(folder, exist_ok=True)
    for name, out in (("original", original), ("variation", varied), ("repaint", repainted)):
        figure = viz.plot_spectrogram(out.audio, out.sample_rate, pipe=pipe).figure
        if name == "repaint":
            for x in (start / out.sample_rate, seam / out.sample_rate):
                figure.axes[0].axvline(x, color="white", linestyle="--", linewidth=1)
        figure.savefig(os.path.join(folder, f"editing_{name}.png"), dpi=60, bbox_inches="tight")


def summary(r: dict) -> dict:
    v, p, n, c = r["variation"], r["repaint"], r["negative"], r["cost"]
    med = statistics.median
    return {
        **vary_summary(v),
        **repaint_summary(p),
        **negative_summary(n),
    } | ({  # --cost-trials 0: no costs timed
        "cost_vary_over_generate_median": med(x["vary_s"] / x["generate_s"] for x in c),
        "cost_repaint_over_generate_region_median": med(x["repaint_s"] / x["generate_region_s"] for x in c),
        "cost_extend_over_generate_4s_median": med(x["extend_4s_s"] / x["generate_4s_s"] for x in c),
        "cost_seconds_median": {k: med(x[k] for x in c) for k in c[0]},
    } if c else {})


def from_log(path: str) -> dict:
    """The result of the trials a (stopped) run printed, one JSON line each, with its summary."""
    result = {"variation": [], "repaint": [], "negative": [], "cost": []}
    for line in open(path):
        if line.startswith('{"variation"'):
            row = json.loads(line)
            for name in result:
                if name in row and not (name == "cost" and result[name] and result[name][-1] == row[name]):
                    result[name].append(row[name])  # a trial past --cost-trials repeats the last cost row
    result["trials"] = len(result["variation"])
    result["summary"] = summary(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", default="/tmp/editing_targets.json")
    parser.add_argument("--png-dir", default=None)
    parser.add_argument("--cost-trials", type=int, default=5, help="trials that also time generating from scratch")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 on a machine shared with others)")
    parser.add_argument("--from-log", default=None, help="summarise the trials a stopped run printed to this log")
    parser.add_argument("--stage-repeats", type=int, default=0, help="only time each edit's stages, this many times")
    parser.add_argument("--repaint-seed", type=int, default=None,
                        help="only the repaint trials, originals on seeds from this one, repaints from it + 200")
    parser.add_argument("--vary-seed", type=int, default=None,
                        help="only the variation trials, originals on seeds from this one, variations from it + 100")
    parser.add_argument("--vary-temperature", type=float, default=None,
                        help="the coarse stage's temperature in --vary-seed's variations (default: the pipeline's)")
    parser.add_argument("--vary-no-negative", action="store_true",
                        help="in --vary-seed's variations, no negative prompt (by default the original's prompt)")
    parser.add_argument("--start-candidates", type=int, default=None,
                        help="a repaint's candidates heard at the region's start (default: editing.START_CANDIDATES)")
    parser.add_argument("--negative-seed", type=int, default=None,
                        help="only the negative-prompt trials, on seeds from this one (a full run's are 300...)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.start_candidates is not None:
        editing.START_CANDIDATES = args.start_candidates
    if args.vary_seed is not None:
        result = vary_only(args.trials, args.seconds, args.vary_seed, args.vary_temperature, args.vary_no_negative)
    elif args.repaint_seed is not None:
        result = repaint_only(args.trials, args.seconds, args.repaint_seed)
    elif args.negative_seed is not None:
        result = negative_only(args.trials, args.seconds, args.negative_seed)
    elif args.stage_repeats:
        result = {"summary": stage_minima(args.seconds, args.stage_repeats)}
    elif args.from_log:
        result = from_log(args.from_log)
    else:
        result = run(args.trials, args.seconds, args.png_dir, args.cost_trials)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
