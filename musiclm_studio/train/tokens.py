"""Token caches: every training clip's token streams, computed once for the three LMs.

``musiclm-studio train tokens --pipeline DIR --data CORPUS --out tokens/ [--mulan RUN]`` runs the
trained tokenizers of a pipeline (codec, semantic tokenizer, MuLan audio tower + RVQ, melody
tokenizer on lead stems) over a corpus split and writes ``tokens/<split>.safetensors``.
``--semantic RUN`` uses a refitted semantic tokenizer and ``--mulan RUN`` a retrained MuLan; with
``--reuse CACHE`` (a cache of the same corpus) only their streams are recomputed (the semantic stream
when neither is named) and the others are copied, minutes instead of half an hour:

    codes     [12, N]  codec tokens of all clips, concatenated along time (50 Hz)
    semantic  [M]      semantic tokens, concatenated (25 Hz)
    melody    [M]      melody tokens of the lead stem (UNVOICED where a clip has no stem)
    mulan     [C, W, 12] MuLan tokens of each clip's audio, one row per window (W crops)
    lengths   [C]      semantic frames per clip (acoustic frames are twice as many)
    mulan_codebook [12, V, E] the MuLan RVQ's code vectors the ``mulan`` tokens index
    semantic_probe [50] the semantic tokenizer's tokens of a fixed test signal (its identity)
    max_clips []       with ``--max-clips``: the cache holds the first clips of its corpus split, not all

MuLan tokens come from the *audio* tower, as in the paper: the LMs never see text.

With ``--clips-per-shard N`` a split is written as shards ``<split>-000000.safetensors``, ... of N
clips each (in corpus order; every reader joins them), and under ``torchrun --nproc_per_node W``
each rank tokenizes every W-th shard (without the flag, one shard a rank): W times faster. A
sharded corpus (``data.shards``) gives one token shard per corpus shard, read shard by shard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch
from safetensors.torch import load_file, save_file

from ..audio import prepare_audio
from .data import load_split


@dataclass
class TokenCacheConfig:
    out: str
    pipeline: Optional[str] = None  # a saved pipeline whose tokenizers are trained
    mulan: Optional[str] = None  # a retrained MuLan (run or component folder) to use instead of the pipeline's
    semantic: Optional[str] = None  # a refitted semantic tokenizer (run or component folder), likewise
    reuse: Optional[str] = None  # a cache of the same corpus: recompute only --semantic / --mulan's streams, copy the rest
    data: str = "corpus/v1"
    splits: str = "train,valid"
    mulan_windows: int = 4  # MuLan token rows per clip: the whole clip + random crops
    max_clips: Optional[int] = None
    device: Optional[str] = None
    clips_per_shard: Optional[int] = None  # write each split as shards of this many clips (one a rank under torchrun)


@dataclass
class TokenSet:
    """One split's cached streams (see the module docstring for shapes)."""

    codes: torch.Tensor
    semantic: torch.Tensor
    melody: torch.Tensor
    mulan: torch.Tensor
    lengths: torch.Tensor
    mulan_codebook: Optional[torch.Tensor] = None  # absent in caches built before it was stored
    semantic_probe: Optional[torch.Tensor] = None  # the semantic tokenizer's probe_tokens(), likewise
    max_clips: Optional[torch.Tensor] = None  # built with --max-clips: its corpus split's first clips only

    @property
    def starts(self) -> torch.Tensor:
        return torch.cumsum(self.lengths, 0) - self.lengths

    @classmethod
    def load(cls, path: str) -> "TokenSet":
        if not os.path.isfile(path):
            raise ValueError(f"No token cache at {path!r}; build it with: musiclm-studio train tokens ...")
        return cls(**load_file(path))

    def save(self, path: str) -> None:
        save_file({k: v.contiguous() for k, v in self.__dict__.items() if v is not None}, path)

    @staticmethod
    def check_compatible(sets: list["TokenSet"], names: Optional[list[str]] = None) -> None:
        """Raise unless ``sets`` come from the same tokenizers: equal MuLan code vectors and semantic
        probes (a cache of another MuLan or semantic tokenizer would teach a model two vocabularies
        under one set of ids), and as many MuLan windows per clip."""
        names = names or [f"cache {i}" for i in range(len(sets))]
        first = sets[0]
        for name, other in zip(names[1:], sets[1:]):
            for field, what in (("mulan_codebook", "MuLan"), ("semantic_probe", "semantic tokenizer")):
                a, b = getattr(first, field), getattr(other, field)
                if (a is None) != (b is None) or (a is not None and not torch.equal(a, b)):  # False on other shapes too
                    raise ValueError(f"{name} was built with another {what} than {names[0]}: token caches "
                                     f"trained on together must share their tokenizers. Rebuild it with "
                                     f"musiclm-studio train tokens --pipeline <the same pipeline> ...")
            if other.mulan.shape[1:] != first.mulan.shape[1:]:
                raise ValueError(f"{name} holds {other.mulan.shape[1]} MuLan windows per clip and {names[0]} "
                                 f"{first.mulan.shape[1]}: rebuild one with the other's --mulan-windows.")

    @classmethod
    def concat(cls, sets: list["TokenSet"], names: Optional[list[str]] = None) -> "TokenSet":
        """One set holding the clips of ``sets`` in order; they must be compatible (``check_compatible``)."""
        cls.check_compatible(sets, names)
        first = sets[0]
        return cls(torch.cat([s.codes for s in sets], 1), torch.cat([s.semantic for s in sets]),
                   torch.cat([s.melody for s in sets]), torch.cat([s.mulan for s in sets]),
                   torch.cat([s.lengths for s in sets]), first.mulan_codebook, first.semantic_probe,
                   first.max_clips if all(s.max_clips is not None for s in sets) else None)


