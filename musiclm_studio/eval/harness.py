"""Evaluation of generated music: MCC, FAD, attribute adherence, melody, diversity and speed.

A *system* is anything with ``sample_rate``, ``mulan`` and ``generate(text, seconds, seed,
melody=None) -> Generation`` (``PipelineSystem`` wraps a ``MusicLMPipeline``; tests also use
oracle and broken systems). Every quality figure comes with reference points measured the
same way: MCC (MuLan text-audio cosine) next to real held-out clips with their captions (the
ceiling) and shuffled pairs (the floor); FAD in MuLan audio-embedding space against held-out
corpus audio, next to codec resyntheses of that audio (the floor) and generations from one
generic prompt (unconditional); attribute adherence (tempo, mode, drums, lead family; each
only over the prompts that ask for it, on what they ask) next to the rates the same analysers
reach on real clips and a chance rate (each generation against another prompt); melody
chroma cosine next to the cosine against a different melody; diversity as embedding distance
across seeds; speed as real-time factor per stage, time to first audio and peak memory.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..data.captions import TEMPO_BANDS
from .adherence import _asked, adherence_report
from .bench import peak_rss_mb
from .fad import fad
from .machine import environment
from .metrics import diversity_report, melody_report, melody_set, rotate, stability_report
from .mulan import embed_clips, embed_texts, read_musiccaps

ATTRIBUTE_KEYS = ("genre", "bpm", "tempo_word", "mode", "drums", "lead_family")
TEXT_KEYS = ("prompt", "caption", "text")
UNCONDITIONAL_PROMPT = "music"
MELODY_PROMPT = "a melody played on a piano with soft accompaniment"


@dataclass
class PromptItem:
    """One prompt; corpus prompts carry their clip's attributes and audio path."""

    text: str
    attributes: dict = field(default_factory=dict)  # what the prompt asks for (adherence is checked on these)
    path: Optional[str] = None
    known: Optional[dict] = None  # all of the clip's attributes, where the prompt states fewer (corpus captions)


@dataclass
class Generation:
    """One generated clip: audio [S], seconds per stage, seconds until audio existed."""

    audio: torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)
    first_audio_s: float = 0.0


@dataclass
class EvalConfig:
    seconds: float = 10.0
    seed: int = 0
    guidance_scale: Optional[dict] = None  # per stage; None = the pipeline's defaults
    baseline_limit: int = 50  # unconditional generations (0 = none)
    diversity_prompts: int = 2
    diversity_seeds: int = 3
    melodies: int = 3
    examples: int = 3  # spectrogram PNGs
    long_seconds: float = 60.0  # long generations checked for drift to silence or noise
    long_prompts: int = 6  # how many (0 = none); 6 x 6 windows: one generation alone is noise
    num_candidates: int = 1  # per prompt; the pipeline keeps one (see MusicLMPipeline.__call__)
    fad_embeddings: tuple = ()  # also FAD through fadtk in these spaces (eval.fadtk_bridge.EMBEDDINGS)
    fad_dir: Optional[str] = None  # where the clips fadtk reads are written (a fresh folder)
    kl_classifiers: tuple = ()  # KL against each prompt's real clip (eval.field_metrics.KL_CLASSIFIERS)
    clap_models: tuple = ()  # CLAP score in these text-audio spaces (eval.field_metrics.CLAP_MODELS)


@dataclass
class Reference:
    """Held-out real clips [S] (cropped to the eval length) and their metadata rows."""

    rows: list[dict]
    clips: list[torch.Tensor]


@dataclass
class EvalResult:
    pipeline: str
    config: EvalConfig
    prompts: int
    mcc: dict[str, Optional[float]] = field(default_factory=dict)
    fad: dict[str, Optional[float]] = field(default_factory=dict)
    adherence: dict[str, dict] = field(default_factory=dict)
    melody: dict[str, Optional[float]] = field(default_factory=dict)
    diversity: dict[str, Optional[float]] = field(default_factory=dict)
    stability: dict = field(default_factory=dict)
    speed: dict = field(default_factory=dict)
    kl_clap: dict = field(default_factory=dict)  # KL and CLAP score (eval.field_metrics.field_report), if asked
    wall_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    examples: list[tuple[str, torch.Tensor, Optional[torch.Tensor]]] = field(default_factory=list)  # (prompt, generated,
    # the real clip the prompt describes or None); not serialised
    sample_rate: int = 24_000
    machine: str = ""  # the CPU and torch that generated (eval.machine): other CPUs give other clips


