"""The attribute critic: which of several candidates shows what the prompt asks for.

MuLan's single cosine ranks candidates by everything at once, and on generated audio it
hardly separates the right tempo or drums from the wrong (see the model card). The critic
reads four attributes separately, from both sides:

- **from the coarse codec tokens** of a candidate ([B, 4, T] at 50 Hz, before the fine stage
  and before any audio exists): a distribution over tempo bins (log-spaced bpm), mode
  (major / minor), drums (no / yes) and lead instrument family. Tempo goes through a learned
  onset channel and its autocorrelation (beat periods as lags), the rest through pooled
  convolution + Transformer features.
- **from the prompt's text features** ([D], MuLan's frozen sentence encoder before its
  projection: the 128-d MuLan embedding keeps little of a stated bpm): what it asks for, over
  the same values, plus "unstated" for tempo and mode (captions often leave them out).

``score`` is, per attribute, the log-probability that the candidate's value is the asked one
(sum over values of p_text * p_audio), weighted by how surely the prompt states it and by how
well the audio side reads that attribute on validation clips (``CriticConfig.weights``: mode,
which the codec tokens hardly keep, counts for little). The
pipeline samples candidates as one batch (nearly free: the LMs are step-overhead bound on a
CPU), ranks them by this score after the coarse stage, and runs the fine stage and the codec
only for the chosen one. Trained on a token cache and its corpus's labels:
``musiclm-studio train critic``.

The same four attributes can also condition the semantic and coarse LMs (``train semantic-lm
--attributes``): an ``attributes`` prefix stream of four tokens (``attribute_tokens``: tempo bin,
mode, drums, lead family, each with an "unstated" value; ``CriticConfig.attribute_stream``). The
LMs learn it text-free from each clip's true values; at generation ``asked_tokens`` reads it from
the prompt with this critic's text side, much as MuLan's audio and text towers stand in for each
other.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import CriticConfig
from ..vocab.musical_key import MODES

ATTRIBUTE_NAMES = ("tempo", "mode", "drums", "lead_family")


def bin_bpms(config: CriticConfig) -> torch.Tensor:
    """The bpm at the centre of each tempo bin (log-spaced from min_bpm to max_bpm)."""
    return torch.exp(torch.linspace(math.log(config.min_bpm), math.log(config.max_bpm), config.tempo_bins))


TEMPO_SIGMA = 0.05  # std of the soft bpm target, in log-bpm (about 5 %)


def tempo_target(bpm: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Soft targets over tempo bins [N, bins] for bpms [N] (a Gaussian in log-bpm)."""
    d = (centres.log()[None] - bpm.float().log()[:, None]) / TEMPO_SIGMA
    t = torch.exp(-0.5 * d ** 2)
    return t / t.sum(-1, keepdim=True)


def tempo_bin(config: CriticConfig, bpm: torch.Tensor) -> torch.Tensor:
    """The nearest tempo bin of each bpm [N] (``bin_bpms``); -1 where the bpm is <= 0 (unstated)."""
    span = math.log(config.max_bpm) - math.log(config.min_bpm)
    index = ((bpm.float().clamp(min=1e-6).log() - math.log(config.min_bpm)) / span * (config.tempo_bins - 1)).round()
    return torch.where(bpm > 0, index.clamp(0, config.tempo_bins - 1).long(), -1)


def _attribute_offsets(config: CriticConfig) -> tuple[list[int], list[int]]:
    """(values per attribute, the first token of each) in the ``attributes`` vocabulary."""
    sizes = list(config.attribute_sizes().values())
    return sizes, [sum(sizes[:i]) for i in range(len(sizes))]


def attribute_tokens(config: CriticConfig, tempo: torch.Tensor, mode: torch.Tensor, drums: torch.Tensor,
                     family: torch.Tensor) -> torch.Tensor:
    """The stage LMs' ``attributes`` tokens [N, 4] from the tempo bin (``tempo_bin``), the index of each
    mode (``MODES``), drums (0 / 1) and lead family (index into ``config.families``), all [N]; an index
    < 0 is "unstated". One vocabulary, an offset per attribute (``attribute_sizes``)."""
    sizes, offsets = _attribute_offsets(config)
    values = [v.long() for v in (tempo, mode, drums, family)]
    out = torch.stack([torch.where(v < 0, n - 1, v) for v, n in zip(values, sizes)], -1)
    return out + torch.tensor(offsets, device=out.device)


