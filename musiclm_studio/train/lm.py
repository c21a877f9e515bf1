"""Train a stage LM on cached tokens: ``musiclm-studio train semantic-lm | coarse-lm | fine-lm``.

Each step draws random aligned crops from the token cache (``train tokens``) and trains one
stage with teacher forcing over the delay-pattern grid, dropping conditioning streams at their
configured rates so that classifier-free guidance works at sampling time:

- semantic: MuLan tokens (prefix) + melody tokens (aligned) -> semantic tokens (25 Hz)
- coarse:   MuLan tokens (prefix) + semantic tokens (aligned) -> codec levels 1-4 (50 Hz)
- fine:     coarse tokens (aligned) -> codec levels 5-12 (50 Hz)

Validation cross-entropy on the valid split is logged with the training loss.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from ..config import preset
from ..models.lm import StageLM
from .common import RunConfig, RunState, autocast, optimizer_step, progress_bar, setup_distributed, unwrap
from .tokens import TokenSet


@dataclass
class LMRunConfig(RunConfig):
    stage: str = "coarse"
    tokens: str = "tokens"
    preset: str = "small"
    crop_s: float = 10.0
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 200


def crop_batch(tokens: TokenSet, stage: str, batch: int, frames: int, generator: torch.Generator,
               num_coarse: int = 4) -> tuple[torch.Tensor, dict]:
    """Aligned random crops of ``frames`` semantic frames -> (targets [B, Q, T], conditions)."""
    usable = torch.nonzero(tokens.lengths >= frames).flatten()
    if usable.numel() == 0:
        frames = int(tokens.lengths.max())
        usable = torch.nonzero(tokens.lengths >= frames).flatten()
    picks = usable[torch.randint(0, usable.numel(), (batch,), generator=generator)]
    starts = tokens.starts
    semantic, melody, codes, mulan = [], [], [], []
    for i in picks.tolist():
        offset = int(torch.randint(0, int(tokens.lengths[i]) - frames + 1, (1,), generator=generator))
        a = int(starts[i]) + offset
        semantic.append(tokens.semantic[a: a + frames])
        melody.append(tokens.melody[a: a + frames])
        codes.append(tokens.codes[:, 2 * a: 2 * (a + frames)])
        mulan.append(tokens.mulan[i, int(torch.randint(0, tokens.mulan.shape[1], (1,), generator=generator))])
    semantic, melody, codes, mulan = map(torch.stack, (semantic, melody, codes, mulan))
    if stage == "semantic":
        return semantic[:, None], {"mulan": mulan, "melody": melody}
    if stage == "coarse":
        return codes[:, :num_coarse], {"mulan": mulan, "semantic": semantic}
    if stage == "fine":
        return codes[:, num_coarse:], {"coarse": codes[:, :num_coarse]}
    raise ValueError(f"Unknown stage {stage!r}: use semantic, coarse or fine.")


def train_lm(run: LMRunConfig) -> StageLM:
    device, rank, world = setup_distributed(run.device)
    torch.manual_seed(run.seed + rank)
    pipeline_config = preset(run.preset)
    config = getattr(pipeline_config, f"{run.stage}_lm", None)
    if config is None:
        raise ValueError(f"Unknown stage {run.stage!r}: use semantic, coarse or fine.")
    model = StageLM(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.lr, betas=(0.9, 0.95), weight_decay=run.weight_decay)
    state = RunState(run, rank)
    step = state.restore(model, optimizer, f"{run.stage}_lm")
    train = TokenSet.load(os.path.join(run.tokens, "train.safetensors"))
    valid_path = os.path.join(run.tokens, "valid.safetensors")
    valid = TokenSet.load(valid_path) if os.path.isfile(valid_path) else None
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    generator = torch.Generator().manual_seed(run.seed + 7919 * step + rank)
    frames = int(run.crop_s * pipeline_config.semantic_tokenizer.frame_rate)
    num_coarse = pipeline_config.codec.num_coarse_quantizers
    bar = progress_bar(run, step, rank, f"{run.stage}-lm")
    tick, last_logged = time.time(), step
    state.begin()
    while step < run.steps and not state.out_of_time():
        targets, conditions = crop_batch(train, run.stage, run.batch_size, frames, generator, num_coarse)
        targets, conditions = targets.to(device), {k: v.to(device) for k, v in conditions.items()}
        with autocast(device, run.bf16):
            logits = ddp(targets, conditions, model.random_drop(targets.shape[0], device))
        loss = StageLM.cross_entropy(logits, targets)
        optimizer_step(optimizer, loss, model.parameters(), run, step)
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % run.log_every == 0:
            metrics = {"loss": loss.item()}
            if valid is not None:
                metrics["valid_loss"] = validation_loss(model, valid, run, frames, num_coarse, device)
            state.log(step, **metrics, steps_per_s=round((step - last_logged) / (time.time() - tick), 3))
            tick, last_logged = time.time(), step
        if step % run.save_every == 0:
            state.save(unwrap(model), config, optimizer, step)
    state.save(unwrap(model), config, optimizer, step)
    return unwrap(model).eval()


@torch.no_grad()
def validation_loss(model: StageLM, valid: TokenSet, run: LMRunConfig, frames: int, num_coarse: int, device,
                    batches: int = 4) -> float:
    """Mean cross-entropy (with all conditioning) on fixed valid crops."""
    model.eval()
    generator = torch.Generator().manual_seed(1234)
    losses = []
    for _ in range(batches):
        targets, conditions = crop_batch(valid, run.stage, run.batch_size, frames, generator, num_coarse)
        losses.append(model.loss(targets.to(device), {k: v.to(device) for k, v in conditions.items()},
                                 condition_dropout=False).item())
    model.train()
    return sum(losses) / len(losses)
