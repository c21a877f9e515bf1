"""What a preset costs to train: ``musiclm-studio train estimate --preset paper``.

For each trainable component of a preset it builds the model, counts its parameters, states the
memory of its training state (fp32 weights, gradients and AdamW's two moments: 16 bytes a
parameter, activations not included) and *measures* a few optimizer steps on this machine at a
reduced batch (``--batch`` x ``--seconds``: random audio or tokens through the trainers' own
batch code and objectives). From the parameter counts it extrapolates, clearly labelled as an
estimate, the step time of the per-GPU batch of the 8-GPU recipe (docs/scale.md): training FLOPs
~ 6 x parameters x positions a step (the rule of thumb for networks that use each weight once per
frame: Transformer positions for the LMs, 50 Hz frames for the codec, 25 Hz frames for MuLan's
audio tower), at an assumed sustained bf16 throughput (``GPU_TFLOPS``). No GPU was used to make
these numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Optional

import torch

# Assumed sustained training throughput of one H100 / H200-class GPU in bf16: about 40 % of its
# 989 dense TFLOP/s. An assumption, not a measurement.
GPU_TFLOPS = 400.0
# Per-GPU batches of the 8-GPU recipe in docs/scale.md: (clips, seconds) per component.
GPU_BATCH = {"codec": (16, 2.0), "mulan": (64, 10.0), "semantic_lm": (8, 30.0), "coarse_lm": (8, 30.0),
             "fine_lm": (8, 10.0)}


@dataclass
class ComponentEstimate:
    component: str
    parameters: int
    weights_mb_bf16: float
    train_state_gb: float  # fp32 weights + grads + AdamW moments (16 B / parameter), activations not included
    measured_batch: int
    measured_seconds: float
    measured_step_s: float  # wall time of one optimizer step on this machine (mean of the steps after the first)
    loss: float
    positions: int  # sequence positions (LMs) or frames (codec 50 Hz, MuLan 25 Hz) of the measured batch
    gpu_batch: tuple  # the per-GPU (clips, seconds) of docs/scale.md
    gpu_step_s_estimate: float  # extrapolated from the parameter count, not measured

    def to_dict(self) -> dict:
        return asdict(self)


def _lm_batch(config, stage: str, batch: int, seconds: float):
    """Random tokens through the LM trainer's own cropping (``lm.crop_batch``): (targets, conditions, positions)."""
    from .lm import crop_batch
    from .tokens import TokenSet

    frames = max(2, int(seconds * config.semantic_tokenizer.frame_rate))
    clips = batch
    codebook = config.codec.codebook_size
    tokens = TokenSet(codes=torch.randint(0, codebook, (config.codec.num_quantizers, 2 * frames * clips)),
                      semantic=torch.randint(0, config.semantic_tokenizer.codebook_size, (frames * clips,)),
                      melody=torch.randint(0, config.melody.vocab_size, (frames * clips,)),
                      mulan=torch.randint(0, config.mulan.codebook_size, (clips, 1, config.mulan.num_quantizers)),
                      lengths=torch.full((clips,), frames))
    targets, conditions = crop_batch(tokens, stage, batch, frames, torch.Generator().manual_seed(0),
                                     config.codec.num_coarse_quantizers)
    return targets, conditions


def _step_fn(component: str, config, batch: int, seconds: float):
    """(model, one training loss of a random batch as a function, positions of that batch)."""
    if component == "codec":
        from ..models.codec import SoundStreamCodec
        from .losses import MultiResolutionMelLoss

        model, mel = SoundStreamCodec(config.codec), MultiResolutionMelLoss(config.codec.sample_rate)
        audio = 0.1 * torch.randn(batch, int(seconds * config.codec.sample_rate))

        def loss():
            recon, _, commit = model(audio)
            return 15 * mel(recon.float(), audio) + commit

        return model, loss, batch * int(seconds * config.codec.sample_rate / config.codec.hop_length)
    if component == "mulan":
        from ..models.mulan import MuLan

        model = MuLan(config.mulan)
        audio = 0.1 * torch.randn(batch, int(seconds * config.mulan.sample_rate))
        text = torch.randn(batch, config.mulan.text_dim)

        def loss():
            audio_emb, text_emb, _ = model(audio, text)
            return model.contrastive_loss(audio_emb, text_emb)

        return model, loss, batch * int(seconds * 25)  # the audio tower's 25 Hz frames
    from ..models.lm import build_stage_lm

    stage = component.removesuffix("_lm")
    model = build_stage_lm(getattr(config, component))
    targets, conditions = _lm_batch(config, stage, batch, seconds)

    def loss():
        return model(targets, conditions, model.random_drop(targets.shape[0], targets.device), return_loss=True)

    return model, loss, targets.shape[0] * targets.shape[-1]


def measure(component: str, preset_name: str = "paper", batch: int = 1, seconds: float = 1.0,
            steps: int = 2) -> ComponentEstimate:
    """Build ``component`` of the preset, run ``steps`` AdamW steps on a random batch, time them."""
    from ..config import preset

    if steps < 1 or batch < 1 or seconds <= 0:
        raise ValueError("--steps and --batch must be at least 1 and --seconds above 0.")
    config = preset(preset_name)
    torch.manual_seed(0)
    model, loss_fn, positions = _step_fn(component, config, batch, seconds)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    times, value = [], float("nan")
    for _ in range(steps):
        start = time.perf_counter()
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
        value = float(loss.detach())
    step_s = sum(times[1:]) / len(times[1:]) if len(times) > 1 else times[0]
    parameters = sum(p.numel() for p in trainable)
    gpu = GPU_BATCH[component]
    estimate = _gpu_step(component, parameters, positions, batch, seconds, gpu)
    del model, optimizer
    return ComponentEstimate(component, parameters, round(parameters * 2 / 2**20, 1), round(parameters * 16 / 2**30, 2),
                             batch, seconds, round(step_s, 3), round(value, 4), positions, gpu,
                             float(f"{estimate:.3g}"))


def _gpu_step(component: str, parameters: int, positions: int, batch: int, seconds: float,
              gpu: tuple) -> float:
    """Seconds a step of the per-GPU batch ``gpu`` would take at ``GPU_TFLOPS``: 6 x parameters x positions,
    the positions scaled from the measured batch's (an estimate)."""
    clips, gpu_seconds = gpu
    gpu_positions = positions * (clips * gpu_seconds) / (batch * seconds)
    return 6.0 * parameters * gpu_positions / (GPU_TFLOPS * 1e12)


COMPONENTS = ("codec", "mulan", "semantic_lm", "coarse_lm", "fine_lm")


def estimate_table(rows: list[ComponentEstimate]) -> str:
    lines = ["| component | parameters | bf16 weights | AdamW train state | measured CPU step (batch x s) | "
             "GPU step, 8-GPU recipe batch (estimate) |", "|---|---|---|---|---|---|"]
    for r in rows:
        gpu = f"~{r.gpu_step_s_estimate:.2g} s ({r.gpu_batch[0]} x {r.gpu_batch[1]:g} s)"
        lines.append(f"| {r.component} | {r.parameters / 1e6:.1f} M | {r.weights_mb_bf16:.0f} MB | {r.train_state_gb:.2f} GB | "
                     f"{r.measured_step_s:.2f} s ({r.measured_batch} x {r.measured_seconds:g} s) | {gpu} |")
    return "\n".join(lines)
