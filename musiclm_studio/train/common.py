"""What every training entry point shares: run folders, resuming, bf16 autocast, DDP, logs.

A run folder holds::

    <out>/last/config.json + model.safetensors     the latest weights (loadable as a component)
    <out>/last/train_state.pt                      optimizer / scheduler / step / RNG (tensors only,
                                                   read back with torch.load(weights_only=True))
    <out>/metrics.jsonl                            one JSON line per log step

``--resume`` (the default) continues from ``<out>/last``; ``--init-from DIR`` starts from a
component folder (e.g. the committed weights in ``assets/``) with a fresh optimizer, so a
run can go on across sessions and machines.

Under ``torchrun --nproc_per_node N`` the same script runs data-parallel (gloo on CPU, NCCL on
GPUs). ``--batch-size`` is then the *global* batch: every rank draws the same global batch from
identically seeded generators and trains on its own contiguous slice of it (``rank_rows``), so a
run on N ranks sees the batches a single process with the same ``--batch-size`` sees, and its
logged losses are means over all ranks. ``prepare`` wraps a model in DDP, or with ``fsdp`` shards
it with FSDP (``torch.distributed.fsdp.fully_shard``); checkpoints are gathered and written by
rank 0 only; ``rank_spread`` (logged) is how far the ranks' weights are apart (0 when in sync).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import sys
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
    resolved = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
    if resolved.type == "cuda":
        if resolved.index is None:  # "cuda" alone: this process's GPU (torchrun's LOCAL_RANK, else the first)
            resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(resolved)
    return resolved, rank, world


def teardown_distributed() -> None:
    """Leave the process group a torchrun launch joined (``setup_distributed``), before the process
    exits: left to the interpreter's exit, gloo's threads were sometimes destroyed still running
    ("terminate called without an active exception", the rank aborted after a finished run)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def end_torchrun_rank() -> None:
    """End a torchrun rank whose run has finished at once, exit code 0, after flushing its output.
    Even with the process group left (``teardown_distributed``), a thread still running when the
    interpreter tore down its C++ objects sometimes aborted a finished rank ("terminate called without
    an active exception"), failing the launch. ``os._exit`` skips that teardown; every file a
    trainer writes is closed by then. Outside a torchrun launch it does nothing."""
    if "TORCHELASTIC_RUN_ID" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def rank_rows(batch_size: int, rank: int, world: int) -> slice:
    """This rank's contiguous rows of a global batch of ``batch_size`` (all rows for one process)."""
    if batch_size % world:
        raise ValueError(f"--batch-size {batch_size} is the global batch of all {world} ranks: use a multiple of {world}.")
    per = batch_size // world
    return slice(rank * per, (rank + 1) * per)


def mean_across_ranks(value: float) -> float:
    """The mean of a per-rank scalar (a loss on the rank's slice) over all ranks; itself for one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    return float(_reduced(torch.tensor([float(value)], dtype=torch.float64))) / dist.get_world_size()


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _reduced(tensor: torch.Tensor, op=None) -> torch.Tensor:
    """``tensor`` all-reduced (sum, or ``op``) on the backend's device, returned on the CPU."""
    on = tensor.to(_collective_device())
    dist.all_reduce(on, op=op or dist.ReduceOp.SUM)
    return on.cpu()


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of ``x`` [B / world, ...] in rank order, gradients flowing back to each rank's own
    (a contrastive loss then sees the whole global batch's negatives); ``x`` itself for one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed._functional_collectives import all_gather_single_autograd

    return all_gather_single_autograd(x.contiguous(), 0, dist.group.WORLD)


def rank_spread(model: torch.nn.Module) -> float:
    """The largest difference between ranks of any weight's sum or absolute sum: 0.0 when every rank holds
    the same weights (DDP's invariant), 0.0 for one process; under FSDP (ranks hold different shards) the
    full weights are compared as every rank gathers them."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0.0
    state = full_state_dict(model, everywhere=True) if is_sharded(model) else unwrap(model).state_dict()
    fingerprint = torch.stack([torch.stack([t.detach().double().sum(), t.detach().double().abs().sum()])
                               for t in state.values() if t.is_floating_point()]).flatten().cpu()
    high = _reduced(fingerprint.clone(), dist.ReduceOp.MAX)
    low = _reduced(fingerprint.clone(), dist.ReduceOp.MIN)
    return float((high - low).abs().max())


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def shard(model: torch.nn.Module, methods: tuple[str, ...] = ()) -> torch.nn.Module:
    """FSDP (``fully_shard``): each Transformer block, then the rest of the model; ``methods`` (e.g. ``loss``)
    gather the weights like ``forward`` does."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for module in model.modules():
        for block in getattr(module, "blocks", []):
            fully_shard(block)
    fully_shard(model)
    for name in methods:
        register_fsdp_forward_method(model, name)
    return model


def full_state_dict(model: torch.nn.Module, everywhere: bool = False) -> dict:
    """The whole model's weights on the CPU. Under FSDP a collective (every rank must call it); the result
    is on rank 0 only unless ``everywhere``."""
    if not is_sharded(model):
        return unwrap(model).state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=not everywhere)
    state = get_model_state_dict(model, options=options)
    return {k: v.cpu() for k, v in state.items()}


