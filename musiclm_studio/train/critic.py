"""Train the attribute critic and its attribute reader: ``musiclm-studio train critic``.

    musiclm-studio train critic --tokens tokens/v2 --data corpus/v1 --out runs/critic --steps 3000
    musiclm-studio train critic --tokens tokens/v1,tokens/extra --data corpus/v1,corpus/extra ...  # several

Several caches pair with as many corpora, in order: their train splits are joined, and validation uses
the first pair's (as the LM trainers do).

The critic (``models.critic``): the coarse codec levels of a token cache (built by ``train tokens``
from the same corpus, so its clips line up with the corpus rows) against each clip's true tempo,
mode, drums and lead family, in random 6-10 s crops with 10 % of the tokens replaced at random
(generated tokens are noisier than a real clip's). The reader (``models.attribute_reader``): the
features of each clip's caption from the pipeline's MuLan text encoder (the frozen sentence
encoder, before MuLan's projection) against what the caption asks (``data.captions.requested``: a
stated bpm, a tempo word's band, a mode, or "unstated"). The features are computed once and cached
in the run folder. The two share the batches and nothing else: each has its own optimizer and is
saved as its own run, ``<out>/critic`` and ``<out>/attribute_reader`` (``assemble --component
critic=<out> --component attribute_reader=<out>``), with its validation accuracies per attribute
in its metrics.jsonl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Optional

import torch
import torch.nn.functional as F

from .. import hub
from ..config import AttributeReaderConfig, CriticConfig
from ..data.captions import TEMPO_BANDS, requested
from ..models.attribute_reader import AttributeReader
from ..models.critic import AttributeCritic
from ..vocab.attributes import bin_bpms, tempo_target
from ..vocab.musical_key import MODES
from .common import (RunConfig, RunState, mean_across_ranks, optimizer_step, prepare, progress_bar, rank_rows,
                     rank_spread, setup_distributed)
from .tokens import TokenSet, cache_corpus_rows, load_split_cache, paired_corpora


@dataclass
class CriticRunConfig(RunConfig):
    tokens: str = "tokens/v2"  # a token cache of --data (train and valid splits), or several: "A,B"
    data: str = "corpus/v1"  # the corpus each cache was built from (labels and captions): "C,D" for "A,B"
    pipeline: Optional[str] = None  # whose codec levels and MuLan text encoder (default: the shipped pipeline)
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.05
    log_every: int = 250
    d_model: int = 128
    token_noise: float = 0.1
    min_crop_s: float = 6.0
    bf16: bool = False  # a 1 M-parameter model: fp32 is as fast


def word_target(word: str, centres: torch.Tensor) -> torch.Tensor:
    """Uniform over the tempo bins inside a tempo word's band [bins]."""
    low, high = TEMPO_BANDS[word]
    inside = ((centres >= low) & (centres <= high)).float()
    return inside / inside.sum().clamp(min=1)


@dataclass
class Labels:
    """Per clip: audio targets (true values) and text targets (what its caption asks)."""

    bpm: torch.Tensor  # [N]
    mode: torch.Tensor  # [N] index into MODES
    drums: torch.Tensor  # [N] 0 / 1
    family: torch.Tensor  # [N] index into config.families
    text_tempo: torch.Tensor  # [N, bins + 1] soft; last column = unstated
    text_mode: torch.Tensor  # [N] index into MODES, or len(MODES) = unstated


def labels(rows: list[dict], config: AttributeReaderConfig | CriticConfig, centres: torch.Tensor) -> Labels:
    unknown = sorted({r.get("lead_family") for r in rows} - set(config.families))
    if unknown or any(r.get("mode") not in MODES or r.get("bpm") is None for r in rows):
        raise ValueError(f"The corpus rows need bpm, mode (major / minor), drums and a lead family in {config.families}"
                         + (f"; found {unknown}" if unknown else "") + ". Build the corpus with musiclm-studio corpus build.")
    text_tempo, text_mode = [], []
    for row in rows:
        asked = requested(row["caption"], row)
        target = torch.zeros(config.tempo_bins + 1)
        if asked.get("tempo_word"):
            target[:-1] = word_target(asked["tempo_word"], centres)
        elif asked.get("bpm"):
            target[:-1] = tempo_target(torch.tensor([float(asked["bpm"])]), centres)[0]
        else:
            target[-1] = 1.0
        text_tempo.append(target)
        text_mode.append(MODES.index(asked["mode"]) if asked.get("mode") in MODES else len(MODES))
    return Labels(torch.tensor([float(r["bpm"]) for r in rows]), torch.tensor([MODES.index(r["mode"]) for r in rows]),
                  torch.tensor([int(bool(r["drums"])) for r in rows]),
                  torch.tensor([config.families.index(r["lead_family"]) for r in rows]),
                  torch.stack(text_tempo), torch.tensor(text_mode))