def cache_folders(spec: str, flag: str = "--tokens", what: str = "token cache") -> list[str]:
    """The folders a flag names: one folder, or several as ``"tokens/a,tokens/b"`` (token caches for
    ``--tokens``; the critic's ``--data`` names the corpus of each cache the same way)."""
    folders = [f.strip() for f in spec.split(",") if f.strip()]
    if not folders:
        raise ValueError(f"No {what} given: pass {flag} DIR (or DIR1,DIR2 to train on several).")
    return folders


def paired_corpora(tokens: str, data: str, split: str) -> list[tuple[str, str]]:
    """(cache, corpus) pairs for ``split``: ``--tokens A,B`` with ``--data C,D``, each cache with the
    corpus it was built from, in order. The train split pairs every cache (their clips are joined);
    another split only the first (validation reads the first cache's)."""
    caches, corpora = cache_folders(tokens), cache_folders(data, "--data", "corpus")
    if len(caches) != len(corpora):
        raise ValueError(f"--tokens names {len(caches)} caches and --data {len(corpora)} corpora: give the corpus "
                         f"each cache was built from, in the same order.")
    return list(zip(caches, corpora)) if split == "train" else [(caches[0], corpora[0])]


def split_files(folder: str, split: str) -> list[str]:
    """The files of one split of a cache: ``<split>.safetensors``, or its shards in order (none: [])."""
    import glob

    whole = os.path.join(folder, f"{split}.safetensors")
    if os.path.isfile(whole):
        return [whole]
    return sorted(glob.glob(os.path.join(glob.escape(folder), f"{split}-[0-9][0-9][0-9][0-9][0-9][0-9].safetensors")))


def load_split_cache(folder: str, split: str) -> TokenSet:
    """One cache's ``split`` (its shards joined in order)."""
    files = split_files(folder, split)
    if not files:
        return TokenSet.load(os.path.join(folder, f"{split}.safetensors"))  # its error says what to do
    sets = [TokenSet.load(path) for path in files]
    return sets[0] if len(sets) == 1 else TokenSet.concat(sets, files)


def cache_corpus_rows(folder: str, corpus: str, split: str) -> list[dict]:
    """The rows of ``corpus``'s ``split`` whose clips one cache's ``split`` holds, in order: all of them, or
    for a cache built with ``--max-clips`` (marked in its files) the first as many as it holds."""
    from safetensors import safe_open

    from .data import corpus_entries

    clips, first_only = 0, False
    for path in split_files(folder, split):
        with safe_open(path, "pt") as f:
            clips += f.get_slice("lengths").get_shape()[0]
            first_only = first_only or "max_clips" in f.keys()
    entries = corpus_entries(corpus, split)
    return entries[:clips] if first_only else entries


def load_caches(spec: str, split: str, required: bool = True) -> Optional[TokenSet]:
    """The ``split`` of the caches ``spec`` names (``cache_folders``), their clips concatenated (see
    ``TokenSet.concat``). Caches without the split are skipped unless none has it: then an error
    when ``required``, else None."""
    folders = cache_folders(spec)
    found = [f for f in folders if split_files(f, split)]
    if not found:
        if required:
            return load_split_cache(folders[0], split)  # its error says what to do
        return None
    sets = [load_split_cache(f, split) for f in found]
    return sets[0] if len(sets) == 1 else TokenSet.concat(sets, found)


