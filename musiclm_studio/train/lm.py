"""Train a stage LM on cached tokens: ``musiclm-studio train semantic-lm | coarse-lm | fine-lm``.

Each step draws random aligned crops from the token cache (``train tokens``) and trains one
stage with teacher forcing over the delay-pattern grid, dropping conditioning streams at their
configured rates so that classifier-free guidance works at sampling time:

- semantic: MuLan tokens (prefix) + melody tokens (aligned) -> semantic tokens (25 Hz)
- coarse:   MuLan tokens (prefix) + semantic tokens (aligned) -> codec levels 1-4 (50 Hz)
- fine:     coarse tokens (aligned) -> codec levels 5-12 (50 Hz)

With ``--attributes --data CORPORA`` the semantic and coarse LMs also hear each clip's true
tempo, mode, drums and lead family (read from the corpus rows each cache was built from) as an
``attributes`` prefix stream, each attribute shown as "unstated" in a share ``--unstated`` of
the crops; at generation the pipeline's attribute critic reads them from the prompt, so such
LMs ship with a critic (see ``models.critic``). With ``--beat --data CORPORA`` they hear each
clip's beat grid instead (or as well): the phase of every frame within the beat of the clip's
true tempo, as an aligned ``beat`` stream (``modules.beat_grid``), "no tempo" in a share
``--unstated`` of the crops; at generation the grid follows the tempo the critic reads from the
prompt.

Validation cross-entropy on the valid split is logged with the training loss (for LMs
conditioned on MuLan, also with another clip's MuLan tokens: the gap shows how much the LM
listens to the conditioning); the weights of the lowest validation loss are kept in
``<out>/best``, next to the resumable ``<out>/last``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Optional

import torch

from .. import hub
from ..config import CriticConfig, beat_stream, preset
from ..models.critic import attribute_tokens, bin_bpms, tempo_bin
from ..models.lm import StageLM, build_stage_lm
from ..modules.beat_grid import beat_tokens
from .common import RunConfig, RunState, autocast, optimizer_step, progress_bar, setup_distributed, unwrap
from .data import corpus_entries
from .tokens import TokenSet, cache_folders, load_caches, paired_corpora


@dataclass
class LMRunConfig(RunConfig):
    stage: str = "coarse"
    tokens: str = "tokens"  # a token cache folder, or several as "tokens/a,tokens/b" (train splits joined)
    preset: str = "small"
    crop_s: float = 10.0
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 200
    dropout: Optional[float] = None  # Transformer dropout instead of the preset's (regularises a small corpus)
    layout: Optional[str] = None  # "delay" or "levelwise" instead of the preset's (see models.lm)
    attributes: bool = False  # semantic / coarse: also condition on each clip's tempo, mode, drums, lead family
    beat: bool = False  # semantic / coarse: also hear each clip's beat grid (the phase of every frame in its beat)
    data: Optional[str] = None  # with --attributes / --beat: the corpus each cache was built from ("C,D" for "A,B")
    unstated: float = 0.5  # with --attributes / --beat: the chance that each attribute (the grid) is unstated in a crop


@dataclass
class ClipAttributes:
    """Per clip of a token cache, its ``attributes`` tokens [N, 4] (``models.critic.attribute_tokens``),
    and the "unstated" token of each position [4], which a crop shows instead at rate ``unstated``."""

    tokens: torch.Tensor
    unstated_tokens: torch.Tensor
    unstated: float = 0.0

    def pick(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = self.tokens[index]
        if not self.unstated:  # validation: every attribute stated, and the crops' draws left as they were
            return out
        hide = torch.rand(out.shape, generator=generator) < self.unstated
        return torch.where(hide, self.unstated_tokens.expand_as(out), out)


@dataclass
class ClipBeats:
    """Per clip of a token cache, its true bpm [N] (0: unknown); ``pick`` lays the beat grid of
    crops (``modules.beat_grid``), "no tempo" in a share ``unstated`` of them."""

    bpm: torch.Tensor
    frame_rate: float  # of the cache's semantic tokens
    unstated: float = 0.0

    def pick(self, index: torch.Tensor, offsets: list[int], frames: int, scale: int,
             generator: torch.Generator) -> torch.Tensor:
        """Beat tokens [B, frames * scale] of crops starting ``offsets`` semantic frames into clips
        ``index``, at ``scale`` LM frames per semantic frame."""
        bpm = self.bpm[index]
        if self.unstated:
            bpm = torch.where(torch.rand(bpm.shape, generator=generator) < self.unstated, 0.0, bpm)
        rate = self.frame_rate * scale
        return torch.stack([beat_tokens(torch.full((frames * scale,), float(b)), rate, start_frame=o * scale)
                            for b, o in zip(bpm.tolist(), offsets)])


def clip_rows(run: LMRunConfig, split: str, clips: int, flag: str) -> list[dict]:
    """The corpus row of every clip of ``split`` in the token caches (``--data``: the corpus each was built from)."""
    if not run.data:
        raise ValueError(f"{flag} reads each clip's tempo (mode, drums, lead family) from its corpus: pass "
                         "--data with the corpus each --tokens cache was built from (C,D for A,B).")
    rows = [row for _, corpus in paired_corpora(run.tokens, run.data, split) for row in corpus_entries(corpus, split)]
    if len(rows) != clips:
        raise ValueError(f"The {split} split of --data {run.data!r} holds {len(rows)} clips and the token caches "
                         f"{clips}: build each cache from its corpus (musiclm-studio train tokens --data ...).")
    return rows


def clip_beats(run: LMRunConfig, split: str, clips: int, frame_rate: float, unstated: float) -> ClipBeats:
    """The true bpm of every clip of ``split`` (0 where its row has none), for ``beat`` tokens."""
    rows = clip_rows(run, split, clips, "--beat")
    return ClipBeats(torch.tensor([float(r.get("bpm") or 0.0) for r in rows]), frame_rate, unstated)


def clip_attributes(run: LMRunConfig, split: str, clips: int, config: CriticConfig, unstated: float) -> ClipAttributes:
    """The true tempo, mode, drums and lead family of every clip of ``split`` (from the corpus rows
    each cache was built from, ``--data``) as ``attributes`` tokens."""
    from .critic import labels

    rows = clip_rows(run, split, clips, "--attributes")
    y = labels(rows, config, bin_bpms(config))
    none = attribute_tokens(config, *torch.full((4, 1), -1))[0]
    return ClipAttributes(attribute_tokens(config, tempo_bin(config, y.bpm), y.mode, y.drums, y.family), none, unstated)


def crop_batch(tokens: TokenSet, stage: str, batch: int, frames: int, generator: torch.Generator,
               num_coarse: int = 4, attributes: Optional[ClipAttributes] = None,
               beats: Optional[ClipBeats] = None) -> tuple[torch.Tensor, dict]:
    """Aligned random crops of ``frames`` semantic frames -> (targets [B, Q, T], conditions); with
    ``attributes`` / ``beats`` (semantic and coarse stages) the conditions also hold the clips'
    attribute tokens / the crops' beat grids."""
    usable = torch.nonzero(tokens.lengths >= frames).flatten()
    if usable.numel() == 0:
        frames = int(tokens.lengths.max())
        usable = torch.nonzero(tokens.lengths >= frames).flatten()
    picks = usable[torch.randint(0, usable.numel(), (batch,), generator=generator)]
    starts = tokens.starts
    semantic, melody, codes, mulan, offsets = [], [], [], [], []
    for i in picks.tolist():
        offset = int(torch.randint(0, int(tokens.lengths[i]) - frames + 1, (1,), generator=generator))
        offsets.append(offset)
        a = int(starts[i]) + offset
        semantic.append(tokens.semantic[a: a + frames])
        melody.append(tokens.melody[a: a + frames])
        codes.append(tokens.codes[:, 2 * a: 2 * (a + frames)])
        mulan.append(tokens.mulan[i, int(torch.randint(0, tokens.mulan.shape[1], (1,), generator=generator))])
    semantic, melody, codes, mulan = map(torch.stack, (semantic, melody, codes, mulan))
    asked = {} if attributes is None else {"attributes": attributes.pick(picks, generator)}
    if beats is not None and stage in ("semantic", "coarse"):
        asked["beat"] = beats.pick(picks, offsets, frames, 1 if stage == "semantic" else 2, generator)
    if stage == "semantic":
        return semantic[:, None], {"mulan": mulan, "melody": melody, **asked}
    if stage == "coarse":
        return codes[:, :num_coarse], {"mulan": mulan, "semantic": semantic, **asked}
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
    if run.dropout is not None:
        config = replace(config, dropout=run.dropout)
    if run.layout is not None:
        config = replace(config, layout=run.layout)
    vocabulary = CriticConfig()  # the attribute values, as the shipped critic reads them from a prompt
    for flag, wanted, stream in (("--attributes", run.attributes, vocabulary.attribute_stream()),
                                 ("--beat", run.beat, beat_stream())):
        if not wanted:
            continue
        if run.stage == "fine":
            raise ValueError(f"{flag} conditions the semantic and coarse LMs; the fine LM hears only coarse tokens.")
        if not any(s.name == stream.name for s in config.conditions):
            config = replace(config, conditions=config.conditions + [stream])
    model = build_stage_lm(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.lr, betas=(0.9, 0.95), weight_decay=run.weight_decay)
    state = RunState(run, rank)
    step = state.restore(model, optimizer, f"{run.stage}_lm")
    train = load_caches(run.tokens, "train")
    for stream in config.conditions:
        if stream.codebook_dim:  # embed MuLan tokens through the code vectors that made them
            if train.mulan_codebook is None:
                raise ValueError(f"The token cache {run.tokens!r} predates stored MuLan code vectors, which the "
                                 f"{run.stage} LM embeds: rebuild it with musiclm-studio train tokens ...")
            model.set_codebook(stream.name, train.mulan_codebook.to(device))
    if run.stage in ("semantic", "coarse") and train.semantic_probe is not None:
        config = replace(config, semantic_probe=train.semantic_probe.tolist())  # the tokenizer it learns
        model.config = config
    valid = load_caches(cache_folders(run.tokens)[0], "valid", required=False)  # the first cache's: comparable runs
    asked = {"train": None, "valid": None}  # each clip's attribute tokens, with --attributes
    beats = {"train": None, "valid": None}  # each clip's bpm, with --beat
    rate = pipeline_config.semantic_tokenizer.frame_rate
    for split, cache, unstated in (("train", train, run.unstated), ("valid", valid, 0.0)):
        if cache is not None and run.attributes:
            asked[split] = clip_attributes(run, split, cache.lengths.numel(), vocabulary, unstated)
        if cache is not None and run.beat:
            beats[split] = clip_beats(run, split, cache.lengths.numel(), rate, unstated)
    # a levelwise LM trains one level head per row, so some heads sit out a step
    ddp = (torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=config.layout == "levelwise")
           if world > 1 else model)
    generator = torch.Generator().manual_seed(run.seed + 7919 * step + rank)
    frames = int(run.crop_s * pipeline_config.semantic_tokenizer.frame_rate)
    num_coarse = pipeline_config.codec.num_coarse_quantizers
    bar = progress_bar(run, step, rank, f"{run.stage}-lm")
    tick, last_logged = time.time(), step
    best_path = os.path.join(run.out, "best", "best.json")
    best = hub.read_json(best_path)["valid_loss"] if os.path.isfile(best_path) else float("inf")
    state.begin()
    while step < run.steps and not state.out_of_time():
        targets, conditions = crop_batch(train, run.stage, run.batch_size, frames, generator, num_coarse,
                                         asked["train"], beats["train"])
        targets, conditions = targets.to(device), {k: v.to(device) for k, v in conditions.items()}
        with autocast(device, run.bf16):
            loss = ddp(targets, conditions, model.random_drop(targets.shape[0], device), return_loss=True)
        optimizer_step(optimizer, loss, model.parameters(), run, step)
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % run.log_every == 0:
            metrics = {"loss": loss.item()}
            if valid is not None:
                metrics.update(validation_loss(model, valid, run, frames, num_coarse, device, asked["valid"],
                                               beats["valid"]))
                best = save_if_best(unwrap(model), config, run, rank, step, metrics["valid_loss"], best)
            state.log(step, **metrics, steps_per_s=round((step - last_logged) / (time.time() - tick), 3))
            tick, last_logged = time.time(), step
        if step % run.save_every == 0:
            state.save(unwrap(model), config, optimizer, step)
    state.save(unwrap(model), config, optimizer, step)
    return unwrap(model).eval()