def set_asked_tempo(config: CriticConfig, tokens: torch.Tensor, bpms: list[Optional[float]]) -> torch.Tensor:
    """``attribute_tokens`` [N, 4] with row i's tempo set to the bin of ``bpms[i]`` where that is not None."""
    out = tokens.clone()
    for i, bpm in enumerate(bpms):
        if bpm is not None:  # the tempo's offset in the vocabulary is 0
            out[i, 0] = tempo_bin(config, torch.tensor([float(bpm)]))[0].to(out.device)
    return out


def read_attribute_tokens(config: CriticConfig, tokens: torch.Tensor) -> list[dict]:
    """``attribute_tokens`` [N, 4] back to what they say per row: bpm, mode, drums, lead family (None: unstated)."""
    sizes, offsets = _attribute_offsets(config)
    bpms, names = bin_bpms(config), [None, MODES, (False, True), config.families]
    out = []
    for row in tokens.tolist():
        said = {}
        for name, value, offset, size, values in zip(ATTRIBUTE_NAMES, row, offsets, sizes, names):
            value -= offset
            if value == size - 1:
                said[name] = None
            else:
                said[name] = round(float(bpms[value])) if name == "tempo" else values[value]
        out.append(said)
    return out


class TokenEncoder(nn.Module):
    """Coarse codec tokens [B, L, T] -> (pooled features [B, 2d], onset autocorrelation [B, lags])."""

    def __init__(self, c: CriticConfig):
        super().__init__()
        self.c = c
        d = c.d_model
        self.embed = nn.Embedding(c.num_levels * c.vocab_size, d)
        self.local = nn.Sequential(nn.Conv1d(d, d, 5, padding=2), nn.GELU(), nn.Conv1d(d, d, 5, padding=2), nn.GELU())
        self.onset = nn.Conv1d(d, 1, 3, padding=1)
        self.down = nn.Sequential(nn.Conv1d(d, d, 4, stride=2, padding=1), nn.GELU(),
                                  nn.Conv1d(d, d, 3, padding=2, dilation=2), nn.GELU(),
                                  nn.Conv1d(d, d, 4, stride=2, padding=1), nn.GELU())
        layer = nn.TransformerEncoderLayer(d, c.n_heads, 4 * d, c.dropout, batch_first=True, norm_first=True)
        self.context = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)

    def lags(self) -> torch.Tensor:
        """Beat periods in frames that the autocorrelation covers (from the fastest to the slowest bpm)."""
        low = max(1, math.floor(60.0 * self.c.frame_rate / self.c.max_bpm))
        high = math.ceil(60.0 * self.c.frame_rate / self.c.min_bpm)
        return torch.arange(low, high + 1)

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.c
        offsets = torch.arange(c.num_levels, device=codes.device)[None, :, None] * c.vocab_size
        x = self.local(self.embed(codes.long() + offsets).sum(1).transpose(1, 2))  # [B, d, T]
        onset = F.softplus(self.onset(x)[:, 0])  # [B, T]
        onset = onset - onset.mean(-1, keepdim=True)
        lags = self.lags().to(codes.device)
        T = onset.shape[-1]
        energy = (onset * onset).sum(-1).clamp(min=1e-6)
        auto = torch.stack([(onset[:, k:] * onset[:, :-k]).sum(-1) * T / (T - k) if k < T else torch.zeros_like(energy)
                            for k in lags.tolist()], -1)  # lags longer than the clip read 0
        h = self.context(self.down(x).transpose(1, 2))  # [B, T/4, d]
        return torch.cat([h.mean(1), h.amax(1)], -1), auto / energy[:, None]