# ---- prompt sets --------------------------------------------------------------------------
def _item(row: dict, text: str) -> PromptItem:
    return PromptItem(text, {k: row[k] for k in ATTRIBUTE_KEYS if row.get(k) is not None}, row.get("path"))


def _corpus_item(row: dict) -> PromptItem:
    """A corpus caption as a prompt: it asks only for the tempo and mode it states."""
    item = _item(_asked(row), row["caption"])
    item.known = _item(row, row["caption"]).attributes
    return item


def load_prompts(spec: str, limit: Optional[int] = None, musiccaps_csv: Optional[str] = None,
                 split: Optional[str] = None) -> list[PromptItem]:
    """``corpus:DIR`` (the captions of its ``split``, default test, or for a corpus v2 held-out set,
    ``corpus build --heldout-only``, its ``heldout`` split; "all": every clip, for a corpus never trained
    on), ``musiccaps`` or a .csv, a .jsonl, or a text file (one per line)."""
    from ..train.data import corpus_entries

    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1 (got {limit}).")
    if spec.startswith("corpus:"):
        folder = spec[len("corpus:"):]
        if not os.path.isfile(os.path.join(folder, "metadata.jsonl")):
            raise ValueError(f"{folder!r} is not a corpus (no metadata.jsonl); build one with musiclm-studio corpus build.")
        if split is not None:
            rows = corpus_entries(folder, None if split == "all" else split)
        else:  # a held-out-world set has no test split
            rows = corpus_entries(folder, "test") or corpus_entries(folder, "heldout")
        items = [_corpus_item(r) for r in rows if r.get("caption")]
    elif spec == "musiccaps" or spec.endswith(".csv"):
        from .mulan_cli import MUSICCAPS

        path = spec if spec != "musiccaps" else os.path.normpath(musiccaps_csv or MUSICCAPS)
        _check_file(path)
        try:
            items = [PromptItem(text) for text in read_musiccaps(path) if text.strip()]
        except KeyError:
            raise ValueError(f"{path} has no 'caption' column (the MusicCaps CSV format).") from None
    else:
        _check_file(spec)
        items = _read_prompt_file(spec)
    if not items:
        raise ValueError(f"The prompt set {spec!r} is empty.")
    return items[:limit] if limit else items


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise ValueError(f"Prompts file {path!r} not found. Give a .jsonl / .txt / .csv file, corpus:DIR or musiccaps.")


def _read_prompt_file(path: str) -> list[PromptItem]:
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if not path.endswith(".jsonl"):
        return [PromptItem(line) for line in lines]
    items = []
    for n, line in enumerate(lines, 1):
        row = json.loads(line)
        text = next((row[k] for k in TEXT_KEYS if isinstance(row.get(k), str) and row[k].strip()), None)
        if text is None:
            raise ValueError(f"{path}:{n} has no prompt; give one of the keys {TEXT_KEYS}.")
        if row.get("tempo_word") is not None and row["tempo_word"] not in TEMPO_BANDS:
            raise ValueError(f"{path}:{n} has tempo_word {row['tempo_word']!r}; use one of {sorted(TEMPO_BANDS)}.")
        items.append(_item(row, text))
    return items


def load_reference(folder: str, sample_rate: int, seconds: float, limit: Optional[int] = None,
                   split: str = "test") -> Reference:
    """Held-out corpus clips, cropped to ``seconds``, with their metadata rows."""
    from ..train.data import load_split

    rows, clips = load_split(folder, split, sample_rate, limit=limit)
    return Reference(rows, [c[: int(seconds * sample_rate)].float() for c in clips])


# ---- the system under test ----------------------------------------------------------------
class PipelineSystem:
    """A ``MusicLMPipeline`` as a system to evaluate."""

    def __init__(self, pipe, guidance_scale=None, num_candidates: int = 1, judge=None):
        self.pipe, self.guidance_scale, self.num_candidates = pipe, guidance_scale, num_candidates
        # the MuLan that reads MCC, FAD, lead family and diversity: the pipeline's own unless a fixed
        # ``judge`` is given (pipelines with different MuLans are only comparable under one judge)
        self.sample_rate, self.mulan = pipe.sample_rate, judge if judge is not None else pipe.components.mulan
        self.notices = [] if pipe.trained else [
            f"Untrained components ({', '.join(pipe.untrained_components)}): the figures measure random weights."]

    def warm_up(self) -> None:
        """Load the text encoder and set up kernels, so that the first timed generation is not slower."""
        self.pipe("warm-up", duration_s=0.5, seed=0, guidance_scale=self.guidance_scale)

    def generate(self, text: str, seconds: float, seed: int, melody: Optional[np.ndarray] = None) -> Generation:
        start, first = time.perf_counter(), []

        def on_event(event):
            if event.stage == "decode" and not first:
                first.append(time.perf_counter() - start)
        out = self.pipe(text, melody=melody, melody_sample_rate=None if melody is None else self.sample_rate,
                        duration_s=seconds, seed=seed, guidance_scale=self.guidance_scale,
                        num_candidates=self.num_candidates, callback=on_event)
        return Generation(out.audio, out.timings, first[0] if first else out.timings["total"])

    @torch.no_grad()
    def resynthesize(self, audio: torch.Tensor) -> torch.Tensor:
        """Codec encode -> decode of real audio [S] (the FAD floor any generation could reach)."""
        codes = self.pipe.components.codec.encode(audio.float()[None].to(self.pipe.device))
        n = self.pipe.config.codec.num_coarse_quantizers
        return self.pipe.decode(codes[:, :n], codes[:, n:])[0, : audio.numel()].cpu()


