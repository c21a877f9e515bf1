"""The stage LM: one decoder-only Transformer module for MusicLM's three stages.

A stage LM predicts a target token stream of Q levels (semantic: 1, coarse: 4, fine: 8) at
its frame rate, conditioned on other token streams:

- *prefix* streams (MuLan tokens) are embedded and placed before the target sequence;
- *aligned* streams (melody, semantic, coarse tokens) are embedded and added to the target
  step of the same time, ``frames_per_token`` target frames per conditioning token;
- a prefix stream of quantizer codes (MuLan tokens) may be embedded through the quantizer's
  own code vectors and *broadcast*: its dequantized embedding is also added to every step.

The Q levels use MusicGen's delay pattern, so one Transformer step emits one token per level
(50 steps per second of audio instead of 600 for a flattened layout). Every conditioning stream
has a learned null embedding: training drops streams at random (``ConditionStream.dropout``),
which makes classifier-free guidance possible at sampling time.

``LevelwiseLM`` (``layout="levelwise"``, used for the fine levels) shares the conditioning and
embeddings but is not autoregressive in time: a bidirectional Transformer reads the whole
window's conditioning plus the levels already made and predicts every frame of the next level
at once, as SoundStorm does for all but its first level. Q passes instead of T + Q - 1 steps;
``build_stage_lm`` picks the class from the config.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConditionStream, StageLMConfig
from ..modules.sampling import guided_logits, sample
from ..modules.token_layout import apply_delay, delay_mask, revert_delay
from ..modules.transformer import Transformer
from ..vocab.musical_key import NO_KEY

StepCallback = Callable[[int, int, torch.Tensor], None]  # (step, total, tokens so far [B, Q, t])


def _stream_tokens(conditions: dict, name: str) -> Optional[torch.Tensor]:
    """A condition stream's tokens as [B, L, T] ([B, T] is one level), or None when absent."""
    tokens = conditions.get(name)
    return tokens[:, None] if tokens is not None and tokens.ndim == 2 else tokens


def codebook_fingerprint(codebook: torch.Tensor) -> list[float]:
    """A sample of a quantizer's code vectors [levels, vocab, dim]: the first four values of each
    level's first code. Two fits of a quantizer differ in it; float16 rounding does not (see
    ``same_codebook``)."""
    return [round(float(v), 6) for v in codebook[:, 0, :4].flatten()]


def same_codebook(fingerprint: list[float], codebook: torch.Tensor) -> bool:
    """Whether ``codebook`` has this fingerprint, up to float16 rounding."""
    return torch.allclose(torch.tensor(fingerprint), torch.tensor(codebook_fingerprint(codebook)), atol=1e-4, rtol=2e-3)


