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
the crops; at generation the pipeline's attribute reader reads them from the prompt, so such
LMs ship with a reader (see ``models.attribute_reader``). With ``--beat --data CORPORA`` they hear
each clip's beat grid instead (or as well): the phase of every frame within the beat of the clip's
true tempo, as an aligned ``beat`` stream (``vocab.beat_grid``), "no tempo" in a share
``--unstated`` of the crops; at generation the grid follows the tempo the prompt asks (its words,
else the reader's reading). With ``--key`` they hear each clip's key (tonic and mode) at every frame, as an aligned
``key`` stream (``vocab.musical_key``), "no key" in a share ``--unstated`` of the crops; at
generation it is the key the prompt names, or its mode on a tonic drawn from the seed.

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
from ..config import AttributeReaderConfig, StageLMConfig, beat_stream, key_stream, preset
from ..vocab.attributes import attribute_tokens, bin_bpms, tempo_bin
from ..models.lm import StageLM, build_stage_lm
from ..data.theory import NOTE_NAMES
from ..vocab.beat_grid import beat_tokens
from ..vocab.musical_key import NO_KEY, key_token
from .common import (RunConfig, RunState, autocast, full_state_dict, mean_across_ranks, optimizer_step, prepare,
                     progress_bar, rank_rows, rank_spread, setup_distributed, unwrap)
from .tokens import TokenSet, cache_corpus_rows, cache_folders, load_caches, paired_corpora


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
    key: bool = False  # semantic / coarse: also hear each clip's key (tonic and mode) at every frame
    condition_dropout: Optional[str] = None  # "mulan=0.4,key=0.1": conditioning dropout per stream instead of the preset's
    data: Optional[str] = None  # with --attributes / --beat / --key: the corpus of each cache ("C,D" for "A,B")
    unstated: float = 0.5  # with --attributes / --beat / --key: the chance that each is unstated in a crop
    fsdp: bool = False  # under torchrun: shard the LM over the ranks (FSDP) instead of copying it (DDP)
    compile: bool = False  # torch.compile the training forward (GPU: faster after a slow first step)
    train_only: Optional[str] = None  # "conditions.mulan": train only the weights under these names ("A,B"), the rest frozen


@dataclass
class ClipAttributes:
    """Per clip of a token cache, its ``attributes`` tokens [N, 4] (``models.critic.attribute_tokens``),
    and the "unstated" token of each position [4], which a crop shows instead at rate ``unstated``."""

    tokens: torch.Tensor
    unstated_tokens: torch.Tensor
    unstated: float = 0.0

    def pick(self, index: torch.Tensor, offsets: list[int], frames: int, generator: torch.Generator) -> torch.Tensor:
        out = self.tokens[index]
        if not self.unstated:  # validation: every attribute stated, and the crops' draws left as they were
            return out
        hide = torch.rand(out.shape, generator=generator) < self.unstated
        return torch.where(hide, self.unstated_tokens.expand_as(out), out)


@dataclass
class ClipBeats:
    """Per clip of a token cache, its true bpm [N] (0: unknown); ``pick`` lays the beat grid of
    crops (``vocab.beat_grid``), "no tempo" in a share ``unstated`` of them."""

    bpm: torch.Tensor
    frame_rate: float  # of the LM's frames
    scale: int = 1  # LM frames per semantic frame
    unstated: float = 0.0

    def pick(self, index: torch.Tensor, offsets: list[int], frames: int, generator: torch.Generator) -> torch.Tensor:
        """Beat tokens [B, frames * scale] of crops starting ``offsets`` semantic frames into clips ``index``."""
        bpm = self.bpm[index]
        if self.unstated:
            bpm = torch.where(torch.rand(bpm.shape, generator=generator) < self.unstated, 0.0, bpm)
        return torch.stack([beat_tokens(torch.full((frames * self.scale,), float(b)), self.frame_rate,
                                        start_frame=o * self.scale) for b, o in zip(bpm.tolist(), offsets)])


@dataclass
class ClipKeys:
    """Per clip of a token cache, its key token [N] (``vocab.musical_key``); ``pick`` repeats it
    over a crop's frames, "no key" in a share ``unstated`` of the crops."""

    tokens: torch.Tensor
    scale: int = 1  # LM frames per semantic frame
    unstated: float = 0.0

    def pick(self, index: torch.Tensor, offsets: list[int], frames: int, generator: torch.Generator) -> torch.Tensor:
        tokens = self.tokens[index]
        if self.unstated:
            tokens = torch.where(torch.rand(tokens.shape, generator=generator) < self.unstated, NO_KEY, tokens)
        return tokens[:, None].expand(-1, frames * self.scale).contiguous()


ClipStreams = dict  # condition stream name -> ClipAttributes | ClipBeats | ClipKeys: what each crop is told


def with_dropout(streams: list, rates: str) -> list:
    """``streams`` with the conditioning dropout of some set from ``rates`` ("mulan=0.4,key=0.1"). A
    higher rate for MuLan makes an LM learn what the other streams say where the clip's audio MuLan
    tokens would tell it as well (its key), as the text's MuLan tokens at generation may not."""
    wanted = {}
    for item in rates.split(","):
        name, _, value = item.partition("=")
        try:
            wanted[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--condition-dropout takes NAME=RATE pairs such as 'mulan=0.4,key=0.1', got {item!r}.") \
                from None
    names = [s.name for s in streams]
    for name, rate in wanted.items():
        if name not in names or not 0.0 <= rate < 1.0:
            raise ValueError(f"--condition-dropout: {name}={rate:g} names no stream of this LM ({', '.join(names)}) or "
                             "a rate outside [0, 1).")
    return [replace(s, dropout=wanted.get(s.name, s.dropout)) for s in streams]


def clip_rows(run: LMRunConfig, split: str, clips: int, flag: str) -> list[dict]:
    """The corpus row of every clip of ``split`` in the token caches (``--data``: the corpus each was built from)."""
    if not run.data:
        raise ValueError(f"{flag} reads each clip's tempo, key (drums, lead family) from its corpus: pass "
                         "--data with the corpus each --tokens cache was built from (C,D for A,B).")
    rows = [row for cache, corpus in paired_corpora(run.tokens, run.data, split)
            for row in cache_corpus_rows(cache, corpus, split)]
    if len(rows) != clips:
        raise ValueError(f"The {split} split of --data {run.data!r} holds {len(rows)} clips and the token caches "
                         f"{clips}: build each cache from its corpus (musiclm-studio train tokens --data ...).")
    return rows


def clip_streams(run: LMRunConfig, split: str, clips: int, config, unstated: float) -> ClipStreams:
    """What each clip of ``split`` tells the LM through the streams its flags add (read from the
    corpus rows each cache was built from, ``--data``): ``attributes`` (true tempo, mode, drums and lead
    family), ``beat`` (the grid of its true bpm), ``key`` (its true key)."""
    flags = [flag for flag, wanted in (("--attributes", run.attributes), ("--beat", run.beat), ("--key", run.key))
             if wanted]
    if not flags or run.stage not in ("semantic", "coarse"):
        return {}
    rows = clip_rows(run, split, clips, " / ".join(flags))
    scale = 1 if run.stage == "semantic" else 2
    out: ClipStreams = {}
    if run.attributes:
        from .critic import labels

        vocabulary = AttributeReaderConfig()  # the attribute values, as the shipped reader reads them from a prompt
        y = labels(rows, vocabulary, bin_bpms(vocabulary))
        none = attribute_tokens(vocabulary, *torch.full((4, 1), -1))[0]
        out["attributes"] = ClipAttributes(
            attribute_tokens(vocabulary, tempo_bin(vocabulary, y.bpm), y.mode, y.drums, y.family), none, unstated)
    if run.beat:
        out["beat"] = ClipBeats(torch.tensor([float(r.get("bpm") or 0.0) for r in rows]), config.frame_rate, scale,
                                unstated)
    if run.key:
        keys = [key_token(NOTE_NAMES.index(r["tonic"]) if r.get("tonic") in NOTE_NAMES else None, r.get("mode"))
                for r in rows]
        out["key"] = ClipKeys(torch.tensor(keys), scale, unstated)
    return out


def crop_batch(tokens: TokenSet, stage: str, batch: int, frames: int, generator: torch.Generator,
               num_coarse: int = 4, streams: Optional[ClipStreams] = None) -> tuple[torch.Tensor, dict]:
    """Aligned random crops of ``frames`` semantic frames -> (targets [B, Q, T], conditions); with
    ``streams`` (``clip_streams``; semantic and coarse stages) the conditions also hold what each
    crop is told through them."""
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
    asked = {name: told.pick(picks, offsets, frames, generator) for name, told in (streams or {}).items()}
    if stage == "semantic":
        return semantic[:, None], {"mulan": mulan, "melody": melody, **asked}
    if stage == "coarse":
        return codes[:, :num_coarse], {"mulan": mulan, "semantic": semantic, **asked}
    if stage == "fine":
        return codes[:, num_coarse:], {"coarse": codes[:, :num_coarse]}
    raise ValueError(f"Unknown stage {stage!r}: use semantic, coarse or fine.")


def freeze_except(model: torch.nn.Module, prefixes: str) -> int:
    """Leave trainable only the weights whose names start with one of ``prefixes`` ("conditions.mulan,
    conditions.key"); returns how many numbers stay trainable. A prefix that names no weight is an error."""
    wanted = [p.strip() for p in prefixes.split(",") if p.strip()]

    def under(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    names = [name for name, _ in model.named_parameters()]
    unknown = [p for p in wanted if not any(under(n, p) for n in names)]
    if unknown or not wanted:
        groups = sorted({".".join(n.split(".")[:2]) for n in names})
        raise ValueError(f"--train-only {prefixes!r}: no weights under {unknown or prefixes!r}. This LM's weights "
                         f"start with: {', '.join(groups)}.")
    trainable = 0
    for name, parameter in model.named_parameters():
        keep = any(under(name, p) for p in wanted)
        parameter.requires_grad_(keep)
        trainable += parameter.numel() if keep else 0
    return trainable


def mulan_width(config: StageLMConfig, codebook: torch.Tensor | None) -> StageLMConfig:
    """The LM embeds MuLan tokens through the code vectors of the MuLan that made the token cache, whatever
    their size (a MuLan ensemble's joined space is wider than one MuLan's; the preset sizes one)."""
    if codebook is None:
        return config
    return replace(config, conditions=[replace(s, codebook_dim=codebook.shape[-1]) if s.codebook_dim else s
                                       for s in config.conditions])


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
    vocabulary = AttributeReaderConfig()  # the attribute values, as the shipped reader reads them from a prompt
    for flag, wanted, stream in (("--attributes", run.attributes, vocabulary.attribute_stream()),
                                 ("--beat", run.beat, beat_stream()), ("--key", run.key, key_stream())):
        if not wanted:
            continue
        if run.stage == "fine":
            raise ValueError(f"{flag} conditions the semantic and coarse LMs; the fine LM hears only coarse tokens.")
        if not any(s.name == stream.name for s in config.conditions):
            config = replace(config, conditions=config.conditions + [stream])
    if run.condition_dropout:
        config = replace(config, conditions=with_dropout(config.conditions, run.condition_dropout))
    train = load_caches(run.tokens, "train")
    config = mulan_width(config, train.mulan_codebook)
    model = build_stage_lm(config).to(device)
    if run.train_only:
        trainable = freeze_except(model, run.train_only)
        if rank == 0:
            print(f"--train-only {run.train_only}: {trainable:,} of {sum(p.numel() for p in model.parameters()):,} "
                  "weights train, the rest are frozen", flush=True)
    state = RunState(run, rank)
    # a levelwise LM trains one level head per row, so some heads sit out a step
    model, optimizer, step = prepare(
        model, lambda m: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=run.lr,
                                           betas=(0.9, 0.95), weight_decay=run.weight_decay),
        state, f"{run.stage}_lm", world, fsdp=run.fsdp, find_unused_parameters=config.layout == "levelwise",
        fsdp_methods=("loss",))
    lm = unwrap(model)  # the StageLM itself (FSDP shards it in place)
    for stream in config.conditions:
        if stream.codebook_dim:  # embed MuLan tokens through the code vectors that made them
            if train.mulan_codebook is None:
                raise ValueError(f"The token cache {run.tokens!r} predates stored MuLan code vectors, which the "
                                 f"{run.stage} LM embeds: rebuild it with musiclm-studio train tokens ...")
            lm.set_codebook(stream.name, train.mulan_codebook.to(device))
    if run.stage in ("semantic", "coarse") and train.semantic_probe is not None:
        config = replace(config, semantic_tokenizer_fingerprint=train.semantic_probe.tolist())  # the tokenizer it learns
        lm.config = config
    valid = load_caches(cache_folders(run.tokens)[0], "valid", required=False)  # the first cache's: comparable runs
    told = {split: clip_streams(run, split, cache.lengths.numel(), config, unstated) if cache is not None else {}
            for split, cache, unstated in (("train", train, run.unstated), ("valid", valid, 0.0))}
    forward = torch.compile(model) if run.compile else model
    generator = torch.Generator().manual_seed(run.seed + 7919 * step)  # alike on every rank: one global batch
    rows = rank_rows(run.batch_size, rank, world)
    frames = int(run.crop_s * pipeline_config.semantic_tokenizer.frame_rate)
    num_coarse = pipeline_config.codec.num_coarse_quantizers
    bar = progress_bar(run, step, rank, f"{run.stage}-lm")
    tick, last_logged = time.time(), step
    best_path = os.path.join(run.out, "best", "best.json")
    best = hub.read_json(best_path)["valid_loss"] if os.path.isfile(best_path) else float("inf")
    state.begin()
    while step < run.steps and not state.out_of_time():
        targets, conditions = crop_batch(train, run.stage, run.batch_size, frames, generator, num_coarse,
                                         told["train"])  # the global batch; this rank trains on its rows
        targets, conditions = targets[rows].to(device), {k: v[rows].to(device) for k, v in conditions.items()}
        with autocast(device, run.bf16):
            loss = forward(targets, conditions, lm.random_drop(targets.shape[0], device), return_loss=True)
        optimizer_step(optimizer, loss, model.parameters(), run, step)
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % run.log_every == 0:
            metrics = {"loss": mean_across_ranks(loss.item())}
            if valid is not None:  # every rank alike (the same weights and crops): FSDP needs all to take part
                metrics.update(validation_loss(lm, valid, run, frames, num_coarse, device, told["valid"]))
                best = save_if_best(lm, config, run, rank, step, metrics["valid_loss"], best)
            state.log(step, **metrics, rank_spread=rank_spread(model),
                      steps_per_s=round((step - last_logged) / (time.time() - tick), 3))
            tick, last_logged = time.time(), step
        if step % run.save_every == 0:
            state.save(lm, config, optimizer, step)
    state.save(lm, config, optimizer, step)
    return lm.eval()


def save_if_best(model: StageLM, config, run: LMRunConfig, rank: int, step: int, valid_loss: float, best: float) -> float:
    """Keep the weights of the lowest validation loss in <out>/best (small corpora overfit). Every rank
    calls it (under FSDP the weights are gathered); rank 0 writes."""
    if valid_loss >= best:
        return best
    weights = full_state_dict(model)
    if rank == 0:
        folder = os.path.join(run.out, "best")
        hub.save_component(folder, config, state=weights)
        hub.write_json(os.path.join(folder, "best.json"), {"step": step, "valid_loss": valid_loss})
    return valid_loss


@torch.no_grad()
def validation_loss(model: StageLM, valid: TokenSet, run: LMRunConfig, frames: int, num_coarse: int, device,
                    streams: Optional[ClipStreams] = None, batches: int = 4) -> dict[str, float]:
    """Mean cross-entropy (with all conditioning) on fixed valid crops; for LMs conditioned on
    MuLan (attributes, a beat grid, a key) also with each crop given another clip's
    (``valid_loss_other_mulan``, ``_attributes``, ``_beat``, ``_key``): the gap is how much the LM uses them.
    The same gaps with MuLan's null instead of the clip's audio MuLan tokens
    (``valid_loss_null_mulan``, ``valid_loss_null_mulan_other_key``, ...) show how much it uses them
    where MuLan does not tell it the same, as text MuLan tokens at generation may not."""
    model.eval()
    generator = torch.Generator().manual_seed(1234)
    others, told = ("mulan", "attributes", "beat", "key"), ("attributes", "beat", "key")
    losses: dict[str, list[float]] = {"valid_loss": [], **{f"valid_loss_other_{name}": [] for name in others},
                                      "valid_loss_null_mulan": [],
                                      **{f"valid_loss_null_mulan_other_{name}": [] for name in told}}
    for _ in range(batches):
        targets, conditions = crop_batch(valid, run.stage, run.batch_size, frames, generator, num_coarse, streams)
        targets, conditions = targets.to(device), {k: v.to(device) for k, v in conditions.items()}
        losses["valid_loss"].append(model.loss(targets, conditions, condition_dropout=False).item())
        for name in others:
            if name in conditions:
                other = {**conditions, name: conditions[name].roll(1, 0)}
                losses[f"valid_loss_other_{name}"].append(model.loss(targets, other, condition_dropout=False).item())
        silent = {k: v for k, v in conditions.items() if k != "mulan"}  # an absent stream is its null
        if "mulan" in conditions and any(name in conditions for name in told):
            losses["valid_loss_null_mulan"].append(model.loss(targets, silent, condition_dropout=False).item())
            for name in told:
                if name in conditions:
                    other = {**silent, name: silent[name].roll(1, 0)}
                    losses[f"valid_loss_null_mulan_other_{name}"].append(
                        model.loss(targets, other, condition_dropout=False).item())
    model.train()
    return {k: sum(v) / len(v) for k, v in losses.items() if v}
