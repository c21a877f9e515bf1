"""Train MuLan: ``musiclm-studio train mulan --data CORPUS --out RUN``.

The text tower's sentence encoder stays frozen, so its features for every training text are
computed once; each step trains the audio tower and the text projection with a symmetric
InfoNCE loss on random audio crops and one of each clip's texts (its caption, or its aspect
tags joined, so that tag-style prompts work too). Each text also brings its counterfactuals,
the same words with the mode, the tempo or the drums made false, as extra negatives for its
audio (in-batch negatives rarely differ in one fact, and without them the first MuLan could not
tell a caption from its mode-flipped twin). Every ``log_every`` steps, text -> audio recall@10
on the valid split is logged, and per fact the share of valid clips whose audio prefers its
true caption. At the end the 12 x 1024 RVQ is fitted by residual
k-means on audio embeddings of several crops per training clip (the paper fits it on audio),
and the component is saved to ``RUN/last`` like every trainer's.

``--data`` takes several corpora joined by commas (e.g. corpus v1, corpus v2 and a recordings
corpus). Re-worded captions come from both caption generators: v1's templates and caption v2's
trained phrasing families (``captions_v2.family_for(attrs, "train", v)``, never the held-out one).

``--text-only`` (with ``--init-from``) trains the text projection alone against the frozen audio
tower: the audio embeddings of every clip (whole + ``rvq_crops`` crops) are computed once, the RVQ
is kept, and so the MuLan tokens of every token cache, and every LM trained on them, stay valid.
This is how a MuLan learns new wording without retraining what comes after it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..components import component_config, trained_folder
from ..config import MuLanConfig, preset
from ..models.mulan import MuLan
from ..models.musicnn import FEATURES, Musicnn
from .common import (RunConfig, RunState, autocast, gather_with_grad, mean_across_ranks, optimizer_step, prepare,
                     progress_bar, rank_rows, rank_spread, setup_distributed)
from .data import corpus_entries, load_split

HARD_NEGATIVES = ("mode", "tempo", "drums", "lead")  # facts made false in counterfactual captions
RELATIVE_KEY = "relative_key"  # with --relative-negatives: the stated key's facts moved to its relative key


@dataclass
class MuLanRunConfig(RunConfig):
    data: str = "corpus/v1"
    preset: str = "small"
    steps: int = 1500
    batch_size: int = 64
    lr: float = 5e-4
    warmup: int = 100
    crop_s: float = 5.0
    tag_text_share: float = 0.25  # share of texts that are aspect tags instead of a caption
    caption_variants: int = 4  # re-worded captions per clip, besides the corpus caption
    rvq_crops: int = 3  # audio crops per training clip embedded to fit the RVQ
    max_clips: int | None = None
    hard_negatives: bool = True  # each text's counterfactuals (mode / tempo / drums made false) as negatives
    lead_negatives: bool = False  # and its lead instrument swapped for another family's (data.instruments.lead_swapped)
    v2_variants: int = 0  # re-worded captions per clip in caption v2's trained families, besides the v1 ones
    text_only: bool = False  # train the text projection alone (audio tower and RVQ frozen: token caches stay valid)
    key_branch: bool = False  # the audio tower also scores the 24 keys from pooled chroma (MuLanConfig.key_branch)
    key_scale: float = MuLanConfig.key_scale  # its weight in the audio embedding
    key_bass: bool = False  # the key branch also reads the bass's pitch classes (MuLanConfig.key_bass)
    text_facts: bool = False  # the text tower also maps the key and tempo a text states (MuLanConfig.text_facts)
    relative_negatives: bool = False  # with text_facts: each text stating a key, its facts set to the relative key, as a negative
    musicnn: str = ""  # "MTT", "MSD" or "MTT+MSD": a branch of frozen pretrained taggers (MuLanConfig.musicnn)
    init_member: int | None = None  # with --init-from a MuLan ensemble (mulan ensemble): the member to start from


def clip_texts(rows: list[dict], variants: int = 0, v2_variants: int = 0) -> list[list[str]]:
    """Per clip: [aspect tags joined (or the caption), the caption, ``variants`` re-worded captions,
    ``v2_variants`` captions in caption v2's trained phrasing families].

    Re-wordings come from the corpus caption generators with the clip's own attributes, so they
    state the same true facts in other templates and synonyms (rows without attributes, e.g. a
    user's folder or a recording, get none). A v2 caption is never in the held-out family.
    """
    from ..data.attributes import Attributes
    from ..data.captions import describe
    from ..data.captions_v2 import describe_v2, family_for

    texts = []
    for row in rows:
        options = [", ".join(row["aspects"]) if row.get("aspects") else row["caption"], row["caption"]]
        if (variants or v2_variants) and "genre" in row:
            attrs = Attributes.from_row(row)
            options += [describe(attrs, v)[0] for v in range(1, variants + 1)]
            options += [describe_v2(attrs, v, family_for(attrs, "train", v)).text for v in range(1, v2_variants + 1)]
        texts.append(options)
    return texts


def counterfactual_texts(rows: list[dict], texts: list[list[str]], variants: int = 0, lead: bool = True
                         ) -> tuple[list[list[str]], torch.Tensor]:
    """For every text of ``clip_texts`` (flattened in order), the same text written for the clip
    with one fact of ``HARD_NEGATIVES`` made false (``data.captions.counterfactuals``: mode, tempo, drums).

    Texts the v1 generator does not write (caption v2's, a recording's tags) get no tempo or drums
    counterfactual, and a mode one by their mode words swapped (``vocab.musical_key.mode_swapped``:
    'in Bb minor' -> 'in Bb major').
    With ``lead``, every text that names the clip's lead instrument also gets it swapped for another
    family's (``data.instruments.lead_swapped``: 'a harmonica carries the tune' -> 'a trumpet ...').

    Returns ([N texts][K] texts, mask [N, K]): the mask marks rewrites that differ from the text
    (a caption that does not state a fact stays the same).
    """
    from ..data.attributes import Attributes
    from ..data.captions import counterfactuals, describe
    from ..data.instruments import lead_swapped
    from ..vocab.musical_key import mode_swapped

    def writings(attrs) -> list[str]:  # tags, caption, re-worded captions: the order of clip_texts
        caption, aspects = describe(attrs)
        return [", ".join(aspects), caption] + [describe(attrs, v)[0] for v in range(1, variants + 1)]

    def swapped(text: str) -> list[str]:  # a text the v1 generator does not write: its mode swapped in the words
        return [mode_swapped(text) or text, text, text]

    def lead_of(text: str, row: dict) -> list[str]:
        return [(lead_swapped(text, row["lead_program"]) if lead and "lead_program" in row else None) or text]

    out = []
    for row, options in zip(rows, texts):
        if "genre" not in row:
            out += [swapped(text) + lead_of(text, row) for text in options]
            continue
        attrs = Attributes.from_row(row)
        true, worlds = writings(attrs), counterfactuals(attrs)
        false = [writings(worlds[k]) for k in HARD_NEGATIVES[:3]]
        out += [([f[true.index(text)] for f in false] if text in true else swapped(text)) + lead_of(text, row)
                for text in options]
    flat = [text for options in texts for text in options]
    mask = torch.tensor([[r != text for r in rewrites] for text, rewrites in zip(flat, out)], dtype=torch.bool)
    return out, mask.view(-1, len(HARD_NEGATIVES))


@torch.no_grad()
def text_feature_table(model: MuLan, texts: list[list[str]], batch: int = 128,
                       cache: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen encoder features of every text, with the facts it states where the MuLan reads them
    (``MuLan.text_inputs``): (inputs [N, D], owner clip index [N]).

    Distinct texts are encoded once, shortest first (little padding); with ``cache`` (a .safetensors path)
    the features are saved and reused when the texts are the same (a resumed run).
    """
    import hashlib

    from safetensors.torch import load_file, save_file

    flat, owner = [], []
    for i, options in enumerate(texts):
        flat.extend(options)
        owner.extend([i] * len(options))
    digest = hashlib.sha256("\x00".join(flat).encode()).hexdigest()[:16]
    if cache and os.path.isfile(cache):
        stored = load_file(cache)
        if stored["digest"].tolist() == list(digest.encode()):
            return model.text_inputs(flat, stored["features"]), torch.tensor(owner)
    unique = sorted(set(flat), key=len)  # each distinct text once, shortest first
    encoded = torch.cat([model.text_features(unique[s: s + batch]).float().cpu() for s in range(0, len(unique), batch)])
    where = {text: n for n, text in enumerate(unique)}
    feats = encoded[torch.tensor([where[text] for text in flat], dtype=torch.long)]
    if cache:
        save_file({"features": feats, "digest": torch.tensor(list(digest.encode()))}, cache)
    return model.text_inputs(flat, feats), torch.tensor(owner)


@torch.no_grad()
def validate(model: MuLan, clips: list[torch.Tensor], text_feats: torch.Tensor, hard_feats: torch.Tensor | None = None,
             hard_mask: torch.Tensor | None = None, tagged: torch.Tensor | None = None, k: int = 10) -> dict[str, float]:
    """Text -> audio recall@k of the captions; with counterfactual captions [N, K, text_dim], per
    fact the share of clips whose audio scores its true caption above the one false in that fact.
    ``tagged``: the clips' musicnn features, if the MuLan has that branch (computed once)."""
    from ..eval.mulan import embed_clips

    text = model.embed_text([], features=text_feats)
    audio = embed_clips(model, clips, tagged=tagged).to(text.device)
    sims = text @ audio.T  # [N, N]
    ranks = (sims > sims.diagonal()[:, None]).sum(1)
    out = {f"valid_recall_at_{k}": float((ranks < k).float().mean())}
    if hard_feats is not None:
        false = model.embed_text([], features=hard_feats.flatten(0, 1)).view(*hard_feats.shape[:2], -1)
        out |= {f"valid_{fact}_right": rate for fact, (rate, _) in counterfactual_right(audio, text, false, hard_mask).items()}
    return out


def counterfactual_right(audio: torch.Tensor, text: torch.Tensor, false: torch.Tensor, mask: torch.Tensor
                         ) -> dict[str, tuple[float, int]]:
    """Per fact of ``HARD_NEGATIVES`` (then ``RELATIVE_KEY``, where K has that column): (share of clips whose
    audio [N, E] scores its true caption [N, E] above the caption false in that fact [N, K, E], clips
    counted), over the clips ``mask`` [N, K] marks."""
    right = (audio * text).sum(-1)[:, None] > (audio[:, None] * false).sum(-1)  # [N, K]
    return {fact: (float(right[mask[:, n], n].float().mean()), int(mask[:, n].sum()))
            for n, fact in enumerate(HARD_NEGATIVES + (RELATIVE_KEY,)) if n < mask.shape[1] and mask[:, n].any()}


def with_relative_keys(hard: torch.Tensor, mask: torch.Tensor, inputs: torch.Tensor, text_dim: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Counterfactual inputs [N, K, D] and their mask [N, K], with a column ``RELATIVE_KEY`` added: the text
    inputs [N, D] (``MuLan.text_inputs``: sentence features, then the facts) with the key their facts state
    moved to its relative key (E minor -> G major: the same notes, another centre), the sentence features
    kept; marked where the text states one key (a mode alone, spread over 12 tonics, has no relative)."""
    from ..vocab.musical_key import relative_key

    key = inputs[:, text_dim: text_dim + 24]
    single = (key.max(1).values > 0.999) & (key.sum(1) < 1.001)
    moved = inputs.clone()
    moved[:, text_dim: text_dim + 24] = key[:, torch.tensor([relative_key(k) for k in range(24)]).argsort()]
    return torch.cat([hard, moved[:, None]], 1), torch.cat([mask, single[:, None]], 1)


def train_mulan(run: MuLanRunConfig) -> MuLan:
    device, rank, world = setup_distributed(run.device)
    torch.manual_seed(run.seed + rank)
    config: MuLanConfig = preset(run.preset).mulan
    config.key_branch, config.key_scale, config.musicnn = run.key_branch, run.key_scale, run.musicnn
    config.text_facts, config.key_bass = run.text_facts, run.key_bass
    if run.relative_negatives and not (run.text_facts and run.hard_negatives):
        raise ValueError("--relative-negatives moves the key a text's facts state (--text-facts) among its hard "
                         "negatives: give --text-facts, and leave out --no-hard-negatives.")
    state = RunState(run, rank)
    resumed = os.path.isfile(os.path.join(state.last, "config.json"))
    start = component_config(trained_folder(run.init_from, "mulan"), "mulan") if run.init_from and not resumed else None
    if start is not None and start.members:  # an ensemble is not trained: one of its members is the start
        if run.init_member is None or not 0 <= run.init_member < len(start.members):
            raise ValueError(f"The MuLan of {run.init_from} is an ensemble of {len(start.members)} MuLans, which is not "
                             f"trained itself: give --init-member 0-{len(start.members) - 1} to start from one of "
                             "them (musiclm-studio mulan ensemble joins them again).")
        start, state.init_prefix = start.members[run.init_member], f"members.{run.init_member}."
    elif run.init_member is not None and not resumed:
        raise ValueError("--init-member picks one MuLan of an ensemble: give --init-from a pipeline or folder whose "
                         "MuLan is an ensemble (musiclm-studio mulan ensemble), or leave it out.")
    if run.text_only:
        if world > 1:
            raise ValueError("--text-only trains a small projection in minutes on one CPU: run it without torchrun.")
        if not (run.init_from or resumed):
            raise ValueError("--text-only trains the text side against a trained audio tower: give --init-from "
                             "a MuLan (a pipeline folder such as assets/musiclm-small, or a run).")
        if state.init_prefix:
            raise ValueError("--text-only keeps the RVQ of --init-from, and a member of a MuLan ensemble has none (the "
                             "ensemble tokenizes the joined space): train the member whole, then join them again.")
        # the audio tower must be the one that made the token caches: its architecture, not the preset's
        config = component_config(state.last, "mulan") if resumed else start
        config.text_facts = config.text_facts or run.text_facts  # a text side that reads the stated facts: new, trained here
    model = MuLan(config).to(device)
    frozen = ("quantizer", "audio_tower") if run.text_only else ("quantizer",)
    trainable = [p for n, p in model.named_parameters() if not n.startswith(frozen)]
    ddp, optimizer, step = prepare(model, lambda m: torch.optim.AdamW(trainable, lr=run.lr, weight_decay=run.weight_decay),
                                   state, "mulan", world)
    folders = data_folders(run.data)
    rows, clips = [], []
    for folder in folders:  # every rank: the whole split
        part_rows, part_clips = load_split(folder, "train", config.sample_rate, limit=run.max_clips)
        rows, clips = rows + part_rows, clips + part_clips
    tags = None
    if config.musicnn:  # the frozen taggers' features of every clip, once (crops pool their segments)
        model.audio_tower.load_taggers()
        tags = TagSegments(model.audio_tower, clips, config.sample_rate,
                           cache=os.path.join(run.out, "musicnn_segments.safetensors") if rank == 0 else None)
        if not run.text_only:  # a frozen tower keeps its own standardisation
            whole = tags.whole()
            model.audio_tower.tag_mean.copy_(whole.mean(0).to(device))
            model.audio_tower.tag_std.copy_(whole.std(0).clamp(min=1e-3).to(device))
    cache = os.path.join(run.out, "text_features.safetensors") if rank == 0 else None
    texts = clip_texts(rows, run.caption_variants, run.v2_variants)
    feats, owner = text_feature_table(model, texts, cache=cache)
    first_row = torch.searchsorted(owner, torch.arange(len(clips)))  # [N clips]: its tags row, then captions
    num_captions = torch.bincount(owner, minlength=len(clips)) - 1
    hard_feats = hard_mask = None
    if run.hard_negatives:
        false_texts, hard_mask = counterfactual_texts(rows, texts, run.caption_variants, run.lead_negatives)
        hard_cache = os.path.join(run.out, "counterfactual_features.safetensors") if rank == 0 else None
        hard_feats = text_feature_table(model, false_texts, cache=hard_cache)[0].view(len(false_texts), len(HARD_NEGATIVES), -1)
        if run.relative_negatives:
            hard_feats, hard_mask = with_relative_keys(hard_feats, hard_mask, feats, config.text_dim)
    valid_clips, valid = [], {}
    if corpus_entries(folders[0], "valid"):
        valid_rows, valid_clips = load_split(folders[0], "valid", config.sample_rate, limit=256)
        captions = [[r["caption"]] for r in valid_rows]
        valid = {"text_feats": text_feature_table(model, captions)[0]}
        if tags is not None:
            valid["tagged"] = torch.cat([model.audio_tower.tag_features(c.float()[None].to(device)).cpu()
                                         for c in valid_clips])
        if run.hard_negatives:
            false_texts, valid["hard_mask"] = counterfactual_texts(valid_rows, captions)  # every fact, to watch
            valid["hard_feats"] = text_feature_table(model, false_texts)[0].view(len(false_texts), len(HARD_NEGATIVES), -1)
            if run.relative_negatives:
                valid["hard_feats"], valid["hard_mask"] = with_relative_keys(valid["hard_feats"], valid["hard_mask"],
                                                                             valid["text_feats"], config.text_dim)
    generator = torch.Generator().manual_seed(run.seed + 7919 * step)  # alike on every rank: one global batch
    mine = rank_rows(run.batch_size, rank, world)
    crop = int(run.crop_s * config.sample_rate)
    grid = tags.segment if tags is not None else 1  # crops start on the segments' grid: their features are cached
    bank = None
    if run.text_only:  # the frozen tower's embeddings of every clip, once: [N clips, 1 + rvq_crops, E]
        model.audio_tower.requires_grad_(False)
        bank = audio_views(model.eval(), clips, crop, run.rvq_crops, torch.Generator().manual_seed(run.seed), tags=tags)
        model.train()
    bar = progress_bar(run, step, rank, "mulan")
    tick, last_logged = time.time(), step
    state.begin()
    while step < run.steps and not state.out_of_time():
        index = torch.randperm(len(clips), generator=generator)[: run.batch_size]  # the global batch
        tagged = None
        if bank is None:
            crops = [_random_crop(clips[i], crop, generator, grid) for i in index.tolist()]
            audio = torch.stack([c for c, _ in crops])[mine].to(device)
            if tags is not None:
                tagged = torch.stack([tags.crop(i, start, crop) for i, (_, start) in zip(index.tolist(), crops)])
                tagged = tagged[mine].to(device)
        else:  # one of each clip's stored views
            audio = bank[index, torch.randint(0, bank.shape[1], (len(index),), generator=generator)][mine].to(device)
        use_tags = torch.rand(len(index), generator=generator) < run.tag_text_share
        caption = 1 + (torch.rand(len(index), generator=generator) * num_captions[index]).long()
        text_rows = first_row[index] + torch.where(use_tags, 0, caption)
        hard = hard_feats[text_rows[mine]].to(device) if hard_feats is not None else None
        with autocast(device, run.bf16):
            if bank is None:
                audio_emb, text_emb, hard_emb = ddp(audio, feats[text_rows[mine]].to(device), hard, tagged)
            else:
                audio_emb, text_emb = audio, model.embed_text([], features=feats[text_rows[mine]].to(device))
                hard_emb = None if hard is None else model.embed_text([], features=hard.flatten(0, 1)).view(
                    *hard.shape[:2], -1)
        # in-batch negatives from every rank: each rank's loss is the global batch's
        audio_emb, text_emb = gather_with_grad(audio_emb.float()), gather_with_grad(text_emb.float())
        hard_emb = None if hard is None else gather_with_grad(hard_emb.float())
        loss = model.contrastive_loss(audio_emb, text_emb, hard_emb,
                                      None if hard is None else hard_mask[text_rows].to(device))
        optimizer_step(optimizer, loss, trainable, run, step)
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % run.log_every == 0:
            metrics = {"loss": mean_across_ranks(loss.item()), "temperature": float(1 / model.logit_scale.detach().exp()),
                       "rank_spread": rank_spread(ddp)}
            if valid_clips:
                model.eval()
                metrics |= validate(model, valid_clips, **{k: v.to(device) for k, v in valid.items()})
                model.train()
            state.log(step, **metrics, steps_per_s=round((step - last_logged) / (time.time() - tick), 3))
            tick, last_logged = time.time(), step
        if step % run.save_every == 0:
            state.save(model, config, optimizer, step)
    if not run.text_only:  # text-only keeps the RVQ (and so every token cache) of --init-from
        fit_quantizer(model.eval(), clips, crop, run.rvq_crops, generator, tags=tags)  # alike on every rank (same draws)
    if valid_clips:  # this MuLan's weights of the rule-read key and tempo, into its config (alike on every rank)
        picked = pick_descriptor_weights(model.eval(), [c[0] for c in captions], valid["text_feats"].to(device),
                                         valid_clips, valid.get("tagged"))
        state.log(step, **{f"valid_{name.replace(' ', '_')}_descriptors": value for name, value in picked.items()})
    state.save(model, config, optimizer, step)
    return model


@torch.no_grad()
def pick_descriptor_weights(model: MuLan, captions: list[str], text_feats: torch.Tensor, clips: list[torch.Tensor],
                            tagged: torch.Tensor | None = None) -> dict[str, float]:
    """Set ``model.config``'s descriptor weights to those ``descriptors.choose_weights`` picks on matched
    captions and clips (a valid split); returns them and their measures (``choose_weights``')."""
    from ..eval.mulan import embed_clips
    from ..models.descriptors import choose_weights, read_audio, read_texts

    cosine = (model.embed_text([], features=text_feats).cpu() @ embed_clips(model, clips, tagged=tagged).T)
    weights, measures = choose_weights(cosine, read_texts(captions), read_audio(clips, model.config.sample_rate))
    model.config.descriptor_key, model.config.descriptor_tempo = weights.key, weights.tempo
    return {"key": weights.key, "tempo": weights.tempo, **measures}


def data_folders(spec: str) -> list[str]:
    """Corpus folders from ``--data`` (one, or several joined by commas; the first one's valid split validates)."""
    folders = [f.strip() for f in spec.split(",") if f.strip()]
    if not folders:
        raise ValueError("--data names no corpus folder.")
    return folders


@torch.no_grad()
def audio_views(model: MuLan, clips: list[torch.Tensor], crop: int, crops_per_clip: int,
                generator: torch.Generator, batch: int = 32, tags: "TagSegments | None" = None) -> torch.Tensor:
    """Audio embeddings [N clips, 1 + crops_per_clip, E] of every clip: whole, then random crops
    (with ``tags``, the musicnn branch's cached features, crops start on its segments' grid)."""
    from ..eval.mulan import embed_clips

    device, views = model.logit_scale.device, []
    grid = tags.segment if tags is not None else 1
    for s in range(0, len(clips), batch):
        part, numbers = clips[s: s + batch], range(s, min(s + batch, len(clips)))
        tagged = None if tags is None else torch.stack([tags.crop(i, 0, clips[i].numel()) for i in numbers])
        embedded = [embed_clips(model, part, batch=len(part), tagged=tagged)]  # whole
        for _ in range(crops_per_clip):
            crops = [_random_crop(c, crop, generator, grid) for c in part]
            tagged = None if tags is None else torch.stack([tags.crop(i, start, crop) for i, (_, start) in
                                                            zip(numbers, crops)]).to(device)
            embedded.append(model.embed_audio(torch.stack([c for c, _ in crops]).to(device), tagged).cpu())
        views.append(torch.stack(embedded, 1))
    return torch.cat(views)


def _random_crop(clip: torch.Tensor, length: int, generator: torch.Generator, grid: int = 1
                 ) -> tuple[torch.Tensor, int]:
    """(a random crop of ``length`` samples starting on a multiple of ``grid``, its start)."""
    clip = clip.float()
    if clip.numel() <= length:
        return torch.nn.functional.pad(clip, (0, length - clip.numel())), 0
    start = grid * int(torch.randint(0, (clip.numel() - length) // grid + 1, (1,), generator=generator))
    return clip[start: start + length], start


@torch.no_grad()
def fit_quantizer(model: MuLan, clips: list[torch.Tensor], crop: int, crops_per_clip: int,
                  generator: torch.Generator, batch: int = 32, tags: "TagSegments | None" = None) -> None:
    """Residual k-means of the MuLan RVQ on audio embeddings (whole clips + random crops, ``audio_views``;
    audio is embedded batch by batch, so memory stays at one batch of audio)."""
    views = audio_views(model, clips, crop, crops_per_clip, generator, batch, tags)
    model.quantizer.fit(views.flatten(0, 1).to(model.logit_scale.device), generator=generator)


class TagSegments:
    """The musicnn branch's features of every training clip per ``SEGMENT_S`` segment, computed once
    (the taggers are frozen) and cached in the run folder: a crop starting on a segment pools its
    segments' maxes and means (``Musicnn.combine``), heard in the whole clip's context."""

    SEGMENT_S = 0.5

    def __init__(self, tower, clips: list[torch.Tensor], sample_rate: int, cache: str | None = None):
        import hashlib

        from safetensors.torch import load_file, save_file

        self.segment = int(self.SEGMENT_S * sample_rate)
        self.counts = torch.tensor([-(-c.numel() // self.segment) for c in clips])
        digest = hashlib.sha256("+".join(tower.tagger_names).encode() + self.counts.numpy().tobytes() + torch.stack(
            [c.float().abs().sum() for c in clips]).numpy().tobytes()).hexdigest()[:16]
        if cache and os.path.isfile(cache):
            stored = load_file(cache)
            if stored["digest"].tolist() == list(digest.encode()):
                self.maxes, self.means = stored["maxes"], stored["means"]
                return
        width = FEATURES // 2 * len(tower.taggers)  # per frame: each tagger's 753 channels
        device = tower.tag_mean.device
        self.maxes = torch.zeros(len(clips), int(self.counts.max()), width, dtype=torch.float16)
        self.means = torch.zeros_like(self.maxes)
        with torch.no_grad():
            for i, clip in enumerate(tqdm(clips, desc="musicnn features", mininterval=30)):
                parts = [t.segments(clip.float()[None].to(device), self.segment) for t in tower.taggers]
                self.maxes[i, : self.counts[i]] = torch.cat([p[0][0] for p in parts], -1).half().cpu()
                self.means[i, : self.counts[i]] = torch.cat([p[1][0] for p in parts], -1).half().cpu()
        if cache:
            save_file({"maxes": self.maxes, "means": self.means, "digest": torch.tensor(list(digest.encode()))}, cache)

    def crop(self, index: int, start: int, length: int) -> torch.Tensor:
        """The pooled features [F] of clip ``index`` from sample ``start`` (on the grid) for ``length`` samples."""
        first = start // self.segment
        last = min(int(self.counts[index]), max(first + 1, -(-(start + length) // self.segment)))
        return Musicnn.combine(self.maxes[index, first:last].float(), self.means[index, first:last].float())

    def whole(self) -> torch.Tensor:
        """Every clip's pooled features over the whole clip [N, F]."""
        return torch.stack([self.crop(i, 0, int(n) * self.segment) for i, n in enumerate(self.counts)])