class ConditionEmbedding(nn.Module):
    """Embeds one conditioning stream [B, L, T] -> [B, T, D] (levels summed), or its null.

    A stream with ``codebook_dim`` embeds position p's token t as ``project(codebook[p, t])``,
    where ``codebook`` holds the code vectors of the quantizer that made the tokens (MuLan's
    RVQ, copied in by ``set_codebook``); with ``broadcast`` it also yields one vector per row
    (``pooled``): the projected sum of those code vectors, i.e. of the dequantized embedding.
    The code vectors are not saved with the LM (the pipeline fills them from its MuLan); the
    stream's ``codebook_fingerprint`` records which ones it was trained on.
    """

    def __init__(self, stream: ConditionStream, d_model: int):
        super().__init__()
        self.stream = stream
        if stream.codebook_dim:
            self.register_buffer("codebook", torch.randn(stream.fixed_length, stream.vocab_size, stream.codebook_dim)
                                 / stream.codebook_dim ** 0.5, persistent=False)
            self.project = nn.Linear(stream.codebook_dim, d_model)
        else:
            self.tokens = nn.Embedding(stream.num_levels * stream.vocab_size, d_model)
            nn.init.normal_(self.tokens.weight, 0.0, 0.02)
        self.null = nn.Parameter(torch.randn(d_model) * 0.02)
        self.positions = nn.Embedding(stream.fixed_length, d_model) if stream.fixed_length else None
        if self.positions is not None:  # small, like the token rows: a stream added to a trained LM starts quiet
            nn.init.normal_(self.positions.weight, 0.0, 0.02)
        if stream.broadcast and stream.codebook_dim:
            self.broadcast = nn.Linear(stream.codebook_dim, d_model)
        elif stream.broadcast:  # a free row per token, summed over the positions
            self.broadcast_tokens = nn.Embedding(stream.num_levels * stream.vocab_size, d_model)
            nn.init.normal_(self.broadcast_tokens.weight, 0.0, 0.02)
        if stream.broadcast:
            self.broadcast_null = nn.Parameter(torch.randn(d_model) * 0.02)

    @torch.no_grad()
    def set_codebook(self, codebook: torch.Tensor, bind: bool = True) -> None:
        """Copy the quantizer's code vectors [levels, vocab, dim] (they must fit the stream). ``bind``:
        they are the ones the LM learns or was mapped onto (the stream records their fingerprint);
        otherwise they only fill the buffer, as a pipeline does from its MuLan on loading."""
        if codebook.shape != self.codebook.shape:
            raise ValueError(f"Condition {self.stream.name!r} expects code vectors {tuple(self.codebook.shape)}, "
                             f"got {tuple(codebook.shape)}: the tokens come from a different quantizer.")
        self.codebook.copy_(codebook)
        if bind:
            self.stream.codebook_fingerprint = codebook_fingerprint(codebook)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights saved before session 47 carry the code vectors: they name the quantizer the LM knows
        saved = state_dict.pop(prefix + "codebook", None)
        if saved is not None and self.stream.codebook_dim and saved.shape == self.codebook.shape:
            self.set_codebook(saved.to(self.codebook))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def remap(self, codebook: torch.Tensor, mapping: torch.Tensor) -> None:
        """Take another quantizer's code vectors [levels, vocab, new dim] and read them through ``mapping``
        [new dim, dim], a linear map from that quantizer's space onto the one this stream was trained in:
        the map is folded into the layers that read code vectors (``x @ mapping``, then each layer). The
        spaces may differ in size (a MuLan ensemble's joined space): the stream then reads ``new dim``."""
        if mapping.shape[1] != self.stream.codebook_dim or codebook.shape[-1] != mapping.shape[0]:
            raise ValueError(f"Condition {self.stream.name!r}: a map {tuple(mapping.shape)} cannot carry code vectors "
                             f"{tuple(codebook.shape)} onto its {self.stream.codebook_dim}-d space.")
        mapping = mapping.to(self.project.weight)
        for layer in (self.project, getattr(self, "broadcast", None)):
            if layer is not None:
                layer.weight = nn.Parameter(layer.weight @ mapping.T, requires_grad=layer.weight.requires_grad)
                layer.in_features = mapping.shape[0]
        if mapping.shape[0] != self.codebook.shape[-1]:
            self.codebook = self.codebook.new_empty(codebook.shape)
            self.stream.codebook_dim = mapping.shape[0]
        self.set_codebook(codebook)

    def _offsets(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens [B, L, T] -> rows of a table holding each level's vocabulary in turn
        return tokens + torch.arange(self.stream.num_levels, device=tokens.device)[None, :, None] * self.stream.vocab_size

    def _code_vectors(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens [B, 1, P] -> code vectors [B, P, dim] (position p reads quantizer level p)
        levels = torch.arange(tokens.shape[-1], device=tokens.device)
        return self.codebook[levels, tokens[:, 0]]

    def forward(self, tokens: Optional[torch.Tensor], drop: Optional[torch.Tensor], batch: int, length: int):
        # tokens: [B, L, T] or None (stream absent: every row uses the null embedding)
        if tokens is None:
            out = self.null.expand(batch, length, -1)
        else:
            if self.stream.codebook_dim:
                out = self.project(self._code_vectors(tokens))
            else:
                out = self.tokens(self._offsets(tokens)).sum(1)  # [B, T, D]
            if drop is not None:
                out = torch.where(drop[:, None, None], self.null.expand_as(out), out)
        if self.positions is not None:
            out = out + self.positions.weight[None, : out.shape[1]]
        return out

    def pooled(self, tokens: Optional[torch.Tensor], drop: Optional[torch.Tensor], batch: int) -> torch.Tensor:
        """The broadcast vector [B, D]: projected dequantized embedding (+ training noise), or for a
        stream of free embeddings the sum of its tokens' broadcast rows; or null."""
        if tokens is None:
            return self.broadcast_null.expand(batch, -1)
        if not self.stream.codebook_dim:
            out = self.broadcast_tokens(self._offsets(tokens)).sum((1, 2))
        else:
            embedding = self._code_vectors(tokens).sum(1)  # [B, dim]
            if self.training and self.stream.noise > 0:
                embedding = embedding + self.stream.noise * torch.randn_like(embedding) / embedding.shape[-1] ** 0.5
            out = self.broadcast(embedding)
        if drop is not None:
            out = torch.where(drop[:, None], self.broadcast_null.expand_as(out), out)
        return out


def build_stage_lm(config: StageLMConfig) -> "StageLM":
    """The stage LM class the config's ``layout`` names, freshly initialised."""
    return (LevelwiseLM if config.layout == "levelwise" else StageLM)(config)


def contrast_keys(key: torch.Tensor) -> torch.Tensor:
    """The key tokens [B, ...] that key guidance pushes away from (``StageLM.guide``): "no key"."""
    return torch.full_like(key, NO_KEY)


class StageLM(nn.Module):
    """Decoder-only Transformer over [B, Q, T] tokens with prefix and aligned conditioning."""

    causal = True

    def __init__(self, config: StageLMConfig):
        super().__init__()
        self.config = config
        Q, V, D = config.num_levels, config.vocab_size, config.d_model
        self.pad_token = V  # fills the empty cells of the delay pattern
        self.token_embedding = nn.Embedding(Q * (V + 1), D)
        self.bos = nn.Parameter(torch.randn(D) * 0.02)
        self.conditions = nn.ModuleDict({s.name: ConditionEmbedding(s, D) for s in config.conditions})
        self.transformer = Transformer(D, config.n_layers, config.n_heads, config.mlp_ratio, config.dropout,
                                       causal=self.causal)
        self.head = self._make_head()
        nn.init.normal_(self.token_embedding.weight, 0.0, 0.02)

    def _make_head(self) -> nn.Module:
        c = self.config
        head = nn.Linear(c.d_model, c.num_levels * c.vocab_size, bias=False)
        nn.init.normal_(head.weight, 0.0, 0.02)
        return head

    # ---- conditioning -------------------------------------------------------------------
    def _streams(self, mode: str) -> list[ConditionStream]:
        return [s for s in self.config.conditions if s.mode == mode]

    def _check_conditions(self, conditions: dict[str, Optional[torch.Tensor]]) -> None:
        unknown = set(k for k, v in conditions.items() if v is not None) - set(self.conditions)
        if unknown:
            raise ValueError(f"{self.config.name} LM has no condition stream(s) {sorted(unknown)}; "
                             f"it takes {sorted(self.conditions)}.")

    def embed_prefix(self, conditions, drop, batch: int) -> torch.Tensor:
        """Prefix embeddings [B, P, D] (P = 0 when the LM has no prefix streams)."""
        parts = []
        for s in self._streams("prefix"):
            tokens = _stream_tokens(conditions, s.name)
            length = tokens.shape[-1] if tokens is not None else (s.fixed_length or 1)
            parts.append(self.conditions[s.name](tokens, (drop or {}).get(s.name), batch, length))
        if not parts:
            return self.bos.new_zeros(batch, 0, self.config.d_model)
        return torch.cat(parts, 1)

    def embed_aligned(self, conditions, drop, batch: int, num_steps: int) -> torch.Tensor:
        """Per-step embeddings [B, S, D] for target steps 0..S-1: aligned streams (frame s at
        step s) plus the broadcast vectors of prefix streams."""
        total = self.bos.new_zeros(batch, num_steps, self.config.d_model)
        frames = torch.arange(num_steps, device=total.device)
        for s in self._streams("aligned"):
            tokens = _stream_tokens(conditions, s.name)
            if tokens is None:
                total = total + self.conditions[s.name](None, None, batch, num_steps)
                continue
            index = (frames // s.frames_per_token).clamp(max=tokens.shape[-1] - 1)
            total = total + self.conditions[s.name](tokens[..., index], (drop or {}).get(s.name), batch, num_steps)
        for s in self._streams("prefix"):
            if s.broadcast:  # one vector per row, added to every step
                tokens = _stream_tokens(conditions, s.name)
                total = total + self.conditions[s.name].pooled(tokens, (drop or {}).get(s.name), batch)[:, None]
        return total

    def set_codebook(self, name: str, codebook: torch.Tensor, bind: bool = True) -> None:
        """Give stream ``name`` the code vectors [levels, vocab, dim] of the quantizer behind its tokens."""
        self.conditions[name].set_codebook(codebook, bind)

    def remap_condition(self, name: str, codebook: torch.Tensor, mapping: torch.Tensor) -> None:
        """Stream ``name`` reads another quantizer's code vectors, mapped onto its own space (``remap``)."""
        self.conditions[name].remap(codebook, mapping)

    def random_drop(self, batch: int, device) -> dict[str, torch.Tensor]:
        """Training-time conditioning dropout: a bool [B] per stream (True = use null)."""
        return {s.name: torch.rand(batch, device=device) < s.dropout for s in self.config.conditions}

    # ---- training -----------------------------------------------------------------------
    def _grid_inputs(self, grid: torch.Tensor) -> torch.Tensor:
        """Embeddings of delayed grid columns [B, Q, S] -> [B, S, D] (levels summed)."""
        Q, V = self.config.num_levels, self.config.vocab_size
        offsets = torch.arange(Q, device=grid.device)[None, :, None] * (V + 1)
        return self.token_embedding(grid + offsets).sum(1)

    def forward(self, tokens: torch.Tensor, conditions: dict, drop: Optional[dict] = None,
                return_loss: bool = False) -> torch.Tensor:
        """Teacher-forced logits of the delayed grid: tokens [B, Q, T] -> [B, Q, T + Q - 1, V]
        (with ``return_loss``, their cross-entropy: the training objective)."""
        self._check_conditions(conditions)
        B, Q, T = tokens.shape
        grid = apply_delay(tokens, self.pad_token)  # [B, Q, S]
        S = grid.shape[-1]
        prefix = self.embed_prefix(conditions, drop, B)  # [B, P, D]
        steps = torch.cat([self.bos.expand(B, 1, -1), self._grid_inputs(grid[:, :, :-1])], 1)
        steps = steps + self.embed_aligned(conditions, drop, B, S)  # [B, S, D]
        hidden = self.transformer(torch.cat([prefix, steps], 1))[:, prefix.shape[1]:]
        logits = self.head(hidden).view(B, S, Q, -1).permute(0, 2, 1, 3)
        return self.cross_entropy(logits, tokens) if return_loss else logits

    def loss(self, tokens: torch.Tensor, conditions: dict, condition_dropout: bool = True) -> torch.Tensor:
        """Cross-entropy over the real cells of the delay pattern (the training objective)."""
        drop = self.random_drop(tokens.shape[0], tokens.device) if condition_dropout else None
        return self(tokens, conditions, drop, return_loss=True)

    @staticmethod
    def cross_entropy(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of delayed-grid logits [B, Q, S, V] against tokens [B, Q, T]."""
        target = apply_delay(tokens, -100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1), ignore_index=-100)

    # ---- sampling -----------------------------------------------------------------------
    def _sampling_conditions(self, conditions: dict, batch: int, guidance_scale: float, steps: int,
                             negative: Optional[dict] = None, key_guidance: float = 0.0):
        """(groups, prefix [R, P, D], aligned [R, steps, D]) for sampling ``batch`` rows in ``groups`` of
        ``batch``: the conditional rows; with guidance a second group with every droppable stream at its
        null embedding, except the streams of ``negative`` (a negative prompt's {"mulan": [B, 12]}),
        which take those tokens; with ``key_guidance`` (and a key stated) a last group whose key is
        "no key" (see ``guide``)."""
        guided = guidance_scale != 1.0 and any(s.dropout > 0 for s in self.config.conditions)
        key = conditions.get("key")
        keyed = bool(key_guidance) and key is not None and bool((key != NO_KEY).any())
        groups = ["cond"] + (["uncond"] if guided else []) + (["keyless"] if keyed else [])
        rows = len(groups) * batch
        negative = negative or {}
        conds = {}
        for k, v in conditions.items():
            if v is None:
                continue
            parts = {"cond": v, "uncond": negative.get(k, v), "keyless": contrast_keys(v) if k == "key" else v}
            conds[k] = torch.cat([parts[g] for g in groups]) if len(groups) > 1 else v
        drop = None
        if guided:
            null = (torch.arange(rows, device=self.bos.device) // batch) == groups.index("uncond")
            drop = {s.name: null if s.dropout > 0 and s.name not in negative else torch.zeros_like(null)
                    for s in self.config.conditions}
        return groups, self.embed_prefix(conds, drop, rows), self.embed_aligned(conds, drop, rows, steps)

    @staticmethod
    def guide(logits: torch.Tensor, groups: list[str], guidance_scale: float, key_guidance: float) -> torch.Tensor:
        """The logits to sample from, of rows in ``groups`` (``_sampling_conditions``): the conditional
        ones, with classifier-free guidance against the unconditional rows, and key guidance
        ``key_guidance * (log p(x | key) - log p(x | no key))`` (the LMs learn "no key" from ``--unstated``
        crops), which pushes towards what the stated key changes and nothing else."""
        B = logits.shape[0] // len(groups)
        part = {g: logits[i * B: (i + 1) * B] for i, g in enumerate(groups)}
        if "keyless" not in part:
            return guided_logits(part["cond"], part["uncond"], guidance_scale)
        cond = part["cond"].log_softmax(-1)
        out = guided_logits(part["cond"], part["uncond"], guidance_scale).log_softmax(-1) if "uncond" in part else cond
        return out + key_guidance * (cond - part["keyless"].log_softmax(-1))

    def _prefill(self, x: torch.Tensor, cache, batch: int) -> torch.Tensor:
        """The last hidden state [R, D] of the prefill inputs ``x`` [R, T, D] (rows in groups of ``batch``),
        stored in ``cache``. Where the rows of each group are equal (every candidate of an edit or a
        continuation hears the same clip), one row per group is run and its keys and values copied: the
        prefill of a 5-s context costs 1 / ``batch`` of running every row."""
        rows = x.shape[0]
        grouped = x.view(rows // batch, batch, *x.shape[1:])
        if cache is None or batch == 1 or not torch.equal(grouped, grouped[:, :1].expand_as(grouped)):
            return self.transformer(x, cache)[:, -1]
        once = self.transformer.new_cache(rows // batch, x.shape[1], x.device, x.dtype)
        hidden = self.transformer(grouped[:, 0], once)[:, -1]
        cache.fill_repeated(once, batch)
        return hidden.repeat_interleave(batch, 0)

    @torch.no_grad()
    def generate(
        self,
        conditions: dict,
        num_frames: int,
        *,
        batch_size: int = 1,
        prompt: Optional[torch.Tensor] = None,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        guidance_scale: float = 1.0,
        generator: Optional[torch.Generator] = None,
        callback: Optional[StepCallback] = None,
        use_cache: bool = True,
        negative: Optional[dict] = None,
        key_guidance: float = 0.0,
    ) -> torch.Tensor:
        """Sample [B, Q, num_frames] tokens; ``prompt`` [B, Q, Tp] forces the first Tp frames;
        ``negative`` conditions guidance's unconditional rows, ``key_guidance`` the key's (``guide``)."""
        self._check_conditions(conditions)
        Q, B = self.config.num_levels, batch_size
        S = num_frames + Q - 1
        device = self.bos.device
        Tp = 0 if prompt is None else prompt.shape[-1]
        grid = torch.full((B, Q, S), self.pad_token, dtype=torch.long, device=device)
        if Tp:
            grid[:, :, : Tp + Q - 1] = torch.where(delay_mask(Q, Tp, device), apply_delay(prompt, self.pad_token), self.pad_token)
        real = delay_mask(Q, num_frames, device)  # [Q, S]
        forced = delay_mask(Q, Tp, device) if Tp else None

        # 1. conditioning, in row groups for guidance (``_sampling_conditions``: conditional, unconditional, keyless)
        groups, prefix, aligned = self._sampling_conditions(conditions, B, guidance_scale, S, negative, key_guidance)
        rows, P = prefix.shape[0], prefix.shape[1]
        cache = self.transformer.new_cache(rows, P + S, device, prefix.dtype) if use_cache else None

        def step_inputs(start: int, end: int) -> torch.Tensor:
            # inputs of steps start..end-1: BOS or the previous column, plus aligned conditioning
            prev = self._grid_inputs(grid[:, :, max(start - 1, 0): end - 1].repeat(rows // B, 1, 1))
            if start == 0:
                prev = torch.cat([self.bos.expand(rows, 1, -1), prev], 1)
            return prev + aligned[:, start:end]

        # 2. prefill the prefix and every fully forced step in one pass
        first = min(Tp, S - 1) if Tp else 0
        hidden = self._prefill(torch.cat([prefix, step_inputs(0, first + 1)], 1), cache, B)
        for s in range(first, S):
            # 3. logits of step s, guided when asked
            logits = self.head(hidden).view(rows, Q, -1)
            if len(groups) > 1:
                logits = self.guide(logits, groups, guidance_scale, key_guidance)
            # 4. sample every level, keep forced cells, pad cells outside the pattern
            tokens = sample(logits, temperature, top_k, top_p, generator)  # [B, Q]
            if forced is not None and s < forced.shape[1]:
                tokens = torch.where(forced[:, s][None], grid[:, :, s], tokens)
            grid[:, :, s] = torch.where(real[:, s][None], tokens, self.pad_token)
            if callback is not None:
                done = max(0, s - Q + 2)
                callback(s + 1, S, revert_delay(grid[:, :, : done + Q - 1]) if done else grid[:, :, :0])
            if s == S - 1:
                break
            # 5. feed column s and step s+1's conditioning (with the cache: one token; without: all)
            if use_cache:
                hidden = self.transformer(step_inputs(s + 1, s + 2), cache)[:, -1]
            else:
                hidden = self.transformer(torch.cat([prefix, step_inputs(0, s + 2)], 1))[:, -1]
        return revert_delay(grid)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class LevelwiseLM(StageLM):
    """One bidirectional pass per level: level q of every frame from the conditioning and levels < q.

    Frame t's input is its aligned conditioning + the embeddings of its tokens at levels < q +
    a learned vector naming level q (prefix streams, if any, come first as in ``StageLM``). Each
    level has its own output head. Training picks a random level per row; sampling runs levels
    0..Q-1 in turn, drawing every frame of a level at once. A prompt's frames are kept at every
    level and, being in the window, are heard by every pass.
    """

    causal = False

    def __init__(self, config: StageLMConfig):
        super().__init__(config)
        self.level_query = nn.Parameter(torch.randn(config.num_levels, config.d_model) * 0.02)

    def _make_head(self) -> nn.Module:
        c = self.config
        heads = nn.ModuleList(nn.Linear(c.d_model, c.vocab_size, bias=False) for _ in range(c.num_levels))
        for head in heads:
            nn.init.normal_(head.weight, 0.0, 0.02)
        return heads

    def _hidden(self, tokens: torch.Tensor, levels: torch.Tensor, prefix: torch.Tensor, aligned: torch.Tensor):
        """tokens [B, Q, T] (only levels below each row's level are read), levels [B] -> [B, T, D]."""
        Q, V = self.config.num_levels, self.config.vocab_size
        offsets = torch.arange(Q, device=tokens.device)[None, :, None] * (V + 1)
        below = (torch.arange(Q, device=tokens.device)[None] < levels[:, None]).to(aligned.dtype)  # [B, Q]
        known = (self.token_embedding(tokens + offsets) * below[:, :, None, None]).sum(1)  # [B, T, D]
        x = aligned + known + self.level_query[levels][:, None]
        return self.transformer(torch.cat([prefix, x], 1))[:, prefix.shape[1]:]

    def _logits(self, hidden: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """hidden [B, T, D] -> logits [B, T, V] through each row's own level head."""
        out = None
        for q in levels.unique().tolist():
            rows = levels == q
            logits = self.head[q](hidden[rows])
            out = logits.new_zeros(*hidden.shape[:2], logits.shape[-1]) if out is None else out
            out[rows] = logits
        return out

    def forward(self, tokens: torch.Tensor, conditions: dict, drop: Optional[dict] = None,
                return_loss: bool = False, levels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens [B, Q, T] -> logits [B, T, V] of one level per row (``levels`` [B], random when
        not given); with ``return_loss``, their cross-entropy against that level's tokens."""
        self._check_conditions(conditions)
        B, Q, T = tokens.shape
        if levels is None:
            levels = torch.randint(0, Q, (B,), device=tokens.device)
        prefix = self.embed_prefix(conditions, drop, B)
        logits = self._logits(self._hidden(tokens, levels, prefix, self.embed_aligned(conditions, drop, B, T)), levels)
        if not return_loss:
            return logits
        target = tokens[torch.arange(B, device=tokens.device), levels]  # [B, T]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))

    def loss(self, tokens: torch.Tensor, conditions: dict, condition_dropout: bool = True) -> torch.Tensor:
        """Training: one random level per row. Evaluation (``condition_dropout=False``): the mean
        over every level, so that validation figures do not depend on a draw."""
        if condition_dropout:
            return self(tokens, conditions, self.random_drop(tokens.shape[0], tokens.device), return_loss=True)
        B, Q = tokens.shape[:2]
        return sum(self(tokens, conditions, None, True, torch.full((B,), q, device=tokens.device))
                   for q in range(Q)) / Q

    @torch.no_grad()
    def generate(
        self,
        conditions: dict,
        num_frames: int,
        *,
        batch_size: int = 1,
        prompt: Optional[torch.Tensor] = None,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        guidance_scale: float = 1.0,
        generator: Optional[torch.Generator] = None,
        callback: Optional[StepCallback] = None,
        use_cache: bool = True,  # no cache to use: each pass reads the whole window
        negative: Optional[dict] = None,
        key_guidance: float = 0.0,
    ) -> torch.Tensor:
        """Sample [B, Q, num_frames] tokens level by level; ``prompt`` [B, Q, Tp] forces the first Tp frames."""
        self._check_conditions(conditions)
        Q, B, T = self.config.num_levels, batch_size, num_frames
        device = self.bos.device
        tokens = torch.zeros(B, Q, T, dtype=torch.long, device=device)
        Tp = 0 if prompt is None else min(prompt.shape[-1], T)
        if Tp:
            tokens[:, :, :Tp] = prompt[:, :, :Tp]
        groups, prefix, aligned = self._sampling_conditions(conditions, B, guidance_scale, T, negative, key_guidance)
        rows = prefix.shape[0]
        for q in range(Q):
            levels = torch.full((rows,), q, dtype=torch.long, device=device)
            logits = self._logits(self._hidden(tokens.repeat(rows // B, 1, 1), levels, prefix, aligned), levels)
            if len(groups) > 1:
                logits = self.guide(logits, groups, guidance_scale, key_guidance)
            tokens[:, q, Tp:] = sample(logits[:, Tp:], temperature, top_k, top_p, generator)
            if callback is not None:
                callback(q + 1, Q, tokens if q == Q - 1 else tokens[..., :0])
        return tokens
