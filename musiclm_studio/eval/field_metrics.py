"""KL and CLAP score: the field's two other text-to-music figures, next to FAD (``fadtk_bridge``).

**KL** (MusicGen / audiocraft, Stable Audio): a pretrained audio classifier reads each generated clip
and the real clip whose caption was the prompt; the figure is KL(p_real || p_generated) of its label
probabilities, per pair, averaged over the pairs (lower is better; ``kl_divergence`` is audiocraft's
definition, eps 1e-6). Classifiers:

- ``passt``: PaSST (``hear21passt``) on AudioSet's 527 labels at 32 kHz, as audiocraft reports it
  (softmax over the labels, and sigmoid per label). hear21passt needs ``timm``, its checkpoint
  (downloaded on first use) and a real torchaudio (its mel filterbank is torchaudio's), so it runs
  only beside a torch that has its torchaudio: none on PyPI for torch 2.13, so untested here.
- ``critic``: our attribute critic (``models.critic``) on the clips' coarse codec tokens: a
  distribution each over tempo bins, mode, drums and lead family. Our own label space, like FAD in
  MuLan space: comparable across our pipelines, not with papers; tested offline.

**CLAP score** (Stable Audio, MusicLDM): the mean cosine between each prompt's text embedding and its
clip's audio embedding in a joint text-audio space (higher is better). ``laion-clap-music`` /
``laion-clap-audio``: LAION-CLAP through fadtk's loader (the ``laion_clap`` package and its
checkpoint, fetched on first use); ``mulan``: the same score in our MuLan's space (the MuLan Cycle
Consistency of the MusicLM paper), tested offline.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn.functional as F

from ..audio import resample

KL_CLASSIFIERS = ("critic", "passt")
CLAP_MODELS = ("mulan", "laion-clap-music", "laion-clap-audio")
PASST_RATE = 32_000


def kl_divergence(generated: torch.Tensor, reference: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """KL(reference || generated) per pair: label probabilities [N, C] each -> [N]."""
    return F.kl_div((generated + eps).log(), reference, reduction="none").sum(-1)


@torch.no_grad()
def critic_distributions(pipe, clips: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The critic's probabilities per attribute for each clip [S] at the pipeline's rate: name -> [N, values]."""
    critic = pipe.components.critic
    if critic is None:
        raise ValueError("--kl critic needs a pipeline with an attribute critic (the shipped one has one).")
    out: dict[str, list[torch.Tensor]] = {}
    for clip in clips:
        codes = pipe.components.codec.encode(clip.float()[None].to(pipe.device))
        coarse = codes[:, : pipe.config.codec.num_coarse_quantizers]
        for name, logits in critic.audio_logits(coarse).items():
            out.setdefault(name, []).append(logits.float().softmax(-1)[0].cpu())
    return {name: torch.stack(rows) for name, rows in out.items()}


@functools.cache
def _passt():
    try:
        from hear21passt.base import get_basic_model
    except (ImportError, OSError) as error:
        raise ValueError(f"--kl passt needs hear21passt with timm and a torchaudio built for torch {torch.__version__} "
                         f"({error}): pip install hear21passt timm, beside a torch that has its torchaudio "
                         "(PyPI has none for torch 2.13); or use --kl critic.") from error
    try:
        return get_basic_model(mode="logits").eval()
    except Exception as error:  # its checkpoint is fetched from GitHub on first use
        raise ValueError(f"PaSST's AudioSet checkpoint could not be loaded ({type(error).__name__}: {error}); "
                         "fetch it once with network (hear21passt does it on first use), or use --kl critic.") from error


@torch.no_grad()
def passt_distributions(clips: list[torch.Tensor], sample_rate: int) -> dict[str, torch.Tensor]:
    """PaSST's AudioSet label probabilities per clip: softmax over the labels and sigmoid per label, [N, 527]."""
    model, stft = _passt(), torch.stft
    torch.stft = functools.partial(stft, return_complex=False)  # PaSST leaves it out; torch now requires it
    try:
        logits = torch.stack([model(resample(clip.float(), sample_rate, PASST_RATE)[None]).float()[0]
                              for clip in clips])
    finally:
        torch.stft = stft
    return {"softmax": logits.softmax(-1), "sigmoid": logits.sigmoid()}