def coarse_clips(cache: TokenSet, levels: int, rows: list[dict], name: str) -> list[torch.Tensor]:
    """Each clip's coarse codes [levels, T] from a token cache (acoustic frames = 2 x semantic)."""
    if cache.lengths.numel() != len(rows):
        raise ValueError(f"The token cache's {name} split holds {cache.lengths.numel()} clips, the corpus split "
                         f"{len(rows)}: build the cache from this corpus (musiclm-studio train tokens --data ...).")
    starts, lengths = (2 * cache.starts).tolist(), (2 * cache.lengths).tolist()
    return [cache.codes[:levels, s: s + n].long() for s, n in zip(starts, lengths)]


def paired_clips(tokens: str, data: str, split: str, levels: int) -> tuple[list[dict], list[torch.Tensor]]:
    """The corpus rows and coarse codes of ``split`` from caches ``tokens`` ("A" or "A,B") paired in order
    with the corpora ``data`` they were built from. The train split joins every pair; valid uses the first."""
    pairs = paired_corpora(tokens, data, split)
    sets = [load_split_cache(folder, split) for folder, _ in pairs]
    TokenSet.check_compatible(sets, [folder for folder, _ in pairs])
    rows, clips = [], []
    for (folder, corpus), cache in zip(pairs, sets):
        split_rows = cache_corpus_rows(folder, corpus, split)
        rows += split_rows
        clips += coarse_clips(cache, levels, split_rows, f"{folder} {split}")
    return rows, clips


def crop_batch(clips: list[torch.Tensor], index: list[int], frames: int, noise: float, vocab_size: int,
               generator: torch.Generator) -> torch.Tensor:
    """Random crops [B, L, frames] (clips shorter than ``frames`` set the length), tokens replaced at rate ``noise``."""
    frames = min([frames] + [clips[i].shape[1] for i in index])
    out = []
    for i in index:
        start = int(torch.randint(0, clips[i].shape[1] - frames + 1, (), generator=generator))
        out.append(clips[i][:, start: start + frames])
    x = torch.stack(out)
    if noise > 0:
        swap = torch.rand(x.shape, generator=generator) < noise
        x = torch.where(swap, torch.randint(0, vocab_size, x.shape, generator=generator), x)
    return x


def critic_loss(model: AttributeCritic, codes: torch.Tensor, y: Labels, centres: torch.Tensor) -> torch.Tensor:
    """The critic's loss: what each crop's coarse tokens show against the clip's true values."""
    audio = model.audio_logits(codes)
    loss = -(tempo_target(y.bpm, centres) * audio["tempo"].log_softmax(-1)).sum(-1).mean()
    loss = loss + F.cross_entropy(audio["mode"], y.mode) + F.cross_entropy(audio["drums"], y.drums)
    return loss + F.cross_entropy(audio["lead_family"], y.family)


def reader_loss(model: AttributeReader, text: torch.Tensor, y: Labels) -> torch.Tensor:
    """The reader's loss: what it reads from each caption's features against what the caption asks."""
    asked = model.text_logits(text)
    loss = -(y.text_tempo * asked["tempo"].log_softmax(-1)).sum(-1).mean()
    loss = loss + F.cross_entropy(asked["mode"], y.text_mode) + F.cross_entropy(asked["drums"], y.drums)
    return loss + F.cross_entropy(asked["lead_family"], y.family)


def _subset(y: Labels, index) -> Labels:
    return Labels(*(getattr(y, f)[index] for f in Labels.__dataclass_fields__))


