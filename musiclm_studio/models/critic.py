"""The attribute critic: which of several candidates shows what the prompt asks for.

MuLan's single cosine ranks candidates by everything at once, and on generated audio it
hardly separates the right tempo or drums from the wrong (see the model card). The critic
reads four attributes separately from the coarse codec tokens of a candidate ([B, 4, T] at
50 Hz, before the fine stage and before any audio exists): a distribution over tempo bins
(log-spaced bpm), mode (major / minor), drums (no / yes) and lead instrument family
(``vocab.attributes``). Tempo goes through a learned onset channel and its autocorrelation
(beat periods as lags), the rest through pooled convolution + Transformer features.

``score`` is, per attribute, the log-probability that the candidate's value is the asked one
(sum over values of p_asked * p_audio), where p_asked is what the attribute reader
(``models.attribute_reader``) reads from the prompt, weighted by how surely the prompt states it
and by how well the critic reads that attribute on validation clips (``CriticConfig.weights``:
mode, which the codec tokens hardly keep, counts for little). The pipeline samples candidates as
one batch (nearly free: the LMs are step-overhead bound on a CPU), ranks them by this score after
the coarse stage (``candidates.rank``), and runs the fine stage and the codec only
for the chosen one. Trained on a token cache and its corpus's labels, with the reader:
``musiclm-studio train critic``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import CriticConfig
from ..vocab.attributes import attribute_values, bin_bpms, tempo_target
from ..vocab.musical_key import MODES


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
    """Coarse tokens [B, L, T] -> per attribute, logits over the values a candidate shows; scores them
    against what a prompt asks."""

    def __init__(self, config: CriticConfig):
        super().__init__()
        self.config = config
        c, d = config, config.d_model
        self.tokens = TokenEncoder(c)
        n_lags = len(self.tokens.lags())
        self.sizes = attribute_values(c)
        self.audio_heads = nn.ModuleDict({name: nn.Linear(2 * d, n) for name, n in self.sizes.items()})
        self.tempo_from_lags = nn.Sequential(nn.Linear(n_lags, 2 * d), nn.GELU(), nn.Linear(2 * d, c.tempo_bins))

    def bin_bpms(self) -> torch.Tensor:
        """The bpm at the centre of each tempo bin (log-spaced from min_bpm to max_bpm)."""
        return bin_bpms(self.config)

    def audio_logits(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Coarse tokens [B, L, T] -> logits per attribute [B, values]."""
        pooled, auto = self.tokens(codes)
        out = {name: head(pooled) for name, head in self.audio_heads.items()}
        out["tempo"] = out["tempo"] + self.tempo_from_lags(auto)
        return out

    @torch.no_grad()
    def score(self, asked: dict[str, torch.Tensor], codes: torch.Tensor, bpm: Optional[float] = None,
              mode: Optional[str] = None) -> torch.Tensor:
        """How well each candidate shows what one prompt asks: ``asked`` (``AttributeReader.asked``: per
        attribute, probabilities over its values, + unstated for tempo and mode), coarse tokens [B, L, T]
        -> [B] (a sum of weighted log-probabilities; higher is better). ``bpm`` / ``mode``: the tempo /
        mode asked for, where it is known (the beat grid, the key the LMs were given), in place of the
        reader's."""
        heard = self.audio_logits(codes)
        total = torch.zeros(codes.shape[0], device=codes.device)
        for name, n in self.sizes.items():
            p_text = asked[name].to(codes.device)
            if name == "tempo" and bpm is not None:
                p_text = tempo_target(torch.tensor([float(bpm)]), self.bin_bpms())[0].to(codes.device)
            if name == "mode" and mode is not None:
                p_text = F.one_hot(torch.tensor(MODES.index(mode)), n).float().to(codes.device)
            stated = p_text[:n].sum()
            p_text = p_text[:n] / stated.clamp(min=1e-6)
            agree = (heard[name].softmax(-1) * p_text[None]).sum(-1).clamp(min=1e-6).log()
            total = total + self.config.weights.get(name, 1.0) * stated * agree
        return total

    def read(self, codes: torch.Tensor) -> list[dict]:
        """What the critic hears in each candidate: bpm, mode, drums, lead family (argmax)."""
        with torch.no_grad():
            heard = self.audio_logits(codes)
        bpms = self.bin_bpms()
        return [{"bpm": float(bpms[int(heard["tempo"][b].argmax())]), "mode": MODES[int(heard["mode"][b].argmax())],
                 "drums": bool(heard["drums"][b].argmax()),
                 "lead_family": self.config.families[int(heard["lead_family"][b].argmax())]}
                for b in range(codes.shape[0])]