@torch.no_grad()
def tokenize_split(pipe, rows: list[dict], clips: list[torch.Tensor], windows: int, seed: int = 0) -> TokenSet:
    c, device = pipe.components, pipe.device
    generator = torch.Generator().manual_seed(seed)
    codes, semantic, melody, mulan, lengths = [], [], [], [], []
    window = int(c.mulan.config.window_s * c.mulan.config.sample_rate)
    for row, clip in zip(rows, clips):
        audio = clip.float().to(device)
        T = audio.numel() // (2 * c.codec.hop_length)  # whole semantic frames
        audio = audio[: T * 2 * c.codec.hop_length]
        codes.append(c.codec.encode(audio[None])[0, :, : 2 * T].cpu())
        semantic.append(c.semantic_tokenizer(audio[None])[0, :T].cpu())
        melody.append(_melody(pipe, row, T))
        mulan.append(_mulan_rows(c.mulan, audio, window, windows, generator))
        lengths.append(T)
    return TokenSet(torch.cat(codes, 1), torch.cat(semantic), torch.cat(melody), torch.stack(mulan),
                    torch.tensor(lengths), c.mulan.code_vectors().float().cpu(),
                    torch.tensor(c.semantic_tokenizer.probe_tokens()))


@torch.no_grad()
def retokenize(pipe, cached: TokenSet, clips: list[torch.Tensor], streams: set[str], windows: int,
               seed: int = 0) -> TokenSet:
    """``cached`` with its ``streams`` ("semantic", "mulan") recomputed from the same clips by the
    pipeline's tokenizers, as ``tokenize_split`` computes them (the same MuLan crops for the same
    ``seed`` and ``windows``); the other streams are copied."""
    if len(clips) != cached.lengths.numel():
        raise ValueError(f"The cache to reuse holds {cached.lengths.numel()} clips; the corpus split has "
                         f"{len(clips)}. Reuse only a cache built from the same corpus (or drop --reuse).")
    c, device = pipe.components, pipe.device
    generator = torch.Generator().manual_seed(seed)
    window, hop = int(c.mulan.config.window_s * c.mulan.config.sample_rate), 2 * c.codec.hop_length
    semantic, mulan = [], []
    for clip, T in zip(clips, cached.lengths.tolist()):
        audio = clip.float().to(device)[: T * hop]
        if audio.numel() < T * hop:
            raise ValueError(f"A clip is shorter than its cached {T} semantic frames: the cache was built "
                             "from another corpus. Drop --reuse.")
        if "semantic" in streams:
            semantic.append(c.semantic_tokenizer(audio[None])[0, :T].cpu())
        if "mulan" in streams:
            mulan.append(_mulan_rows(c.mulan, audio, window, windows, generator))
    fresh = {}
    if "semantic" in streams:
        fresh.update(semantic=torch.cat(semantic), semantic_probe=torch.tensor(c.semantic_tokenizer.probe_tokens()))
    if "mulan" in streams:
        fresh.update(mulan=torch.stack(mulan), mulan_codebook=c.mulan.code_vectors().float().cpu())
    return TokenSet(**{**cached.__dict__, **fresh})


