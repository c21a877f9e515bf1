"""Which token layout the acoustic LMs use: the measurement behind the choice.

MusicLM flattens the codec levels of each frame into one sequence (4 coarse levels at 50 Hz:
200 tokens per second; 8 fine levels: 400). MusicGen's delay pattern instead predicts every
level of a frame in one Transformer step, shifted by one step per level (50 steps per second
whatever the number of levels). On a CPU, autoregressive sampling is bound by the number of
sequential steps, so the layout decides the speed. The fine levels can also be made one level
per bidirectional pass over the whole window (``layout="levelwise"``, SoundStorm): Q passes in
all. This benchmark samples the same Transformer (the shipped coarse / fine LM sizes, KV cache,
batch 1, no guidance) in each layout and prints seconds per second of audio:

    musiclm-studio bench --layouts [--seconds 10]

Weights are random: sampling cost does not depend on their values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from ..config import StageLMConfig, preset
from ..models.lm import build_stage_lm


@dataclass
class LayoutRow:
    stage: str
    layout: str  # "delay", "flattened" or "levelwise"
    levels: int
    steps: int  # sequential Transformer steps for the clip
    wall_s: float
    rtf: float


def layout_variants(config: StageLMConfig, frames: int) -> dict[str, tuple[StageLMConfig, int]]:
    """The stage's LM in each layout, without conditioning streams: name -> (config, frames to sample).
    Levelwise only for the fine stage (the coarse levels are what the others are made from)."""
    Q = config.num_levels
    delay = replace(config, conditions=[], max_frames=frames, layout="delay")
    flat = replace(delay, num_levels=1, vocab_size=Q * config.vocab_size, max_frames=Q * frames)
    variants = {"delay": (delay, frames), "flattened": (flat, Q * frames)}
    if config.name == "fine":
        variants["levelwise"] = (replace(delay, layout="levelwise"), frames)
    return variants


@torch.no_grad()
def time_layouts(seconds: float = 10.0, preset_name: str = "small", repeats: int = 1) -> list[LayoutRow]:
    pipeline = preset(preset_name)
    rows = []
    for stage in ("coarse", "fine"):
        config = getattr(pipeline, f"{stage}_lm")
        frames = int(round(seconds * config.frame_rate))
        for layout, (variant, length) in layout_variants(config, frames).items():
            torch.manual_seed(0)
            model = build_stage_lm(variant).eval()
            model.generate({}, min(length, 8))  # warm-up
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                model.generate({}, length, generator=torch.Generator().manual_seed(0))
                best = min(best, time.perf_counter() - start)
            steps = variant.num_levels if variant.layout == "levelwise" else length + variant.num_levels - 1
            rows.append(LayoutRow(stage, layout, config.num_levels, steps, best, best / seconds))
    return rows


def layout_table(rows: list[LayoutRow]) -> str:
    lines = ["| stage | layout | levels | sequential steps | wall (s) | s per s of audio | wall vs delay |",
             "|---|---|---|---|---|---|---|"]
    delay = {r.stage: r.wall_s for r in rows if r.layout == "delay"}
    for r in rows:
        lines.append(f"| {r.stage} | {r.layout} | {r.levels} | {r.steps} | {r.wall_s:.2f} | {r.rtf:.3f} | "
                     f"{r.wall_s / delay[r.stage]:.1f}x |")
    return "\n".join(lines)
