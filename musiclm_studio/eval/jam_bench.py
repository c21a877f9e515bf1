"""The jam benchmark: can the jam keep ahead of playback, and does it stay flat?

``musiclm-studio bench --jam --minutes 5`` plays a scripted jam (the prompt changes every
``change_every_s`` seconds, cycling ``BENCH_PROMPTS``) and measures, per chunk, the generation
time as a ratio of the chunk's length (wall and CPU seconds), the underruns of a player that starts
as soon as the first chunk is ready and plays each chunk when the one before has finished (an
underrun: a chunk not ready when its turn comes; the player then waits for it), and the process's
resident memory at minute 1 and at the end (``jam_script.Playback`` is the player). The load
average is printed beside the figures: on a shared machine they are pessimistic; rerun the same
command on a quiet one.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import torch

BENCH_PROMPTS = ("a calm piano piece without drums", "an energetic funk groove with drums and slap bass",
                 "ambient synth pads, slow", "a fast rock song with loud drums and distorted guitar")


def rss_mb() -> float:
    """This process's resident memory now (``VmRSS``), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class JamBench:
    """What one benchmark jam measured (ratios: seconds of generation per second of audio)."""

    minutes: float
    chunk_s: float
    threads: int
    chunks: int
    wall_ratio_p50: float
    wall_ratio_p95: float
    wall_ratio_max: float
    cpu_ratio_p50: float
    cpu_ratio_p95: float
    underruns: int
    stalled_s: float
    first_chunk_s: float
    rss_minute1_mb: float
    rss_end_mb: float
    peak_rss_mb: float
    load_start: list = field(default_factory=list)
    load_end: list = field(default_factory=list)
    int8: bool = True
    changes: int = 0

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_minute1_mb


def run_jam_bench(minutes: float = 5.0, chunk_s: float = 2.0, change_every_s: float = 20.0, seed: int = 0,
                  pipeline: Optional[str] = None, threads: Optional[int] = 2, context_s: Optional[float] = None,
                  int8: Optional[bool] = None, record: Optional[str] = None, log=print) -> JamBench:
    """Run the scripted jam in this process (see the module docstring) and return its figures;
    ``record``: also write its audio to this WAV, and the spectrogram with the changes marked beside it."""
    from ..jam_script import Playback, ScriptChange, scripted_chunks
    from ..pipeline import MusicLMPipeline

    if threads:
        torch.set_num_threads(threads)
    pipe = MusicLMPipeline.from_pretrained(pipeline, int8=int8)
    pipe.show_progress = False
    load_start = list(os.getloadavg())
    session = pipe.jam(BENCH_PROMPTS[0], chunk_s=chunk_s, seed=seed, context_s=context_s)
    seconds = minutes * 60.0
    changes = [ScriptChange(t, {"prompt": BENCH_PROMPTS[i % len(BENCH_PROMPTS)]})
               for i, t in enumerate(np.arange(change_every_s, seconds, change_every_s), start=1)]
    walls, cpus, rss_minute1, player, first_chunk_s = [], [], None, Playback(chunk_s), 0.0
    wav = _recorder(record, session.sample_rate)
    clock = time.perf_counter()
    for chunk in scripted_chunks(session, changes, seconds):
        player.ready(time.perf_counter() - clock)
        if wav is not None:
            wav.write(chunk.audio.clamp(-1, 1).numpy())
        first_chunk_s = first_chunk_s if chunk.index else time.perf_counter() - clock
        walls.append(chunk.elapsed_s / chunk_s)
        cpus.append(chunk.cpu_s / chunk_s)
        end_s = chunk.start_s + chunk_s
        if rss_minute1 is None and end_s >= min(60.0, seconds):
            rss_minute1 = rss_mb()
        if chunk.index % max(1, round(30 / chunk_s)) == 0:
            log(f"jam bench: {end_s:6.0f} s of audio, chunk {chunk.index}: {walls[-1]:.2f} x chunk length "
                f"(cpu {cpus[-1]:.2f}), rss {rss_mb():.0f} MB, load {os.getloadavg()[0]:.1f}")
    session.close()
    rss_end = rss_mb()  # before the recording's spectrogram (matplotlib) is drawn
    if wav is not None:
        _finish_recording(wav, record, [(c.at_s, c.controls["prompt"][:28]) for c in changes], log)
    return JamBench(minutes, chunk_s, torch.get_num_threads(), len(walls), *_percentiles(walls),
                    *_percentiles(cpus)[:2], player.underruns, player.stalled_s, first_chunk_s, rss_minute1, rss_end,
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, load_start, list(os.getloadavg()),
                    pipe.int8, len(changes))


def _recorder(path: Optional[str], sample_rate: int):
    if path is None:
        return None
    import soundfile as sf

    return sf.SoundFile(path, "w", samplerate=sample_rate, channels=1, subtype="PCM_16")


def _finish_recording(wav, path: str, marks: list, log) -> None:
    import soundfile as sf

    from ..jam_script import save_jam_png

    wav.close()
    audio, rate = sf.read(path, dtype="float32")
    log(f"wrote {path} and " + save_jam_png(os.path.splitext(path)[0] + ".png", audio, rate, marks))


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95)), float(np.max(values))


def jam_table(row: JamBench) -> str:
    """The benchmark as a markdown table."""
    lines = ["| figure | value |", "|---|---|"]
    figures = {
        "audio": f"{row.minutes:g} min in {row.chunks} chunks of {row.chunk_s:g} s, {row.changes} prompt changes",
        "torch threads / int8 LMs": f"{row.threads} / {row.int8}",
        "generation time / chunk length, p50 / p95 / max (wall)":
            f"{row.wall_ratio_p50:.2f} / {row.wall_ratio_p95:.2f} / {row.wall_ratio_max:.2f}",
        "CPU time / chunk length, p50 / p95 (all threads)": f"{row.cpu_ratio_p50:.2f} / {row.cpu_ratio_p95:.2f}",
        "underruns (stalled seconds)": f"{row.underruns} ({row.stalled_s:.1f} s)",
        "first chunk ready after": f"{row.first_chunk_s:.2f} s",
        "RSS at minute 1 / end / growth": f"{row.rss_minute1_mb:.0f} / {row.rss_end_mb:.0f} / {row.rss_growth_mb:+.0f} MB",
        "peak RSS": f"{row.peak_rss_mb:.0f} MB",
        "load average (1 / 5 / 15 min) at start / end":
            f"{' '.join(f'{x:.1f}' for x in row.load_start)} / {' '.join(f'{x:.1f}' for x in row.load_end)}",
    }
    return "\n".join(lines + [f"| {k} | {v} |" for k, v in figures.items()])


def jam_report(row: JamBench) -> dict:
    return {**asdict(row), "rss_growth_mb": row.rss_growth_mb}