class AttributeCritic(nn.Module):
    def __init__(self, config: CriticConfig):
        super().__init__()
        self.config = config
        c, d = config, config.d_model
        self.tokens = TokenEncoder(c)
        n_lags = len(self.tokens.lags())
        self.sizes = {"tempo": c.tempo_bins, "mode": len(MODES), "drums": 2, "lead_family": len(c.families)}
        self.audio_heads = nn.ModuleDict({name: nn.Linear(2 * d, n) for name, n in self.sizes.items()})
        self.tempo_from_lags = nn.Sequential(nn.Linear(n_lags, 2 * d), nn.GELU(), nn.Linear(2 * d, c.tempo_bins))
        self.text = nn.Sequential(nn.Linear(c.text_dim, 4 * d), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(4 * d, 2 * d),
                                  nn.GELU())
        # tempo and mode may go unstated: one more class each
        self.text_heads = nn.ModuleDict({name: nn.Linear(2 * d, n + (name in ("tempo", "mode")))
                                         for name, n in self.sizes.items()})

    def bin_bpms(self) -> torch.Tensor:
        """The bpm at the centre of each tempo bin (log-spaced from min_bpm to max_bpm)."""
        return bin_bpms(self.config)

    def audio_logits(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Coarse tokens [B, L, T] -> logits per attribute [B, values]."""
        pooled, auto = self.tokens(codes)
        out = {name: head(pooled) for name, head in self.audio_heads.items()}
        out["tempo"] = out["tempo"] + self.tempo_from_lags(auto)
        return out

    def text_logits(self, text_features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sentence-encoder features [N, D] -> logits per attribute [N, values (+ unstated)]."""
        h = self.text(text_features.float())
        return {name: head(h) for name, head in self.text_heads.items()}

    @torch.no_grad()
    def score(self, text_features: torch.Tensor, codes: torch.Tensor, bpm: Optional[float] = None,
              mode: Optional[str] = None) -> torch.Tensor:
        """How well each candidate shows what one prompt asks: text features [D] or [1, D],
        coarse tokens [B, L, T] -> [B] (a sum of weighted log-probabilities; higher is better).
        ``bpm`` / ``mode``: the tempo / mode asked for, where it is known (the beat grid, the key the
        LMs were given); else the text side reads one."""
        asked = self.text_logits(text_features.reshape(1, -1).to(codes.device))
        heard = self.audio_logits(codes)
        total = torch.zeros(codes.shape[0], device=codes.device)
        for name, n in self.sizes.items():
            p_text = asked[name].softmax(-1)[0]
            if name == "tempo" and bpm is not None:
                p_text = tempo_target(torch.tensor([float(bpm)]), self.bin_bpms())[0].to(codes.device)
            if name == "mode" and mode is not None:
                p_text = F.one_hot(torch.tensor(MODES.index(mode)), n).float().to(codes.device)
            stated = p_text[:n].sum()
            p_text = p_text[:n] / stated.clamp(min=1e-6)
            agree = (heard[name].softmax(-1) * p_text[None]).sum(-1).clamp(min=1e-6).log()
            total = total + self.config.weights.get(name, 1.0) * stated * agree
        return total

    @torch.no_grad()
    def asked_tokens(self, text_features: torch.Tensor, sure: float = 0.7) -> torch.Tensor:
        """What each prompt asks, as the stage LMs' ``attributes`` tokens: text features [N, D] -> [N, 4].
        Tempo and mode count as stated when the text side puts under half its probability on
        "unstated" (then the likeliest bin / mode); drums and lead family, which it has no "unstated"
        for, when their likeliest value has at least ``sure``."""
        asked = {k: v.softmax(-1) for k, v in self.text_logits(text_features.reshape(-1, self.config.text_dim)).items()}
        values = []
        for name, n in self.sizes.items():
            p = asked[name]
            stated = p[:, n] < 0.5 if p.shape[-1] > n else p.amax(-1) >= sure
            values.append(torch.where(stated, p[:, :n].argmax(-1), -1))
        return attribute_tokens(self.config, *values)

    def read(self, codes: torch.Tensor) -> list[dict]:
        """What the critic hears in each candidate: bpm, mode, drums, lead family (argmax)."""
        with torch.no_grad():
            heard = self.audio_logits(codes)
        bpms = self.bin_bpms()
        return [{"bpm": float(bpms[int(heard["tempo"][b].argmax())]), "mode": MODES[int(heard["mode"][b].argmax())],
                 "drums": bool(heard["drums"][b].argmax()),
                 "lead_family": self.config.families[int(heard["lead_family"][b].argmax())]}
                for b in range(codes.shape[0])]
