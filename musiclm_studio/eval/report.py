"""Writing an evaluation: ``eval.json``, ``eval.md`` (tables for the model card), spectrogram PNGs.

``summary`` condenses a result into the few figures the app's "About this model" panel and the
model card show (MCC with its ceiling, FAD with its floor, adherence rates, melody cosine,
real-time factor); ``write_summary`` stores it as ``<pipeline>/eval_summary.json`` (only when
the caller asks: the eval command's ``--write-summary``). Spectrograms are drawn with
``musiclm_studio.viz.plot_spectrogram`` (computed with torch, drawn with matplotlib).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Optional

from .harness import EvalResult

SUMMARY_FILE = "eval_summary.json"


def to_dict(result: EvalResult) -> dict:
    """Everything but the example audio, JSON-ready."""
    data = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "examples"}
    data["config"] = dataclasses.asdict(result.config)
    return data


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown(result: EvalResult) -> str:
    """The evaluation as Markdown tables, each figure next to its reference points."""
    c, m, f = result.config, result.mcc, result.fad
    parts = [f"# Evaluation of {result.pipeline or 'a pipeline'}\n",
             f"{result.prompts} prompts x {c.seconds:g} s, seed {c.seed}, guidance {_per_stage(c.guidance_scale)}, "
             f"{c.num_candidates} candidate{'s' * (c.num_candidates > 1)} per prompt; "
             f"wall time {result.wall_s:.0f} s.\n"]
    parts += [f"> {n}\n" for n in result.notices]
    parts.append("\n## Quality (higher is better unless marked)\n\n" + _table(
        ["metric", "generated", "reference points"],
        [["MCC (MuLan text-audio cosine)", m.get("generated"),
          f"real clips {_fmt(m.get('real_ceiling'))} (ceiling), shuffled real {_fmt(m.get('real_shuffled_floor'))}, "
          f"shuffled generated {_fmt(m.get('generated_shuffled'))}"],
         ["FAD, MuLan space (lower is better)", f.get("generated"),
          f"codec resynthesis {_fmt(f.get('codec_floor'))} (floor), unconditional {_fmt(f.get('unconditional'))} "
          f"vs generated {_fmt(f.get('generated_same_n'))} on the same prompts"],
         ["melody chroma cosine", result.melody.get("matched"),
          f"against another melody {_fmt(result.melody.get('mismatched'))} ({result.melody.get('count', 0)} melodies)"],
         ["diversity across seeds (1 - cos)", result.diversity.get("across_seeds"),
          f"across prompts {_fmt(result.diversity.get('across_prompts'))}"]]))
    if result.kl_clap.get("kl") or result.kl_clap.get("clap"):
        from .field_metrics import field_table

        parts.append("\n## KL and CLAP score (each row names what measured it)\n\n"
                     + field_table(result.kl_clap.get("kl"), result.kl_clap.get("clap")))
    if f.get("fadtk"):
        from .fadtk_bridge import FadResult, fad_table

        parts.append("\n## FAD through fadtk (lower is better; each row names its embedding)\n\n"
                     + fad_table([FadResult(**r) for r in f["fadtk"]]) + "\n")
    st = result.stability
    if st.get("windows"):
        lengths = ", ".join(f"{len(w) * st['window_s']:g} s" for w in st["windows"])
        drift = "; ".join(" / ".join(f"{w['loudness_db']:.0f} dB {w['centroid_hz']:.0f} Hz {w['flatness']:.3f}"
                                     for w in clip) for clip in st["windows"])
        parts.append(f"\n## Long generation ({lengths})\n\nShare of {st['window_s']:g}-s windows whose loudness, "
                     f"spectral centroid and flatness all lie in the 2nd-98th percentile range of real clips: "
                     f"**{_fmt(st.get('in_range'), 2)}**. Per window (loudness / centroid / flatness): {drift}.\n")
        if st.get("range"):
            parts.append("Real-clip range: " + ", ".join(f"{k} {lo:.3g} to {hi:.3g}" for k, (lo, hi) in st["range"].items())
                         + ".\n")
    rows = [[name, v["rate"], v["real_rate"], v.get("chance_rate"), v["count"]]
            for name, v in result.adherence.items() if isinstance(v, dict)]
    parts.append("\n## Attribute adherence (share of the prompts asking for an attribute whose audio shows it)\n\n"
                 "Each prompt is scored on what it asks: a tempo word (slow / medium / fast) on its bpm band, a "
                 "stated bpm within 8 % (half / double allowed). Chance: each generation scored against the next "
                 "prompt's request.\n\n"
                 + _table(["attribute", "generated", "real clips", "chance", "prompts"], rows))
    every = [[name, v["rate_all_prompts"], v["real_rate_all_prompts"], v["count_all_prompts"]]
             for name, v in result.adherence.items() if isinstance(v, dict) and "rate_all_prompts" in v]
    if every:
        parts.append("\n\nOver every prompt, including those that do not state it (each clip's own value):\n\n"
                     + _table(["attribute", "generated", "real clips", "prompts"], every))
    s = result.speed
    stages = [[stage, rtf] for stage, rtf in s.get("rtf", {}).items()]
    parts.append(f"\n## Speed\n\nFirst audio after {_fmt(s.get('first_audio_s'), 2)} s on average; peak RSS "
                 f"{_fmt(s.get('peak_rss_mb'), 0)} MB; {s.get('generations', 0)} generations.\n\n"
                 + _table(["stage", "real-time factor (s per s of audio)"], stages))
    return "".join(parts)


def summary(result: EvalResult) -> dict:
    """The compact figures for the app's "About this model" panel and the model card."""
    def rates(key: str) -> dict:
        return {k: v[key] for k, v in result.adherence.items() if isinstance(v, dict) and v.get(key) is not None}

    return {"pipeline": result.pipeline, "prompts": result.prompts, "seconds": result.config.seconds,
            "num_candidates": result.config.num_candidates,
            "mcc": result.mcc.get("generated"), "mcc_real_ceiling": result.mcc.get("real_ceiling"),
            "fad_mulan": result.fad.get("generated"), "fad_codec_floor": result.fad.get("codec_floor"),
            "attribute_adherence": rates("rate"), "real_clip_adherence": rates("real_rate"),
            "chance_adherence": rates("chance_rate"),
            "melody_chroma_cosine": result.melody.get("matched"),
            "long_windows_in_range": result.stability.get("in_range"),
            "rtf": result.speed.get("rtf", {}).get("total"), "first_audio_s": result.speed.get("first_audio_s"),
            "peak_rss_mb": result.speed.get("peak_rss_mb"), "notices": result.notices}