@torch.no_grad()
def accuracy(model: AttributeCritic, clips: list[torch.Tensor], y: Labels) -> dict[str, float]:
    """The critic's validation accuracy per attribute on whole clips (``AttributeCritic.read``)."""
    from ..analysis import tempo_agrees

    model.eval()
    heard = {k: [] for k in ("tempo", "mode", "drums", "lead_family")}
    for i, clip in enumerate(clips):
        read = model.read(clip[None])[0]
        heard["tempo"].append(tempo_agrees(read["bpm"], float(y.bpm[i])))
        heard["mode"].append(read["mode"] == MODES[int(y.mode[i])])
        heard["drums"].append(read["drums"] == bool(y.drums[i]))
        heard["lead_family"].append(read["lead_family"] == model.config.families[int(y.family[i])])
    model.train()
    return {f"audio_{k}": float(torch.tensor(v, dtype=torch.float).mean()) for k, v in heard.items()}


@torch.no_grad()
def reading_accuracy(model: AttributeReader, text: torch.Tensor, y: Labels) -> dict[str, float]:
    """The reader's validation accuracy per attribute on captions (tempo and mode over the captions that
    state them, tempo as the band of the most likely bin)."""
    model.eval()
    asked = model.text_logits(text)
    stated_tempo = y.text_tempo[:, -1] < 0.5
    stated_mode = y.text_mode < len(MODES)
    tempo_hit = (y.text_tempo.gather(1, asked["tempo"].argmax(-1, keepdim=True))[:, 0] > 0)
    model.train()
    return {"text_tempo": float(tempo_hit[stated_tempo].float().mean()),
            "text_tempo_stated": float(((asked["tempo"].argmax(-1) < model.config.tempo_bins) == stated_tempo).float().mean()),
            "text_mode": float((asked["mode"].argmax(-1) == y.text_mode).float().mean()),
            "text_mode_when_stated": float((asked["mode"][:, :len(MODES)].argmax(-1) == y.text_mode)[stated_mode].float().mean()),
            "text_drums": float((asked["drums"].argmax(-1) == y.drums).float().mean()),
            "text_lead_family": float((asked["lead_family"].argmax(-1) == y.family).float().mean())}


def skill_weights(model: AttributeCritic, scores: dict[str, float], y: Labels) -> dict[str, float]:
    """Per attribute, the audio side's validation accuracy (``scores`` from ``accuracy``) as a skill score
    over always guessing the commonest value: (accuracy - baseline) / (1 - baseline), floored at 0. For
    tempo the baseline is the bpm (bin centre) that agrees with the most clips, half / double allowed."""
    from ..analysis import tempo_agrees

    common = {"mode": y.mode, "drums": y.drums, "lead_family": y.family}
    baseline = {name: float(values.bincount().max()) / len(values) for name, values in common.items()}
    baseline["tempo"] = max(float(torch.tensor([tempo_agrees(float(c), float(b)) for b in y.bpm]).float().mean())
                            for c in model.bin_bpms())
    return {name: round(max(0.0, (scores[f"audio_{name}"] - base) / max(1e-6, 1 - base)), 3)
            for name, base in baseline.items()}


@torch.no_grad()
def caption_features(run: CriticRunConfig, mulan, rows: dict[str, list[dict]], rank: int = 0) -> dict[str, torch.Tensor]:
    """MuLan's frozen sentence-encoder features of every caption, cached in <out>/captions.safetensors
    (written by rank 0)."""
    from safetensors.torch import load_file, save_file

    path = os.path.join(run.out, "captions.safetensors")
    if rank == 0 and os.path.isfile(path):  # other ranks compute their own (rank 0 may be writing it)
        stored = load_file(path)
        if all(k in stored and stored[k].shape[0] == len(v) for k, v in rows.items()):
            return stored
    out = {}
    for split, split_rows in rows.items():
        texts = [r["caption"] for r in split_rows]
        out[split] = torch.cat([mulan.text_features(texts[s: s + 128]).float().cpu() for s in range(0, len(texts), 128)])
    if rank == 0:
        os.makedirs(run.out, exist_ok=True)
        save_file(out, path)
    return out


