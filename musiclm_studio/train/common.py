"""What every training entry point shares: run folders, resuming, bf16 autocast, DDP, logs.

A run folder holds::

    <out>/last/config.json + model.safetensors     the latest weights (loadable as a component)
    <out>/last/train_state.pt                      optimizer / scheduler / step / RNG (tensors only,
                                                   read back with torch.load(weights_only=True))
    <out>/metrics.jsonl                            one JSON line per log step

``--resume`` (the default) continues from ``<out>/last``; ``--init-from DIR`` starts from a
component folder (e.g. the committed weights in ``assets/``) with a fresh optimizer, so a
run can go on across sessions and machines. Under ``torchrun`` the same script runs DDP.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import time
import typing
from dataclasses import asdict, dataclass, fields
from typing import Optional

import torch
import torch.distributed as dist

from .. import hub


@dataclass
class RunConfig:
    """Options shared by every trainer (each adds its own on top)."""

    out: str
    steps: int = 10_000
    batch_size: int = 8
    lr: float = 3e-4
    warmup: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    log_every: int = 25
    save_every: int = 500
    max_minutes: Optional[float] = None  # stop (and save) after this much wall time
    bf16: bool = True
    seed: int = 0
    device: Optional[str] = None
    init_from: Optional[str] = None
    resume: bool = True


def setup_distributed(device: Optional[str]) -> tuple[torch.device, int, int]:
    """(device, rank, world size); initialises the process group when launched by torchrun."""
    if "RANK" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    if device is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    return torch.device(device), rank, world


@functools.cache
def bf16_is_native(device_type: str, cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether bf16 math runs in hardware: a CUDA GPU that supports it, or a CPU with AMX or
    AVX512-BF16. Elsewhere (e.g. an AVX2-only CPU) torch emulates it, about 10x slower than fp32."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open(cpuinfo) as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:  # not Linux: trust the user's --no-bf16
        return True
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CPU and CUDA; a no-op when disabled or where bf16 is not native (fp32 is then faster)."""
    if not enabled:
        return contextlib.nullcontext()
    if not bf16_is_native(device.type):
        _say_once(f"bf16 is emulated on this {device.type} (no AMX / AVX512-BF16): training in fp32, which is "
                  "about 10x faster here")
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@functools.cache
def _say_once(message: str) -> None:
    print(message, flush=True)


def cosine_lr(step: int, base: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


class RunState:
    """Checkpointing and logging of one run folder (only rank 0 writes)."""

    def __init__(self, run: RunConfig, rank: int = 0):
        self.run, self.rank = run, rank
        self.last = os.path.join(run.out, "last")
        self.started = self.session_started = time.time()
        if rank == 0:
            os.makedirs(run.out, exist_ok=True)
            hub.write_json(os.path.join(run.out, "run.json"), asdict(run))

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, component: str) -> int:
        """Resume from <out>/last, else initialise from --init-from; returns the step to start at.

        ``--init-from`` may be a component folder, a training run (its ``last/``) or a whole
        pipeline such as ``assets/musiclm-small`` (its ``component`` sub-folder).
        """
        if self.run.resume and os.path.isfile(os.path.join(self.last, "model.safetensors")):
            hub.load_state(self.last, model)
            state = torch.load(os.path.join(self.last, "train_state.pt"), weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            self.started -= 60 * float(state.get("minutes", torch.tensor(0.0)))  # wall time spans sessions
            print(f"resumed from {self.last} at step {int(state['step'])}")
            return int(state["step"])
        if self.run.init_from:
            from ..components import trained_folder

            folder = trained_folder(self.run.init_from, component)
            missing = hub.load_matching(folder, model)
            print(f"initialised from {folder}" + (f"; newly initialised: {', '.join(missing)}" if missing else ""))
        return 0

    def save(self, model: torch.nn.Module, config, optimizer: torch.optim.Optimizer, step: int) -> None:
        if self.rank != 0:
            return
        tmp = self.last + ".tmp"
        hub.save_component(tmp, config, model)
        minutes = torch.tensor((time.time() - self.started) / 60)
        torch.save({"optimizer": optimizer.state_dict(), "step": torch.tensor(step), "rng": torch.get_rng_state(),
                    "minutes": minutes},
                   os.path.join(tmp, "train_state.pt"))
        if os.path.isdir(self.last):
            os.replace(self.last, self.last + ".old")
        os.replace(tmp, self.last)
        if os.path.isdir(self.last + ".old"):
            import shutil

            shutil.rmtree(self.last + ".old")

    def log(self, step: int, **metrics) -> None:
        if self.rank != 0:
            return
        record = {"step": step, "minutes": round((time.time() - self.started) / 60, 2), **metrics}
        with open(os.path.join(self.run.out, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    def begin(self) -> None:
        """Start the ``max_minutes`` clock (after data loading and caches, before the first step)."""
        self.session_started = time.time()

    def out_of_time(self) -> bool:
        return self.run.max_minutes is not None and (time.time() - self.session_started) / 60 >= self.run.max_minutes


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters, run: RunConfig, step: int) -> None:
    """Cosine-scheduled learning rate, backward, gradient clipping and one optimizer step."""
    for group in optimizer.param_groups:
        group["lr"] = cosine_lr(step, run.lr, run.warmup, run.steps)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, run.grad_clip)
    optimizer.step()


def progress_bar(run: RunConfig, step: int, rank: int, desc: str):
    """A tqdm bar on rank 0 (None elsewhere), starting at ``step`` of ``run.steps``."""
    if rank != 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=run.steps, initial=step, desc=desc, unit="step")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def _flag_type(hint) -> type:
    """The argparse type of a field annotated ``int``, ``float``, ``str`` or ``Optional[...]`` of one."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_arguments(parser: argparse.ArgumentParser, defaults, skip: set[str] = frozenset()) -> None:
    """One flag per run-config field (``--max-minutes``, ``--no-bf16`` ...), except those in ``skip``."""
    hints = typing.get_type_hints(type(defaults))
    for f in fields(defaults):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            parser.add_argument(("--no-" if value else "--") + f.name.replace("_", "-"), dest=f.name,
                                action="store_false" if value else "store_true")
        elif f.name == "out":
            parser.add_argument(flag, required=True)
        else:
            parser.add_argument(flag, type=_flag_type(hints[f.name]), default=value)