def _mulan_rows(mulan, audio: torch.Tensor, window: int, windows: int, generator: torch.Generator) -> torch.Tensor:
    """MuLan tokens [windows, 12] of a clip: the whole clip, then random half-window crops."""
    crops = [audio] + [_crop(audio, min(window, audio.numel()) // 2, generator) for _ in range(windows - 1)]
    return torch.cat([mulan.tokenize(mulan.embed_audio(x[None])) for x in crops]).cpu()


def _crop(audio: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    start = int(torch.randint(0, audio.numel() - length + 1, (1,), generator=generator))
    return audio[start: start + length]


def _melody(pipe, row: dict, frames: int) -> torch.Tensor:
    """Melody tokens of a clip's lead: from its MIDI notes when the corpus has them (exact),
    else from the lead stem through the melody tokenizer, else all unvoiced."""
    from ..models.melody_tokenizer import UNVOICED, notes_to_tokens

    if row.get("lead_notes"):
        return notes_to_tokens(row["lead_notes"], frames, pipe.config.melody.frame_rate)
    tokens = torch.full((frames,), UNVOICED, dtype=torch.long)
    if row.get("lead_path"):
        path = row["lead_path"] if os.path.isabs(row["lead_path"]) else os.path.join(row["root"], row["lead_path"])
        stem = prepare_audio(path, target_sample_rate=pipe.sample_rate).audio
        found = pipe.components.melody(stem)[:frames]
        tokens[: found.numel()] = found
    return tokens


def build_token_cache(run: TokenCacheConfig) -> dict[str, TokenSet]:
    from ..pipeline import MusicLMPipeline
    from .common import setup_distributed

    device, rank, world = setup_distributed(run.device)
    pipe = MusicLMPipeline.from_pretrained(run.pipeline, device=str(device), int8=False)  # tokenizers only
    if run.mulan:  # the pipeline's LMs embed the old MuLan's codes; the ones trained on this cache will not
        from ..components import load_trained

        pipe.components.mark_trained("mulan", load_trained("mulan", run.mulan).to(pipe.device))
    if run.semantic:
        from ..components import load_trained

        pipe.components.mark_trained("semantic_tokenizer",
                                     load_trained("semantic_tokenizer", run.semantic).to(pipe.device))
    needed = {"codec", "semantic_tokenizer", "mulan"} & set(pipe.untrained_components)
    if needed:
        raise ValueError(f"The pipeline's {sorted(needed)} are untrained: train them before caching tokens.")
    os.makedirs(run.out, exist_ok=True)
    from ..data.shards import is_sharded

    if run.clips_per_shard is not None or world > 1 or is_sharded(run.data):
        return _build_shards(pipe, run, rank, world)
    sets = {}
    for split in run.splits.split(","):
        rows, clips = load_split(run.data, split, pipe.sample_rate, limit=run.max_clips)
        for row in rows:
            row["root"] = run.data
        if run.reuse:
            streams = {name for name in ("semantic", "mulan") if getattr(run, name)} or {"semantic"}
            cached = TokenSet.load(os.path.join(run.reuse, f"{split}.safetensors"))
            sets[split] = retokenize(pipe, cached, clips, streams, run.mulan_windows)
        else:
            sets[split] = tokenize_split(pipe, rows, clips, run.mulan_windows)
        if run.max_clips:
            sets[split].max_clips = torch.tensor(run.max_clips)
        sets[split].save(os.path.join(run.out, f"{split}.safetensors"))
        print(f"{split}: {len(rows)} clips, {int(sets[split].lengths.sum())} semantic frames")
    return sets


def _build_shards(pipe, run: TokenCacheConfig, rank: int, world: int) -> dict[str, TokenSet]:
    """Each split as shards of ``clips_per_shard`` clips (default: one a rank), this rank tokenizing every
    ``world``-th; returns the joined splits (every rank waits for all shards)."""
    import torch.distributed as dist

    if run.reuse:
        raise ValueError("--reuse recomputes streams of a whole cache: run it without --clips-per-shard "
                         "and without torchrun.")
    if run.clips_per_shard is not None and run.clips_per_shard < 1:
        raise ValueError(f"--clips-per-shard must be at least 1 (got {run.clips_per_shard}).")
    sets = {}
    for split in run.splits.split(","):
        for k, load in _shard_loaders(run, split, pipe.sample_rate, world)[rank::world]:
            rows, clips = load()
            for row in rows:
                row["root"] = run.data
            shard = tokenize_split(pipe, rows, clips, run.mulan_windows, seed=k)
            if run.max_clips:
                shard.max_clips = torch.tensor(run.max_clips)
            shard.save(os.path.join(run.out, f"{split}-{k:06d}.safetensors"))
        if world > 1:
            dist.barrier()
        sets[split] = load_split_cache(run.out, split)
        if rank == 0:
            print(f"{split}: {sets[split].lengths.numel()} clips in {len(split_files(run.out, split))} shards, "
                  f"{int(sets[split].lengths.sum())} semantic frames")
    return sets


def _shard_loaders(run: TokenCacheConfig, split: str, sample_rate: int, world: int) -> list[tuple[int, object]]:
    """(shard number, function giving its rows and clips) for every token shard of ``split``: one per
    shard of a sharded corpus (token shard k holds corpus shard k's clips), else blocks of
    ``clips_per_shard`` corpus rows (default: one block a rank)."""
    import math

    from ..data import shards as corpus_shards
    from .data import corpus_entries, load_rows

    if corpus_shards.is_sharded(run.data):
        if run.max_clips:
            raise ValueError("--max-clips reads the first clips of a corpus folder; a sharded corpus is tokenized "
                             "shard by shard: drop --max-clips.")
        urls = corpus_shards.shard_urls(run.data, split)
        return [(k, lambda url=url: corpus_shards.read_shard(url, sample_rate)) for k, url in enumerate(urls)]
    entries = corpus_entries(run.data, split)[: run.max_clips or None]
    if not entries:
        raise ValueError(f"No clips in split {split!r} of {run.data!r}.")
    per = run.clips_per_shard or math.ceil(len(entries) / world)
    return [(k, lambda start=start: load_rows(entries[start: start + per], sample_rate))
            for k, start in enumerate(range(0, len(entries), per))]