def kl_report(classifier: str, generated: list[torch.Tensor], reference: list[torch.Tensor], sample_rate: int,
              pipe=None) -> dict:
    """KL between each generated clip and its prompt's real clip (same order), per distribution the
    classifier gives, averaged over the pairs; ``mean`` averages the distributions."""
    if classifier not in KL_CLASSIFIERS:
        raise ValueError(f"Unknown --kl classifier {classifier!r}; choose one of: {', '.join(KL_CLASSIFIERS)}.")
    if len(generated) != len(reference) or not generated:
        raise ValueError(f"KL pairs each generated clip with its prompt's real clip: got {len(generated)} generated "
                         f"and {len(reference)} real clips.")
    read = (lambda clips: critic_distributions(pipe, clips)) if classifier == "critic" else \
        (lambda clips: passt_distributions(clips, sample_rate))
    ours, real = read(generated), read(reference)
    per = {name: float(kl_divergence(ours[name], real[name]).mean()) for name in ours}
    return {"classifier": classifier, "pairs": len(generated), "kl": per, "mean": sum(per.values()) / len(per)}


def _laion_clap(model: str):
    import importlib.util

    from .fadtk_bridge import field_embedding

    if importlib.util.find_spec("laion_clap") is None:
        raise ValueError(f"--clap-score {model} needs LAION-CLAP: pip install laion-clap (its checkpoint is fetched "
                         "on first use); or use --clap-score mulan.")

    loader = field_embedding(model.replace("laion-clap-", "clap-laion-"))  # fadtk's loader: checkpoint + patch
    return loader.model, loader.sr


@torch.no_grad()
def clap_score(model: str, texts: list[str], clips: list[torch.Tensor], sample_rate: int, mulan=None) -> float:
    """Mean text-audio cosine over the (text i, clip i) pairs in ``model``'s joint space."""
    if model not in CLAP_MODELS:
        raise ValueError(f"Unknown --clap-score model {model!r}; choose one of: {', '.join(CLAP_MODELS)}.")
    if len(texts) != len(clips) or not texts:
        raise ValueError(f"The CLAP score pairs each prompt with its clip: got {len(texts)} prompts, {len(clips)} clips.")
    if model == "mulan":
        from .mulan import embed_clips, embed_texts

        if mulan is None:
            raise ValueError("--clap-score mulan needs a MuLan: give --pipeline (default: the shipped model).")
        return float((embed_texts(mulan, texts) * embed_clips(mulan, clips)).sum(-1).mean())
    clap, rate = _laion_clap(model)
    text = clap.get_text_embedding(texts, use_tensor=True).float().cpu()
    audio = torch.cat([clap.get_audio_embedding_from_data(
        x=resample(c.float(), sample_rate, rate).numpy()[None], use_tensor=False) for c in clips])
    return float(F.cosine_similarity(text, torch.as_tensor(audio).float(), dim=-1).mean())


def field_report(kl_classifiers, clap_models, texts: list[str], generated: list[torch.Tensor],
                 real: list[Optional[torch.Tensor]], sample_rate: int, pipe=None, mulan=None) -> dict:
    """The KL (each generated clip against its prompt's real clip, where the prompt has one) and CLAP
    figures an evaluation asked for: {"kl": [kl_report ...], "clap": [{"model", "score"} ...], "notices"}."""
    out = {"kl": [], "clap": [], "notices": []}
    pairs = [(g, r) for g, r in zip(generated, real) if r is not None]
    for classifier in kl_classifiers:
        if not pairs:
            out["notices"].append(f"--kl {classifier}: no prompt has a real clip (use corpus prompts): no KL.")
        elif classifier == "critic" and pipe is None:
            out["notices"].append("--kl critic reads with a MusicLM pipeline's critic: no KL for this system.")
        else:
            out["kl"].append(kl_report(classifier, [g for g, _ in pairs], [r for _, r in pairs], sample_rate, pipe))
    for model in clap_models:
        out["clap"].append({"model": model, "score": clap_score(model, texts, generated, sample_rate, mulan)})
    return out


def field_table(kl: Optional[list[dict]], clap: Optional[list[dict]]) -> str:
    """Markdown rows: each KL and CLAP figure with what measured it."""
    lines = ["| metric | measured with | value |", "|---|---|---|"]
    for report in kl or []:
        parts = ", ".join(f"{name} {value:.3f}" for name, value in report["kl"].items())
        lines.append(f"| KL (lower is better), {report['pairs']} pairs | {report['classifier']} | "
                     f"{report['mean']:.3f} ({parts}) |")
    for row in clap or []:
        lines.append(f"| CLAP score (text-audio cosine) | {row['model']} | {row['score']:.3f} |")
    return "\n".join(lines) + "\n"
