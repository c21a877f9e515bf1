"""Train the acoustic codec: ``musiclm-studio train codec --data CORPUS --out RUN``.

Objective: multi-resolution mel L1 (weight 15) + multi-resolution STFT (weight 1) +
RVQ commitment (weight 1), optionally a quarter-tone spectrum L1 (``--pitch-weight``), long-window
STFT (``--long-stft-weight``, ``LONG_STFT``) and the decode's frame-periodic part (``--comb-weight``,
``losses.HopCombLoss``); codebooks are EMA-updated, k-means initialised, with dead-code
replacement, and quantizer dropout trains every prefix of levels. Batches are random crops
of corpus training clips held in memory, or streamed from a sharded corpus (``--data`` a folder
of ``shards/``, see ``data.shards``). bf16 autocast on CPU or CUDA; resumable; DDP under
torchrun (``--batch-size`` the global batch, each rank training on its slice). Every ``save_every`` steps the latest weights land in ``RUN/last`` (a component
folder the pipeline can load).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..config import CodecConfig, preset
from ..models.codec import SoundStreamCodec
from .common import (RunConfig, RunState, autocast, mean_across_ranks, optimizer_step, prepare, progress_bar,
                     rank_rows, rank_spread, setup_distributed, unwrap)
from .data import CropSampler, load_clips
from .losses import HopCombLoss, MultiResolutionMelLoss, MultiResolutionSTFTLoss, PitchLoss


LONG_STFT = ((4096, 1024), (8192, 2048))
"""The windows of ``--long-stft-weight``. The decoder synthesises 1920-sample frames every 480 samples (iSTFT);
where its phases do not turn from frame to frame as a sound's do, overlap-add piles the energy onto the hop
rate's harmonics (50, 100, 150 ... Hz: a buzz, read by key analysers as G, D, B, F). Windows of 4096-8192
samples (2.9-5.9 Hz bins) resolve that comb finely. In session 43 this loss alone took the comb's share of
the decoded energy from 0.47 to 0.20 in 2,000 steps, and ``losses.HopCombLoss`` removed the rest
(docs/experiments/wider_world.md)."""


@dataclass
class CodecRunConfig(RunConfig):
    data: str = "corpus/v1"
    preset: str = "small"
    crop_s: float = 1.0
    mel_weight: float = 15.0
    stft_weight: float = 1.0
    commit_weight: float = 1.0
    quantizer_dropout: float = 0.5  # share of batches trained with a random number of levels
    pitch_weight: float = 0.0  # log-frequency (quarter-tone) spectrum L1; see losses.PitchLoss
    long_stft_weight: float = 0.0  # STFT loss at 4096/8192-sample windows, which resolve the hop-rate comb; see LONG_STFT
    comb_weight: float = 0.0  # the frame-periodic part of the decode (a buzz on the hop rate's harmonics); see losses.HopCombLoss
    decoder_only: bool = False  # freeze encoder + codebooks (codes unchanged); needs --init-from
    max_clips: int | None = None


def train_codec(run: CodecRunConfig) -> SoundStreamCodec:
    device, rank, world = setup_distributed(run.device)
    torch.manual_seed(run.seed + rank)
    config: CodecConfig = preset(run.preset).codec
    model = SoundStreamCodec(config).to(device)
    model.quantizer.quantizer_dropout = run.quantizer_dropout
    if run.decoder_only and not run.init_from:
        raise ValueError("--decoder-only retrains the decoder of a trained codec: give --init-from DIR.")
    if run.decoder_only:
        for module in (model.encoder, model.quantizer):
            module.requires_grad_(False)
    state = RunState(run, rank)
    # the decoder-only pass does not go through forward (DDP's hook): its gradients are averaged by hand
    model, optimizer, step = prepare(
        model, lambda m: torch.optim.AdamW((m.decoder if run.decoder_only else m).parameters(), lr=run.lr,
                                           betas=(0.8, 0.99), weight_decay=run.weight_decay),
        state, "codec", 1 if run.decoder_only else world)
    mel_loss, stft_loss = MultiResolutionMelLoss(config.sample_rate).to(device), MultiResolutionSTFTLoss().to(device)
    optional = {name: (weight, make().to(device)) for name, weight, make in (  # the losses off by default
        ("pitch", run.pitch_weight, lambda: PitchLoss(config.sample_rate)),
        ("long_stft", run.long_stft_weight, lambda: MultiResolutionSTFTLoss(LONG_STFT)),
        ("comb", run.comb_weight, lambda: HopCombLoss(config.hop_length))) if weight > 0}
    crop, rows = int(run.crop_s * config.sample_rate), rank_rows(run.batch_size, rank, world)
    sampler = crop_sampler(run, config.sample_rate, crop, step, rank, world)
    bar = progress_bar(run, step, rank, "codec")
    model.train()
    if run.decoder_only:
        model.encoder.eval(), model.quantizer.eval()  # no codebook updates, no quantizer dropout of its own
    tick, last_logged = time.time(), step
    state.begin()
    while step < run.steps and not state.out_of_time():
        audio = sampler.batch(run.batch_size, rows).to(device)  # [B / world, S]: this rank's rows
        with autocast(device, run.bf16):
            if run.decoder_only:
                recon, codes, commit = _decode_frozen(unwrap(model), audio)
            else:
                recon, codes, commit = model(audio)
        recon = recon.float()
        mel, stft = mel_loss(recon, audio), stft_loss(recon, audio)
        loss = run.mel_weight * mel + run.stft_weight * stft + run.commit_weight * commit.float()
        extra = {name: torch.zeros(()) for name in ("pitch", "long_stft", "comb")}  # logged as 0 where off
        for name, (weight, fn) in optional.items():
            extra[name] = fn(recon, audio)
            loss = loss + weight * extra[name]
        optimizer_step(optimizer, loss, model.parameters(), run, step, average=run.decoder_only and world > 1)
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(mel=f"{mel.item():.3f}")
        if step % run.log_every == 0:
            usage = unwrap(model).quantizer.usage(codes).mean().item()
            means = {name: mean_across_ranks(value.item()) for name, value in
                     (("loss", loss), ("mel", mel), ("stft", stft), *extra.items(), ("commit", commit))}
            state.log(step, **means, levels=codes.shape[1], usage=round(usage, 3), rank_spread=rank_spread(model),
                      steps_per_s=round((step - last_logged) / (time.time() - tick), 2))
            tick, last_logged = time.time(), step
        if step % run.save_every == 0:
            state.save(unwrap(model), config, optimizer, step)
    state.save(unwrap(model), config, optimizer, step)
    return unwrap(model).eval()


def crop_sampler(run: CodecRunConfig, sample_rate: int, crop: int, step: int, rank: int, world: int):
    """Random crops of the training split: of clips held in memory (every rank holds the split and draws
    the same global batches), or of a sharded corpus streamed by this rank (``data.shards``)."""
    from ..data.shards import StreamingCropSampler, is_sharded

    if is_sharded(run.data):
        return StreamingCropSampler(run.data, "train", sample_rate, crop, seed=run.seed + step, rank=rank, world=world)
    clips = load_clips(run.data, "train", sample_rate, limit=run.max_clips)
    return CropSampler(clips, crop, seed=run.seed + step)


def _decode_frozen(model: SoundStreamCodec, audio: torch.Tensor):
    """Decoder-only pass: the frozen encoder and codebooks give the codes (all levels, or a random
    prefix as the quantizer's dropout draws it); gradients reach only the decoder."""
    levels = model.quantizer.draw_levels(model.num_quantizers)
    with torch.no_grad():
        codes = model.encode(audio, levels)
        quantized = model.quantizer.decode(codes)
    return model.decode_latent(quantized), codes, torch.zeros(())