def train_critic(run: CriticRunConfig) -> tuple[AttributeCritic, AttributeReader]:
    """Train the critic and its reader side by side on the same batches; save each as its own run."""
    from ..pipeline import MusicLMPipeline

    device, rank, world = setup_distributed(run.device)
    torch.manual_seed(run.seed)
    pipe = MusicLMPipeline.from_pretrained(run.pipeline, int8=False)
    codec = pipe.config.codec
    config = CriticConfig(vocab_size=codec.codebook_size, num_levels=codec.num_coarse_quantizers,
                          frame_rate=codec.sample_rate / codec.hop_length, d_model=run.d_model)
    reader_config = AttributeReaderConfig(text_dim=pipe.config.mulan.text_dim, d_model=run.d_model)
    rows, clips = {}, {}
    for split in ("train", "valid"):
        rows[split], clips[split] = paired_clips(run.tokens, run.data, split, config.num_levels)
    text = caption_features(run, pipe.components.mulan, rows, rank)
    model, reader = AttributeCritic(config), AttributeReader(reader_config)
    centres = bin_bpms(config)
    y = {split: labels(rows[split], config, centres) for split in rows}
    states = {name: RunState(replace(run, out=os.path.join(run.out, name)), rank) for name in ("critic", "attribute_reader")}
    # both train through their own methods, not forward (DDP's hook): gradients averaged by hand (``prepare`` with 1)
    prepared = {name: prepare(m, lambda m: torch.optim.AdamW(m.parameters(), lr=run.lr, weight_decay=run.weight_decay),
                              states[name], name, 1) for name, m in (("critic", model), ("attribute_reader", reader))}
    sides = {name: p[0] for name, p in prepared.items()}
    optimizers = {name: p[1] for name, p in prepared.items()}
    step = min(p[2] for p in prepared.values())
    for m in sides.values():
        m.to(device).train()
    generator = torch.Generator().manual_seed(run.seed + step)  # alike on every rank: one global batch
    mine = rank_rows(run.batch_size, rank, world)
    full = max(c.shape[1] for c in clips["train"])
    shortest = min(int(config.frame_rate * run.min_crop_s), full)
    bar = progress_bar(run, step, rank, "critic")
    for state in states.values():
        state.begin()
    while step < run.steps and not states["critic"].out_of_time():
        index = torch.randint(0, len(clips["train"]), (run.batch_size,), generator=generator)
        frames = int(torch.randint(shortest, full + 1, (), generator=generator))
        codes = crop_batch(clips["train"], index.tolist(), frames, run.token_noise, config.vocab_size, generator)
        index = index[mine]  # this rank's rows of the global batch
        batch = _subset(y["train"], index)
        losses = {"critic": critic_loss(model, codes[mine].to(device), batch, centres.to(device)),
                  "attribute_reader": reader_loss(reader, text["train"][index].to(device), batch)}
        for name, loss in losses.items():
            optimizer_step(optimizers[name], loss, sides[name].parameters(), run, step, average=world > 1)
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses['critic'].item():.3f}", reader=f"{losses['attribute_reader'].item():.3f}")
        if step % run.log_every == 0 or step == run.steps:
            scores = {"critic": accuracy(model, clips["valid"], y["valid"]),
                      "attribute_reader": reading_accuracy(reader, text["valid"], y["valid"])}
            for name, state in states.items():
                state.log(step, loss=round(mean_across_ranks(losses[name].item()), 4), rank_spread=rank_spread(sides[name]),
                          **{k: round(v, 4) for k, v in scores[name].items()})
        if step % run.save_every == 0:
            states["critic"].save(model, config, optimizers["critic"], step)
            states["attribute_reader"].save(reader, reader_config, optimizers["attribute_reader"], step)
    scores = accuracy(model, clips["valid"], y["valid"])
    config.weights = skill_weights(model, scores, y["valid"])
    scores |= reading_accuracy(reader, text["valid"], y["valid"])
    states["critic"].save(model, config, optimizers["critic"], step)
    states["attribute_reader"].save(reader, reader_config, optimizers["attribute_reader"], step)
    if bar is not None:
        bar.close()
    if rank != 0:
        return model, reader
    print(f"saved {states['critic'].last} and {states['attribute_reader'].last} at step {step}: "
          + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()) + f"; vote weights {config.weights}")
    hub.write_json(os.path.join(run.out, "valid.json"), scores | {"weights": config.weights})
    return model, reader