def save_if_best(model: StageLM, config, run: LMRunConfig, rank: int, step: int, valid_loss: float, best: float) -> float:
    """Keep the weights of the lowest validation loss in <out>/best (small corpora overfit)."""
    if rank != 0 or valid_loss >= best:
        return best
    folder = os.path.join(run.out, "best")
    hub.save_component(folder, config, model)
    hub.write_json(os.path.join(folder, "best.json"), {"step": step, "valid_loss": valid_loss})
    return valid_loss


@torch.no_grad()
def validation_loss(model: StageLM, valid: TokenSet, run: LMRunConfig, frames: int, num_coarse: int, device,
                    attributes: Optional[ClipAttributes] = None, beats: Optional[ClipBeats] = None,
                    batches: int = 4) -> dict[str, float]:
    """Mean cross-entropy (with all conditioning) on fixed valid crops; for LMs conditioned on
    MuLan (attributes, a beat grid) also with each crop given another clip's (``valid_loss_other_mulan``,
    ``_attributes``, ``_beat``): the gap is how much the LM uses them."""
    model.eval()
    generator = torch.Generator().manual_seed(1234)
    others = ("mulan", "attributes", "beat")
    losses: dict[str, list[float]] = {"valid_loss": [], **{f"valid_loss_other_{name}": [] for name in others}}
    for _ in range(batches):
        targets, conditions = crop_batch(valid, run.stage, run.batch_size, frames, generator, num_coarse, attributes,
                                         beats)
        targets, conditions = targets.to(device), {k: v.to(device) for k, v in conditions.items()}
        losses["valid_loss"].append(model.loss(targets, conditions, condition_dropout=False).item())
        for name in others:
            if name in conditions:
                other = {**conditions, name: conditions[name].roll(1, 0)}
                losses[f"valid_loss_other_{name}"].append(model.loss(targets, other, condition_dropout=False).item())
    model.train()
    return {k: sum(v) / len(v) for k, v in losses.items() if v}
