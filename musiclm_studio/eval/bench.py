"""Speed benchmark: our pipeline next to the MusicGen-small architecture, measured the same way.

Each (system, guidance, device, seconds) case runs in its own Python process, so its peak
resident memory (``resource.getrusage`` ``ru_maxrss``, model loading included) is its own, and
one case's allocator state cannot slow another. Both systems get one short warm-up generation
first (text-encoder load, kernel set-up), then one timed generation. MusicGen-small is
``transformers.MusicgenForConditionalGeneration`` built from its published sizes (T5-base text
encoder, a 24-layer d=1024 decoder over 4 x 2048 EnCodec codebooks at 50 Hz, 32 kHz EnCodec)
with random weights: the same compute per step as the real model, no download. Neither system
streams audio, so "first audio" is the time until the first waveform exists (for ours, the
pipeline's ``decode`` event; for MusicGen, ``generate`` returning its decoded audio).

    musiclm-studio bench --seconds 10 30 [--pipeline DIR] [--no-musicgen] [--out bench.json]   (files only with --out)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch

MUSICGEN_FRAME_RATE = 50
PROMPT = "an upbeat funk groove with slap bass and brass stabs, 110 bpm"


@dataclass
class BenchCase:
    """One measurement to make (in a fresh process)."""

    system: str  # "ours" or "musicgen-small"
    seconds: float
    guidance_scale: float
    device: str = "cpu"
    pipeline: Optional[str] = None  # ours only: a saved pipeline folder (None = shipped default)
    threads: Optional[int] = None
    int8: Optional[bool] = None  # ours only: int8 LMs (None = the pipeline's default: int8 on a CPU)
    num_candidates: int = 1  # ours only: >1 where the pipeline has an attribute critic to keep one


@dataclass
class BenchRow:
    """What one case measured. rtf = wall seconds per second of audio (< 1 is faster than real time)."""

    system: str
    device: str
    cfg: bool
    seconds: float
    wall_s: float
    rtf: float
    first_audio_s: float
    peak_rss_mb: float
    cuda_peak_mb: Optional[float] = None
    load_s: float = 0.0
    stages_rtf: dict[str, float] = field(default_factory=dict)
    name: str = ""
    threads: int = 0
    float_lms: bool = False  # ours with int8 quantization turned off (the reference for the int8 default)
    candidates: int = 1  # ours: candidates sampled, one kept


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def musicgen_small_config():
    """``MusicgenConfig`` with the published facebook/musicgen-small sizes (no download)."""
    import transformers
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, T5Config

    transformers.logging.set_verbosity_error()  # pad / bos id 2048 = vocab size is MusicGen's convention
    text = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12,
                    relative_attention_num_buckets=32, feed_forward_proj="relu")
    audio = EncodecConfig(sampling_rate=32_000, codebook_size=2048, codebook_dim=128, num_filters=64,
                          hidden_size=128, upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2],
                          use_causal_conv=False, use_conv_shortcut=False, num_lstm_layers=2)
    decoder = MusicgenDecoderConfig(vocab_size=2048, num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
                                    ffn_dim=4096, num_codebooks=4, max_position_embeddings=2048)
    return MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)


def _musicgen_runner(case: BenchCase):
    from transformers import MusicgenForConditionalGeneration

    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(musicgen_small_config()).eval().to(case.device)
    ids = torch.randint(0, 32128, (1, 16), device=case.device)  # a ~16-token prompt (no T5 tokenizer offline)

    def generate(seconds: float):
        start = time.perf_counter()
        with torch.no_grad():
            audio = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                   guidance_scale=case.guidance_scale if case.guidance_scale > 1 else None,
                                   max_new_tokens=round(seconds * MUSICGEN_FRAME_RATE))
        _sync(case.device)
        wall = time.perf_counter() - start
        assert audio.shape[-1] > 0
        return wall, wall, {}
    return generate


def _ours_runner(case: BenchCase):
    from ..pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained(case.pipeline, device=case.device, int8=case.int8)
    pipe.show_progress = False

    def generate(seconds: float):
        start, first = time.perf_counter(), [None]

        def on_event(event):
            if event.stage == "decode" and first[0] is None:
                _sync(case.device)
                first[0] = time.perf_counter() - start
        out = pipe(PROMPT, duration_s=seconds, seed=0, guidance_scale=case.guidance_scale,
                   num_candidates=case.num_candidates, callback=on_event)
        _sync(case.device)
        wall = time.perf_counter() - start
        stages = {k: v / seconds for k, v in out.timings.items() if k != "total"}
        return wall, first[0] or wall, stages
    return generate


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_case(case: BenchCase) -> BenchRow:
    """Load, warm up, and time one generation in this process."""
    if case.threads:
        torch.set_num_threads(case.threads)
    start = time.perf_counter()
    generate = _musicgen_runner(case) if case.system == "musicgen-small" else _ours_runner(case)
    load_s = time.perf_counter() - start
    generate(min(1.0, case.seconds))  # warm-up
    if case.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    wall, first, stages = generate(case.seconds)
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if case.device.startswith("cuda") else None
    return BenchRow(system=case.system, device=case.device, cfg=case.guidance_scale > 1, seconds=case.seconds,
                    wall_s=wall, rtf=wall / case.seconds, first_audio_s=first, peak_rss_mb=peak_rss_mb(),
                    cuda_peak_mb=cuda_peak, load_s=load_s, stages_rtf=stages, threads=torch.get_num_threads())


def run_case_isolated(case: BenchCase, timeout_s: float = 3600) -> BenchRow:
    """``run_case`` in a fresh Python process (its own peak memory); raises RuntimeError on failure."""
    cmd = [sys.executable, "-m", "musiclm_studio.eval.bench", "--worker", json.dumps(asdict(case))]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_ROW ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark case {case} failed:\n{done.stderr[-2000:]}")
    return BenchRow(**json.loads(lines[-1][len("BENCH_ROW "):]))


def bench_cases(seconds: list[float], pipeline: Optional[str] = None, musicgen: bool = True,
                devices: Optional[list[str]] = None, guidance_scale: float = 3.0,
                threads: Optional[int] = None) -> list[BenchCase]:
    """Every case of one benchmark: systems x guidance on / off x devices x durations, plus ours
    with float LMs beside the default int8 ones on a CPU (guidance on), and ours with 4 candidates
    where the pipeline has an attribute critic to keep one (guidance on)."""
    from .. import hub

    index = os.path.join(hub.resolve_pretrained(pipeline), "pipeline.json")
    has_critic = os.path.isfile(index) and "critic" in hub.read_json(index).get("components", [])
    if not seconds or any(not 0 < s <= 60 for s in seconds):
        raise ValueError(f"--seconds must be between 0 and 60 (got {seconds}).")
    devices = devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    systems = ["ours"] + (["musicgen-small"] if musicgen else [])
    cases = []
    for device in devices:
        for s in seconds:
            for system in systems:
                mine = pipeline if system == "ours" else None
                cases += [BenchCase(system, s, g, device, mine, threads) for g in (guidance_scale, 1.0)]
                if system == "ours" and device == "cpu":
                    cases.append(BenchCase(system, s, guidance_scale, device, mine, threads, int8=False))
                if system == "ours" and has_critic:
                    cases.append(BenchCase(system, s, guidance_scale, device, mine, threads, num_candidates=4))
    return cases


def run_bench(cases: list[BenchCase], log=print) -> list[BenchRow]:
    rows = []
    for case in cases:
        log(f"bench: {case.system} on {case.device}, {case.seconds:g} s, guidance {case.guidance_scale:g} ...")
        rows.append(run_case_isolated(case))
        if case.system == "ours":
            rows[-1].float_lms = case.int8 is False
            rows[-1].candidates = case.num_candidates
            n = case.num_candidates
            rows[-1].name = ((case.pipeline or "shipped") + (", float LMs" if rows[-1].float_lms else "")
                             + f", {n} candidate{'s' * (n > 1)}")
        else:
            rows[-1].name = "random weights"
        log(f"  RTF {rows[-1].rtf:.3f}, first audio {rows[-1].first_audio_s:.2f} s, peak {rows[-1].peak_rss_mb:.0f} MB")
    return rows


def _ratios(rows: list[BenchRow], slow) -> dict[str, float]:
    """Wall time of each row ``slow`` picks / ours with default settings, per (device, seconds, cfg)."""
    ours = {(r.device, r.seconds, r.cfg): r for r in rows if r.system == "ours" and not r.float_lms
            and r.candidates == 1}
    return {f"{d} {s:g}s {'cfg' if c else 'no cfg'}": r.wall_s / ours[(d, s, c)].wall_s
            for r in rows if slow(r) for d, s, c in [(r.device, r.seconds, r.cfg)] if (d, s, c) in ours}


def speedups(rows: list[BenchRow]) -> dict[str, float]:
    """MusicGen-small wall time / ours, per (device, seconds, cfg)."""
    return _ratios(rows, lambda r: r.system == "musicgen-small")


def int8_speedups(rows: list[BenchRow]) -> dict[str, float]:
    """Ours with float LMs / ours with int8 LMs (the CPU default), per (device, seconds, cfg)."""
    return _ratios(rows, lambda r: r.system == "ours" and r.float_lms)


def candidate_costs(rows: list[BenchRow]) -> dict[str, float]:
    """Ours with several candidates (the critic keeping one) / ours with one, per (device, seconds, cfg)."""
    return _ratios(rows, lambda r: r.system == "ours" and r.candidates > 1)


def markdown_table(rows: list[BenchRow]) -> str:
    head = ("| system | device | threads | CFG | audio (s) | wall (s) | RTF | first audio (s) | peak RSS (MB) | CUDA peak (MB) |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r.system} ({r.name}) | {r.device} | {r.threads} | {'on' if r.cfg else 'off'} | {r.seconds:g} | {r.wall_s:.2f} | "
        f"{r.rtf:.3f} | {r.first_audio_s:.2f} | {r.peak_rss_mb:.0f} | "
        f"{'-' if r.cuda_peak_mb is None else f'{r.cuda_peak_mb:.0f}'} |\n" for r in rows)
    ratios = speedups(rows)
    tail = "".join(f"\nMusicGen-small / ours wall time, {k}: {v:.1f}x" for k, v in ratios.items())
    tail += "".join(f"\nours with float LMs / int8 LMs wall time, {k}: {v:.2f}x" for k, v in int8_speedups(rows).items())
    tail += "".join(f"\nours with several candidates / one candidate wall time, {k}: {v:.2f}x"
                    for k, v in candidate_costs(rows).items())
    return head + body + (tail + "\n" if tail else "")


def bench_report(rows: list[BenchRow]) -> dict:
    return {"rows": [asdict(r) for r in rows], "speedup_vs_musicgen_small": speedups(rows),
            "float_over_int8": int8_speedups(rows), "candidates_over_one": candidate_costs(rows),
            "cpu_threads": rows[0].threads if rows else None, "torch": torch.__version__}


def write_bench(rows: list[BenchRow], out: str) -> list[str]:
    """Write ``bench_report`` as JSON to ``out`` and the markdown table beside it (.md); returns both paths."""
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    table_path = os.path.splitext(out)[0] + ".md"
    with open(out, "w", encoding="utf-8") as f:
        json.dump(bench_report(rows), f, indent=2)
    with open(table_path, "w", encoding="utf-8") as f:
        f.write(markdown_table(rows))
    return [out, table_path]


if __name__ == "__main__":  # worker mode: python -m musiclm_studio.eval.bench --worker '{case json}'
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        row = run_case(BenchCase(**json.loads(sys.argv[2])))
        print("BENCH_ROW " + json.dumps(asdict(row)), flush=True)