def write_summary(pipeline_dir: str, result: EvalResult) -> str:
    path = os.path.join(pipeline_dir, SUMMARY_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary(result), f, indent=2)
    return path


def save_spectrogram_png(path: str, audio, sample_rate: int, title: str, real=None) -> str:
    """Mel spectrogram of a generation; with ``real``, the corpus clip of the same caption below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import plot_spectrogram

    fig, axes = plt.subplots(1 if real is None else 2, 1, figsize=(8, 3 if real is None else 5.6), squeeze=False)
    plot_spectrogram(audio, sample_rate, ax=axes[0, 0], title=("generated: " if real is not None else "") + title[:80])
    if real is not None:
        plot_spectrogram(real, sample_rate, ax=axes[1, 0], title="the real corpus clip this caption describes")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(result: EvalResult, out: str, pipeline_dir: Optional[str] = None) -> dict[str, str]:
    """Write eval.json, eval.md and example PNGs under ``out`` (and the summary when ``pipeline_dir``)."""
    os.makedirs(out, exist_ok=True)
    paths = {"json": os.path.join(out, "eval.json"), "markdown": os.path.join(out, "eval.md")}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(to_dict(result) | {"summary": summary(result)}, f, indent=2)
    with open(paths["markdown"], "w", encoding="utf-8") as f:
        f.write(markdown(result))
    for n, (text, audio, real) in enumerate(result.examples):
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
        paths[f"png{n}"] = save_spectrogram_png(os.path.join(out, f"example{n}-{slug}.png"), audio,
                                                result.sample_rate, text, real)
    if pipeline_dir is not None:
        paths["summary"] = write_summary(pipeline_dir, result)
    return paths


def _per_stage(values) -> str:
    """{semantic: 3, coarse: 1, fine: 1} -> "3 / 1 / 1" (semantic / coarse / fine); a number as it is."""
    if values is None:
        return "the pipeline's default"
    return " / ".join(f"{v:g}" for v in values.values()) if isinstance(values, dict) else f"{values:g}"
