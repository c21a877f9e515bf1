"""What a generation depends on besides the code and the seed: the CPU, its kernels and torch.

Float and int8 kernels round differently between instruction sets (and between CPUs of one set), and a
sampled token that flips changes everything after it: the same weights, prompts and seeds give other
clips on another machine. Evaluations record it (``eval.json`` ``machine``), ``eval.compare`` warns
when runs come from different machines, and the shipped digests hold only where they were recorded.
"""

from __future__ import annotations

import platform

import torch


def cpu_name() -> str:
    """The CPU's model name: two CPUs with the same instruction set can still round differently."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> str:
    """What a fixed-seed output depends on besides the code: torch's version, the CPU's kernels, the CPU
    and the thread count (``eval.json`` ``machine``; the key of ``tests/data/shipped_digests.json``)."""
    return (f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {cpu_name()}, "
            f"{torch.get_num_threads()} threads")