# ---- metrics --------------------------------------------------------------------------------
def _mean_score(text_emb: torch.Tensor, audio_emb: torch.Tensor) -> float:
    """Mean MuLan text-audio cosine over (text i, audio i) pairs."""
    return float((text_emb * audio_emb).sum(-1).mean())


def mcc_report(mulan, texts: list[str], audio_emb: torch.Tensor, reference: Optional[Reference],
               reference_emb: Optional[torch.Tensor]) -> dict:
    """Mean MuLan score of generations, of shuffled pairs, and of real captioned clips (ceiling / floor)."""
    text_emb = embed_texts(mulan, texts)
    shuffle = rotate(list(range(len(texts))))
    out = {"generated": _mean_score(text_emb, audio_emb),
           "generated_shuffled": _mean_score(text_emb[shuffle], audio_emb) if len(texts) > 1 else None,
           "real_ceiling": None, "real_shuffled_floor": None}
    captioned = [n for n, r in enumerate(reference.rows) if r.get("caption")] if reference else []
    if len(captioned) > 1:
        caption_emb = embed_texts(mulan, [reference.rows[n]["caption"] for n in captioned])
        real_emb = reference_emb[captioned]
        out["real_ceiling"] = _mean_score(caption_emb, real_emb)
        out["real_shuffled_floor"] = _mean_score(caption_emb[rotate(list(range(len(captioned))))], real_emb)
        span = out["real_ceiling"] - out["real_shuffled_floor"]
        out["relative"] = (out["generated"] - out["real_shuffled_floor"]) / span if abs(span) > 1e-6 else None
    return out


def fad_report(generated_emb: torch.Tensor, reference_emb: Optional[torch.Tensor],
               resynthesized_emb: Optional[torch.Tensor], unconditional_emb: Optional[torch.Tensor]) -> dict:
    """FAD (MuLan audio space) of generations, codec resyntheses and unconditional generations vs real clips."""
    out = {"generated": None, "codec_floor": None, "unconditional": None, "generated_same_n": None}
    if reference_emb is None or len(reference_emb) < 2 or len(generated_emb) < 2:
        return out
    out["generated"] = fad(generated_emb, reference_emb)
    if resynthesized_emb is not None and len(resynthesized_emb) > 1:
        out["codec_floor"] = fad(resynthesized_emb, reference_emb)
    if unconditional_emb is not None and len(unconditional_emb) > 1:
        out["unconditional"] = fad(unconditional_emb, reference_emb)
        out["generated_same_n"] = fad(generated_emb[: len(unconditional_emb)], reference_emb)
    return out


def speed_report(generations: list[Generation], seconds: float) -> dict:
    """Real-time factor per stage (seconds of compute per second of audio), first audio, peak RSS."""
    audio_s = seconds * len(generations)
    stages: dict[str, float] = {}
    for g in generations:
        for stage, t in g.timings.items():
            stages[stage] = stages.get(stage, 0.0) + t
    return {"rtf": {k: v / audio_s for k, v in stages.items()},
            "first_audio_s": float(np.mean([g.first_audio_s for g in generations])),
            "generations": len(generations), "audio_seconds": audio_s, "peak_rss_mb": peak_rss_mb()}


def _real_clip(item: PromptItem, sample_rate: int, seconds: float) -> Optional[torch.Tensor]:
    """The corpus clip a prompt was written for (to draw next to its generation), or None."""
    from ..audio import prepare_audio

    if not item.path or not os.path.isfile(item.path):
        return None
    return prepare_audio(item.path, target_sample_rate=sample_rate).audio[: int(seconds * sample_rate)]


