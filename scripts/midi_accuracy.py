"""Note accuracy of MIDI export (Basic Pitch, ``musiclm_studio.midi``) on corpus clips whose true MIDI we have.

For each clip of a v1 corpus built with ``--stems`` (``musiclm-studio corpus build --stems``; every clip
keeps its MIDI in ``midi/``): the full mix is transcribed and scored against every pitched note of
the clip's MIDI (drums left out), and the lead stem against the lead's notes; mir_eval note F1
onset-only and with offsets (``midi.note_scores``). Prints a markdown table (all clips, solo clips,
solo piano) and writes per-clip rows as JSON:

    python scripts/midi_accuracy.py /tmp/midi_corpus /tmp/midi_corpus_classical --out /tmp/midi_accuracy.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pretty_midi

from musiclm_studio import midi
from musiclm_studio.data.builder import read_metadata


def truth(folder: str, row: dict) -> tuple[np.ndarray, np.ndarray]:
    """(every pitched note of the clip, the lead's notes) as rows (onset, offset, pitch, velocity),
    cut to the clip's length."""
    song = pretty_midi.PrettyMIDI(os.path.join(folder, row["midi_path"]))
    lead = pretty_midi.PrettyMIDI()
    lead.instruments = [inst for inst in song.instruments if inst.name == "lead"]
    cut = lambda rows: rows[rows[:, 0] < row["seconds"]]  # noqa: E731
    return cut(midi.notes_of(song)), cut(midi.notes_of(lead))


def score_clip(folder: str, row: dict) -> dict:
    everything, lead = truth(folder, row)
    clock = time.perf_counter()
    mix = midi.transcribe(os.path.join(folder, row["path"]))
    seconds = time.perf_counter() - clock
    out = {"corpus": os.path.basename(folder.rstrip("/")), "index": row["index"], "genre": row["genre"],
           "lead": row["lead_name"], "solo": row["solo"], "drums": row["drums"], "transcribe_s": round(seconds, 2),
           "mix": midi.note_scores(everything, mix)}
    if row.get("lead_path"):
        out["lead_stem"] = midi.note_scores(lead, midi.transcribe(os.path.join(folder, row["lead_path"])))
    return out


def summary(rows: list[dict], key: str) -> str:
    """'mean (median)' onset-only F1 and with offsets over the rows that have ``key``."""
    have = [r[key] for r in rows if key in r]
    if not have:
        return "- | -"
    cell = lambda name: f"{np.mean([h[name] for h in have]):.3f} ({np.median([h[name] for h in have]):.3f})"  # noqa
    return f"{cell('onset_f1')} | {cell('offset_f1')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+", help="corpus folders built with --stems")
    parser.add_argument("--n", type=int, default=None, help="at most this many clips per corpus")
    parser.add_argument("--out", default=None, help="per-clip results as JSON")
    args = parser.parse_args()
    rows = []
    for folder in args.corpora:
        for row in read_metadata(folder)[: args.n]:
            rows.append(score_clip(folder, row))
            r = rows[-1]
            print(f"{r['corpus']}/{r['index']:03d} {r['genre']:<11} {r['lead']:<22} mix onset F1 "
                  f"{r['mix']['onset_f1']:.3f}  lead stem {r.get('lead_stem', {}).get('onset_f1', float('nan')):.3f}",
                  flush=True)
    groups = {"all clips": rows, "solo clips": [r for r in rows if r["solo"]],
              "solo piano": [r for r in rows if r["solo"] and r["lead"] == "piano"],
              "with drums": [r for r in rows if r["drums"]], "without drums": [r for r in rows if not r["drums"]]}
    print("\n| clips | n | mix: onset F1 | mix: with offsets | lead stem: onset F1 | lead stem: with offsets |")
    print("|---|---|---|---|---|---|")
    for name, group in groups.items():
        print(f"| {name} | {len(group)} | {summary(group, 'mix')} | {summary(group, 'lead_stem')} |")
    print(f"\ntranscription: {np.mean([r['transcribe_s'] for r in rows]):.2f} s per 10-s mix (mean)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
