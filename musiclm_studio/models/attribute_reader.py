"""The attribute reader: what a prompt asks for, read from its text features.

From the prompt's sentence-encoder features ([D], MuLan's frozen text encoder before its
projection: the 128-d MuLan embedding keeps little of a stated bpm) it reads a distribution over
the attribute values (``vocab.attributes``): tempo bins and mode, each with one more value for
"unstated" (captions often leave them out), drums and lead family. The pipeline reads every
prompt with it once, while resolving the conditioning (``conditioning.resolver``): its
``asked_tokens`` are the ``attributes`` prefix of LMs trained with ``--attributes`` (learnt there
text-free from each clip's true values, much as MuLan's audio and text towers stand in for each
other), its tempo and mode the beat grid's and the key's defaults where the prompt's words say
none (``conditioning.prompt_reader``). The audio critic (``models.critic``) scores candidates
against its ``asked`` distributions. Trained with the critic, on the corpus's captions and what
they ask: ``musiclm-studio train critic``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..config import AttributeReaderConfig
from ..vocab.attributes import attribute_tokens, attribute_values

UNSTATED_ALLOWED = ("tempo", "mode")  # attributes a prompt may leave unstated: one more value each


class AttributeReader(nn.Module):
    """Text features [N, D] -> per attribute, logits over its values (+ unstated for tempo and mode)."""

    def __init__(self, config: AttributeReaderConfig):
        super().__init__()
        self.config = config
        c, d = config, config.d_model
        self.sizes = attribute_values(c)
        self.text = nn.Sequential(nn.Linear(c.text_dim, 4 * d), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(4 * d, 2 * d),
                                  nn.GELU())
        self.text_heads = nn.ModuleDict({name: nn.Linear(2 * d, n + (name in UNSTATED_ALLOWED))
                                         for name, n in self.sizes.items()})

    def text_logits(self, text_features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sentence-encoder features [N, D] -> logits per attribute [N, values (+ unstated)]."""
        h = self.text(text_features.float())
        return {name: head(h) for name, head in self.text_heads.items()}

    @torch.no_grad()
    def asked(self, text_features: torch.Tensor) -> dict[str, torch.Tensor]:
        """What one prompt asks: text features [D] or [1, D] -> per attribute, probabilities over its
        values [values (+ unstated)]."""
        return {name: logits.softmax(-1)[0] for name, logits in self.text_logits(text_features.reshape(1, -1)).items()}

    @torch.no_grad()
    def asked_tokens(self, text_features: torch.Tensor, sure: float = 0.7) -> torch.Tensor:
        """What each prompt asks, as the stage LMs' ``attributes`` tokens: text features [N, D] -> [N, 4].
        Tempo and mode count as stated when the reader puts under half its probability on "unstated"
        (then the likeliest bin / mode); drums and lead family, which it has no "unstated" for, when
        their likeliest value has at least ``sure``."""
        asked = {k: v.softmax(-1) for k, v in self.text_logits(text_features.reshape(-1, self.config.text_dim)).items()}
        values = []
        for name, n in self.sizes.items():
            p = asked[name]
            stated = p[:, n] < 0.5 if p.shape[-1] > n else p.amax(-1) >= sure
            values.append(torch.where(stated, p[:, :n].argmax(-1), -1))
        return attribute_tokens(self.config, *values)
