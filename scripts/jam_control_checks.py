"""Does the jam follow its controls? Two scripted checks on a pipeline (default: the shipped model).

Tempo: one jam (a drum groove) with ``--tempo-changes`` changes of ``bpm`` every ``--every`` chunks,
cycling TEMPOS; for each change, the bar the new tempo starts on (``BeatClock.changes``) and the
bar after it are read with librosa's beat tracker (``analysis.estimate_tempo``) and counted as
following when the estimate is within 8 % of the new tempo, its half or its double
(``analysis.tempo_agrees``); the same test against the old tempo is printed beside it.
Drums: ``--drum-trials`` jams (seeds 0..N-1) start with a prompt without drums for 2 chunks, then
``set(prompt=<drums>)``; drums count as detected in a chunk when its percussive share (median-filter
HPSS, ``analysis.percussive_ratio``) is at least 1.5 x the median share of the chunks before the change,
and as following when that happens within 2 chunks of the change (the chunk it applies to or the next).

    python scripts/jam_control_checks.py --out /tmp/jam_checks [--pipeline DIR] [--threads 1]

Writes checks.json, the tempo jam's WAV and its spectrogram PNG with the changes marked.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from musiclm_studio.analysis import estimate_tempo, percussive_ratio, tempo_agrees
from musiclm_studio.audio import save_audio
from musiclm_studio.jam import CHANGE_CONTEXT_S
from musiclm_studio.jam_script import ScriptChange, save_jam_png, scripted_chunks
from musiclm_studio.pipeline import MusicLMPipeline

TEMPOS = (100.0, 150.0, 120.0, 170.0, 110.0, 140.0)
GROOVE = "a rock song with loud drums, bass and electric guitar"
NO_DRUMS, DRUMS = "a calm solo piano piece, no drums", "an energetic funk groove with loud drums and bass"


def tempo_check(pipe, changes: int, every: int, chunk_s: float, seed: int) -> dict:
    jam = pipe.jam(GROOVE, chunk_s=chunk_s, seed=seed, bpm=TEMPOS[-1])
    script = [ScriptChange((i + 1) * every * chunk_s, {"bpm": TEMPOS[i % len(TEMPOS)]}) for i in range(changes)]
    seconds = (changes + 1) * every * chunk_s
    chunks, laid = [], []
    for chunk in scripted_chunks(jam, script, seconds):
        chunks.append(chunk)
        laid += [c for c in jam.clock.changes if c not in laid]
    audio, sr = torch.cat([c.audio for c in chunks]).numpy(), jam.sample_rate
    rows, old = [], TEMPOS[-1]
    for frame, bpm in laid[1:]:  # the first entry is the jam's own start
        start, bar = frame / jam.clock.frame_rate, 60.0 / bpm * 4
        row = {"at_s": round(start, 3), "bpm": bpm, "old_bpm": old}
        for bars in (1, 2):
            piece = audio[int(start * sr): int((start + bars * bar) * sr)]
            if len(piece) < int(bars * bar * sr) - 1:
                break
            estimate = estimate_tempo(piece, sr)
            row[f"estimate_{bars}bar"] = round(estimate, 1)
            row[f"new_{bars}bar"] = bool(tempo_agrees(estimate, bpm))
            row[f"old_{bars}bar"] = bool(tempo_agrees(estimate, old))
        rows.append(row)
        old = bpm
    marks = [(r["at_s"], f"{r['bpm']:g} bpm") for r in rows]
    return {"rows": rows, "audio": audio, "sample_rate": sr, "marks": marks,
            **{f"{who}_{bars}bar_rate": _rate([r.get(f"{who}_{bars}bar") for r in rows])
               for who in ("new", "old") for bars in (1, 2)}}


def drum_check(pipe, trials: int, chunk_s: float, **jam_args) -> dict:
    rows = []
    for seed in range(trials):
        jam = pipe.jam(NO_DRUMS, chunk_s=chunk_s, seed=seed, **jam_args)
        before = [percussive_ratio(jam.next_chunk().audio.numpy(), jam.sample_rate) for _ in range(2)]
        jam.set(prompt=DRUMS)
        after = [percussive_ratio(jam.next_chunk().audio.numpy(), jam.sample_rate) for _ in range(3)]
        base = float(np.median(before))
        detected = [a >= 1.5 * base for a in after]
        rows.append({"seed": seed, "before": [round(b, 4) for b in before], "after": [round(a, 4) for a in after],
                     "within_2_chunks": bool(any(detected[:2])),
                     "first_chunk": next((i for i, d in enumerate(detected) if d), None)})
        jam.close()
    return {"rows": rows, "rate": _rate([r["within_2_chunks"] for r in rows])}


def _rate(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pipeline", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tempo-changes", type=int, default=20)
    parser.add_argument("--every", type=int, default=3, help="chunks between tempo changes")
    parser.add_argument("--drum-trials", type=int, default=10)
    parser.add_argument("--chunk", type=float, default=2.0)
    parser.add_argument("--change-context", type=float, default=CHANGE_CONTEXT_S,
                        help="the jam's change_context_s (default: the jam's; negative: None, the full context "
                             "throughout)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    pipe = MusicLMPipeline.from_pretrained(args.pipeline)
    pipe.show_progress = False
    clock, load = time.perf_counter(), os.getloadavg()
    change = {"change_context_s": args.change_context if args.change_context >= 0 else None}
    drums = drum_check(pipe, args.drum_trials, args.chunk, **change) if args.drum_trials else {"rows": [], "rate": None}
    print(f"drums detected within 2 chunks: {drums['rate']} ({len(drums['rows'])} trials, {change}): "
          f"{json.dumps(drums['rows'])}", flush=True)
    if not args.tempo_changes:
        return
    tempo = tempo_check(pipe, args.tempo_changes, args.every, args.chunk, seed=0)
    for bars in (1, 2):
        print(f"tempo changes heard in the first {bars} bar(s): new tempo {tempo[f'new_{bars}bar_rate']:.2f}, "
              f"old tempo {tempo[f'old_{bars}bar_rate']:.2f} ({len(tempo['rows'])} changes)")
    wav = save_audio(os.path.join(args.out, "tempo_jam.wav"), tempo["audio"], tempo["sample_rate"])
    png = save_jam_png(os.path.join(args.out, "tempo_jam.png"), tempo["audio"], tempo["sample_rate"], tempo["marks"])
    report = {"drums": drums, "tempo": {k: v for k, v in tempo.items() if k not in ("audio", "marks")},
              "seconds": round(time.perf_counter() - clock, 1), "load_start": load, "load_end": os.getloadavg()}
    with open(os.path.join(args.out, "checks.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {wav}, {png} and checks.json in {report['seconds']} s (load {load[0]:.1f} -> {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
