"""Trainers under ``torchrun --nproc_per_node 2`` (gloo, CPU, one thread a rank), on the tiny preset.

Each check runs the same short training once in this process and once on two ranks with the same
global ``--batch-size``: the two ranks must hold identical weights (``rank_spread`` 0), the loss
logged by the two ranks (their mean) must follow the single process's step by step, their final
weights must agree within float tolerance, rank 0 alone must write the run folder, and a resumed
two-rank run must go on from the saved step.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from musiclm_studio.train.codec import CodecRunConfig, train_codec
from musiclm_studio.train.lm import LMRunConfig, train_lm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torchrun(*args: str, nproc: int = 2, timeout: float = 240) -> None:
    """``torchrun --standalone --nproc_per_node N -m musiclm_studio.cli ARGS`` (fails the test on error)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "musiclm_studio.cli", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]


def logged(out) -> list[dict]:
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


def assert_same_run(single, ranks, atol: float, loss: str = "loss") -> None:
    """Two ranks match one process: the same logged steps once each, losses and final weights."""
    one, two = logged(single), logged(ranks)
    assert [r["step"] for r in two] == [r["step"] for r in one]  # one line a step: only rank 0 logs
    assert all(r["rank_spread"] == 0.0 for r in two)
    for a, b in zip(one, two):
        assert b[loss] == pytest.approx(a[loss], rel=1e-5, abs=1e-6), (a, b)
    w1, w2 = (load_file(os.path.join(out, "last", "model.safetensors")) for out in (single, ranks))
    assert w1.keys() == w2.keys()
    worst = max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1)
    loss_gap = max(abs(b[loss] - a[loss]) / abs(a[loss]) for a, b in zip(one, two))
    print(f"{os.path.basename(ranks)} vs one process: {loss} relative gap {loss_gap:.1e}, weights {worst:.1e}")
    assert worst < atol, worst
    assert sorted(os.listdir(ranks)) == sorted(os.listdir(single))  # no second copy, no leftover .tmp


@pytest.fixture(scope="module")
def clip_folder(synthetic_corpus):
    return str(synthetic_corpus)


# The STFT loss's spectral convergence is a ratio over the whole batch (not a mean over clips), so with
# it N ranks optimise the mean of N per-slice ratios: the exact comparison leaves it out.
CODEC = dict(preset="tiny", batch_size=4, crop_s=0.4, log_every=1, save_every=100, warmup=2, bf16=False,
             stft_weight=0.0)


def test_codec_ddp_matches_one_process_and_resumes(clip_folder, tmp_path):
    train_codec(CodecRunConfig(out=str(tmp_path / "one"), data=clip_folder, steps=4, **CODEC))
    flags = ["--data", clip_folder, "--preset", "tiny", "--batch-size", "4", "--crop-s", "0.4", "--log-every", "1",
             "--save-every", "100", "--warmup", "2", "--no-bf16", "--stft-weight", "0"]
    torchrun("train", "codec", "--out", str(tmp_path / "two"), "--steps", "4", *flags)
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-5)
    # resume both to step 6: the two-rank run goes on from its checkpoint exactly as one process does
    train_codec(CodecRunConfig(out=str(tmp_path / "one"), data=clip_folder, steps=6, **CODEC))
    torchrun("train", "codec", "--out", str(tmp_path / "two"), "--steps", "6", *flags)
    assert [r["step"] for r in logged(tmp_path / "two")] == [1, 2, 3, 4, 5, 6]
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-5)


def test_device_cuda_alone_trains_on_this_processs_gpu(monkeypatch):
    """``--device cuda`` (no index) once failed in torch.cuda.set_device on a GPU machine; it now means
    the first GPU, or torchrun's LOCAL_RANK's (the GPU calls are recorded: CI has no GPU)."""
    from musiclm_studio.train.common import setup_distributed

    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert setup_distributed("cuda") == (torch.device("cuda", 0), 0, 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert setup_distributed("cuda")[0] == torch.device("cuda", 1)
    assert setup_distributed("cuda:3")[0] == torch.device("cuda", 3)
    assert chosen == [torch.device("cuda", 0), torch.device("cuda", 1), torch.device("cuda", 3)]
    assert setup_distributed("cpu")[0] == torch.device("cpu") and len(chosen) == 3


def test_the_global_batch_must_split_evenly(clip_folder, tmp_path):
    from musiclm_studio.train.common import rank_rows

    assert [rank_rows(6, r, 2) for r in (0, 1)] == [slice(0, 3), slice(3, 6)]
    with pytest.raises(ValueError, match="multiple of 2"):
        rank_rows(5, 0, 2)


LM_FLAGS = ["--preset", "tiny", "--batch-size", "4", "--crop-s", "1.0", "--log-every", "2", "--save-every", "100",
            "--warmup", "2", "--no-bf16", "--dropout", "0", "--layout", "delay"]


def lm_run(root, out, steps: int) -> LMRunConfig:
    # the fine LM's conditioning is never dropped; Transformer dropout 0 and the delay layout leave no
    # draw from a rank's own generator, so two ranks can match one process exactly
    return LMRunConfig(out=str(out), stage="fine", tokens=str(root / "tokens"), preset="tiny", steps=steps, batch_size=4,
                       crop_s=1.0, log_every=2, save_every=100, warmup=2, bf16=False, dropout=0.0, layout="delay")


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_lm_on_two_ranks_matches_one_process_and_resumes(synthetic_tokens, mode, tmp_path):
    root, _ = synthetic_tokens
    extra = ["--fsdp"] if mode == "fsdp" else []
    train_lm(lm_run(root, tmp_path / "one", 4))
    torchrun("train", "fine-lm", "--tokens", str(root / "tokens"), "--out", str(tmp_path / "two"), "--steps", "4",
             *LM_FLAGS, *extra)
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-5)
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-5, loss="valid_loss")
    train_lm(lm_run(root, tmp_path / "one", 6))
    torchrun("train", "fine-lm", "--tokens", str(root / "tokens"), "--out", str(tmp_path / "two"), "--steps", "6",
             *LM_FLAGS, *extra)
    assert [r["step"] for r in logged(tmp_path / "two")] == [2, 4, 6]
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-5)


def test_a_finished_torchrun_rank_exits_at_once_with_its_output_flushed(monkeypatch):
    """``end_torchrun_rank`` ends a torchrun rank with code 0 before the interpreter's teardown (where a
    still-running thread once aborted finished ranks); outside torchrun it returns."""
    from musiclm_studio.train.common import end_torchrun_rank

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert end_torchrun_rank() is None  # a plain process: nothing happens
    code = ("from musiclm_studio.train.common import end_torchrun_rank\n"
            "print('trained', end='')\nend_torchrun_rank()\nraise SystemExit(3)")
    env = {**os.environ, "PYTHONPATH": ROOT, "TORCHELASTIC_RUN_ID": "test", "WORLD_SIZE": "2"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "trained")