# ---- the whole evaluation -----------------------------------------------------------------
def evaluate(system, items: list[PromptItem], reference: Optional[Reference] = None,
             config: Optional[EvalConfig] = None, name: str = "", log=print) -> EvalResult:
    """Generate for every prompt (plus baselines, melodies and extra seeds) and measure it all."""
    config = config or EvalConfig()
    if not items:
        raise ValueError("The prompt set is empty; give at least one prompt.")
    if not 0 < config.seconds <= 60:
        raise ValueError(f"--seconds must be between 0 and 60 (got {config.seconds:g}).")
    start, sr, mulan = time.perf_counter(), system.sample_rate, system.mulan

    def run(text: str, seed: int, label: str, melody=None, seconds: Optional[float] = None) -> Generation:
        gen = system.generate(text, seconds or config.seconds, seed, melody=melody)
        log(f"  {label}: {gen.timings.get('total', 0.0):.1f} s  {text[:60]!r}")
        return gen

    if hasattr(system, "warm_up"):
        system.warm_up()
    # 1. one generation per prompt, seeds seed, seed + 1, ...
    gens = [run(item.text, config.seed + n, f"[{n + 1}/{len(items)}]") for n, item in enumerate(items)]
    audio = [g.audio for g in gens]
    # 2. baselines: one generic prompt for the first prompts' seeds; hummed melodies; more seeds
    unconditional = [run(UNCONDITIONAL_PROMPT, config.seed + n, f"unconditional {n + 1}").audio
                     for n in range(min(config.baseline_limit, len(items)))]
    melodies = melody_set(config.melodies, config.seconds, sr)
    melody_out = [run(MELODY_PROMPT, config.seed + n, f"melody {n + 1}", melody=m).audio for n, m in enumerate(melodies)]
    groups = [[audio[n]] + [run(items[n].text, config.seed + 10_000 * k + n, f"diversity {n + 1}.{k}").audio
                            for k in range(1, config.diversity_seeds)]
              for n in range(min(config.diversity_prompts, len(items)))]
    long_out = [run(items[n].text, config.seed + n, f"long {n + 1} ({config.long_seconds:g} s)",
                    seconds=config.long_seconds).audio for n in range(min(config.long_prompts, len(items)))]
    # 3. the metrics
    log("measuring ...")
    measure_start = time.perf_counter()
    def embed(clips):  # MuLan audio embeddings [N, E], once per clip set
        return embed_clips(mulan, clips) if len(clips) > 1 else None
    gen_emb, ref_emb = embed_clips(mulan, audio), embed(reference.clips) if reference else None
    resynthesized = [system.resynthesize(c) for c in reference.clips] if reference and hasattr(system, "resynthesize") else []
    result = EvalResult(pipeline=name, config=config, prompts=len(items), sample_rate=sr,
                        notices=list(getattr(system, "notices", [])), machine=environment())
    result.mcc = mcc_report(mulan, [i.text for i in items], gen_emb, reference, ref_emb)
    result.fad = fad_report(gen_emb, ref_emb, embed(resynthesized), embed(unconditional))
    if config.fad_embeddings:
        if reference is None or not config.fad_dir:
            result.notices.append("--fad-embedding needs reference clips (--data) and an output folder: no fadtk FAD.")
        else:
            from .fadtk_bridge import fadtk_folders

            result.fad["fadtk"] = fadtk_folders(audio, reference.clips, sr, config.fad_dir, config.fad_embeddings, mulan)
    if config.kl_classifiers or config.clap_models:
        from .field_metrics import field_report

        real = [_real_clip(item, sr, config.seconds) for item in items]
        result.kl_clap = field_report(config.kl_classifiers, config.clap_models, [i.text for i in items], audio, real,
                                    sr, getattr(system, "pipe", None), mulan)
        result.notices += result.kl_clap.pop("notices")
    result.adherence = adherence_report(mulan, items, audio, gen_emb, reference, ref_emb, sr)
    result.melody = melody_report(melodies, melody_out, sr)
    result.diversity = diversity_report(mulan, groups)
    result.stability = stability_report(long_out, reference.clips if reference else [], sr, window_s=config.seconds)
    result.speed = speed_report(gens, config.seconds)
    result.examples = [(items[n].text, audio[n], _real_clip(items[n], sr, config.seconds))
                       for n in range(min(config.examples, len(items)))]
    if reference is None:
        result.notices.append("No reference corpus (--data): FAD, the MCC ceiling / floor and real-clip rates are missing.")
    result.wall_s = time.perf_counter() - start
    result.speed["measure_s"] = time.perf_counter() - measure_start
    return result
