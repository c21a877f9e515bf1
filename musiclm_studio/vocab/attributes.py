"""The attributes a prompt asks for and a clip shows: tempo, mode, drums, lead instrument family.

One vocabulary for both sides of the attribute critic and for the stage LMs that hear it: tempo
in log-spaced bins from ``min_bpm`` to ``max_bpm`` (``bin_bpms``), the mode (``MODES``), drums
(no / yes) and the lead family (``families``). The attribute reader (``models.attribute_reader``)
reads what a prompt asks over these values, the audio critic (``models.critic``) what a
candidate's coarse tokens show. LMs trained with ``--attributes`` hear them as a prefix stream of
four ``attribute_tokens`` (one offset per attribute, each with one more value for "unstated").
``config`` below is an ``AttributeReaderConfig`` or a ``CriticConfig`` (both ``AttributeValues``: the
bins, the bpm range and the families; the pipeline checks that they agree).
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from .musical_key import MODES

ATTRIBUTE_NAMES = ("tempo", "mode", "drums", "lead_family")
TEMPO_SIGMA = 0.05  # std of the soft bpm target, in log-bpm (about 5 %)


def attribute_values(config) -> dict[str, int]:
    """How many values each attribute takes (without "unstated")."""
    return {"tempo": config.tempo_bins, "mode": len(MODES), "drums": 2, "lead_family": len(config.families)}


def bin_bpms(config) -> torch.Tensor:
    """The bpm at the centre of each tempo bin (log-spaced from min_bpm to max_bpm)."""
    return torch.exp(torch.linspace(math.log(config.min_bpm), math.log(config.max_bpm), config.tempo_bins))


def tempo_target(bpm: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Soft targets over tempo bins [N, bins] for bpms [N] (a Gaussian in log-bpm)."""
    d = (centres.log()[None] - bpm.float().log()[:, None]) / TEMPO_SIGMA
    t = torch.exp(-0.5 * d ** 2)
    return t / t.sum(-1, keepdim=True)


def tempo_bin(config, bpm: torch.Tensor) -> torch.Tensor:
    """The nearest tempo bin of each bpm [N] (``bin_bpms``); -1 where the bpm is <= 0 (unstated)."""
    span = math.log(config.max_bpm) - math.log(config.min_bpm)
    index = ((bpm.float().clamp(min=1e-6).log() - math.log(config.min_bpm)) / span * (config.tempo_bins - 1)).round()
    return torch.where(bpm > 0, index.clamp(0, config.tempo_bins - 1).long(), -1)


def _attribute_offsets(config) -> tuple[list[int], list[int]]:
    """(values per attribute, the first token of each) in the ``attributes`` vocabulary."""
    sizes = [n + 1 for n in attribute_values(config).values()]  # each with "unstated"
    return sizes, [sum(sizes[:i]) for i in range(len(sizes))]


def attribute_tokens(config, tempo: torch.Tensor, mode: torch.Tensor, drums: torch.Tensor,
                     family: torch.Tensor) -> torch.Tensor:
    """The stage LMs' ``attributes`` tokens [N, 4] from the tempo bin (``tempo_bin``), the index of each
    mode (``MODES``), drums (0 / 1) and lead family (index into ``config.families``), all [N]; an index
    < 0 is "unstated". One vocabulary, an offset per attribute."""
    sizes, offsets = _attribute_offsets(config)
    values = [v.long() for v in (tempo, mode, drums, family)]
    out = torch.stack([torch.where(v < 0, n - 1, v) for v, n in zip(values, sizes)], -1)
    return out + torch.tensor(offsets, device=out.device)


def set_asked_tempo(config, tokens: torch.Tensor, bpms: list[Optional[float]]) -> torch.Tensor:
    """``attribute_tokens`` [N, 4] with row i's tempo set to the bin of ``bpms[i]`` where that is not None."""
    out = tokens.clone()
    for i, bpm in enumerate(bpms):
        if bpm is not None:  # the tempo's offset in the vocabulary is 0
            out[i, 0] = tempo_bin(config, torch.tensor([float(bpm)]))[0].to(out.device)
    return out


def read_attribute_tokens(config, tokens: torch.Tensor) -> list[dict]:
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