def prepare(model: torch.nn.Module, make_optimizer, state: "RunState", component: str, world: int,
            fsdp: bool = False, find_unused_parameters: bool = False, fsdp_methods: tuple[str, ...] = ()):
    """Restore a run (``--resume`` / ``--init-from``), wrap the model for data parallelism and build its
    optimizer: returns (the model to call, the optimizer, the step to start at).

    One process: the model itself. ``torchrun``: DDP, or with ``fsdp`` the model sharded in place
    (``shard``; its optimizer is built on the shards and restored from the gathered state that
    ``RunState.save`` wrote).
    """
    if not fsdp:
        optimizer = make_optimizer(model)
        step = state.restore(model, optimizer, component)
        if world > 1:
            model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)
        return model, optimizer, step
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError("--fsdp shards a model over the ranks of torchrun: launch with "
                         "torchrun --nproc_per_node N -m musiclm_studio.cli train ...")
    step, saved = state.restore_weights(model, component)
    with torch.no_grad():  # FSDP keeps each rank's own slice: start every rank from rank 0's weights (DDP does too)
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, 0)
    shard(model, fsdp_methods)
    optimizer = make_optimizer(model)
    if saved is not None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        if not saved.get("optimizer_by_name"):
            raise ValueError(f"{state.last} was saved without --fsdp: resume it without --fsdp, or start a new "
                             "--out with --init-from it.")
        set_optimizer_state_dict(model, optimizer, saved["optimizer"], options=StateDictOptions(full_state_dict=True))
    return model, optimizer, step


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
        self.init_prefix = ""  # --init-from's weights under this name only (a member of a MuLan ensemble)
        self.started = self.session_started = time.time()
        if rank == 0:
            os.makedirs(run.out, exist_ok=True)
            hub.write_json(os.path.join(run.out, "run.json"), asdict(run))

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, component: str) -> int:
        """Resume from <out>/last, else initialise from --init-from; returns the step to start at.

        ``--init-from`` may be a component folder, a training run (its ``last/``) or a whole
        pipeline such as ``assets/musiclm-small`` (its ``component`` sub-folder).
        """
        step, saved = self.restore_weights(model, component)
        if saved is not None:
            if saved.get("optimizer_by_name"):
                raise ValueError(f"{self.last} was saved by an --fsdp run: resume it with --fsdp under torchrun.")
            optimizer.load_state_dict(saved["optimizer"])
        return step

    def restore_weights(self, model: torch.nn.Module, component: str) -> tuple[int, Optional[dict]]:
        """The weights half of ``restore``: (step, the saved training state to resume, or None)."""
        if self.run.resume and os.path.isfile(os.path.join(self.last, "model.safetensors")):
            hub.load_state(self.last, model)
            state = torch.load(os.path.join(self.last, "train_state.pt"), weights_only=True)
            torch.set_rng_state(state["rng"])
            self.started -= 60 * float(state.get("minutes", torch.tensor(0.0)))  # wall time spans sessions
            if self.rank == 0:
                print(f"resumed from {self.last} at step {int(state['step'])}")
            return int(state["step"]), state
        if self.run.init_from:
            from ..components import trained_folder

            folder = trained_folder(self.run.init_from, component)
            missing = hub.load_matching(folder, model, self.init_prefix)
            if self.rank == 0:
                listed = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
                print(f"initialised from {folder}" + (f"; newly initialised: {listed}" if missing else ""))
        return 0, None

    def save(self, model: torch.nn.Module, config, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Write <out>/last (rank 0 only; under FSDP every rank must call it: the shards are gathered)."""
        extra = {}
        if is_sharded(model):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            weights = full_state_dict(model)
            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            extra = {"optimizer": get_optimizer_state_dict(model, optimizer, options=options),
                     "optimizer_by_name": torch.tensor(True)}
        if self.rank != 0:
            return
        tmp = self.last + ".tmp"
        if is_sharded(model):
            hub.save_component(tmp, config, state=weights)
        else:
            hub.save_component(tmp, config, model)
        minutes = torch.tensor((time.time() - self.started) / 60)
        torch.save({"optimizer": optimizer.state_dict(), "step": torch.tensor(step), "rng": torch.get_rng_state(),
                    "minutes": minutes, **extra},
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


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters, run: RunConfig, step: int,
                   average: bool = False) -> None:
    """Cosine-scheduled learning rate, backward, gradient clipping and one optimizer step. With ``average``
    the gradients are averaged over the ranks here (for a model trained without DDP's wrapper)."""
    for group in optimizer.param_groups:
        group["lr"] = cosine_lr(step, run.lr, run.warmup, run.steps)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parameters = [p for p in parameters if p.grad is not None]
    if average and dist.is_available() and dist.is_initialized():
        for p in parameters:
            p.grad.copy_(_reduced(p.grad).to(p.grad.device) / dist.get_world_size())
    torch.nn.utils.clip_grad_norm_(parameters, run.grad_clip)
    optimizer.step()


def progress_bar(run: RunConfig, step: int, rank: int, desc: str):
    """A tqdm bar on rank 0 (None elsewhere), starting at ``step`` of ``run.steps``."""
    if rank != 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=run.steps, initial=step, desc=desc, unit="step")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper (an FSDP model is sharded in place: itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


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
