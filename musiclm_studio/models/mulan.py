"""MuLan: a joint text-audio embedding, and the RVQ that turns it into 12 conditioning tokens.

Text tower: a frozen pretrained sentence encoder (``models/text.py``) + a trained projection; with
``text_facts``, plus a linear map of the key and tempo the prompt states, read by the prompt reader's
rules (``descriptors.fact_vectors``: a pooled sentence embedding barely tells 'in A minor' from 'in
A major', or 96 bpm from 140).
Audio tower: log-mel frames at 25 Hz (with ``chroma``, also a 12-bin pitch-class chroma, since
64 mels cannot resolve the semitones that tell major from minor) -> a bidirectional Transformer
-> attention pooling -> projection; with ``key_branch``, plus the 24 keys' probabilities from the
clip's pooled chroma (rolled major and minor profiles, trained) mapped into the embedding (with
``key_bass``, the bass's pitch classes too: the relative keys E minor and G major share their notes,
not their bass); with
``musicnn``, plus a linear map of frozen pretrained music taggers' pooled features (``models/musicnn.py``:
they heard real recordings, so they tell instruments and genres apart in sound worlds ours never
render). Both
land on the unit sphere in ``embed_dim`` dimensions, trained contrastively (InfoNCE with a learned
temperature). An RVQ of 12 x 1024 fitted on *audio* embeddings makes the MuLan tokens; at inference
the text embedding goes through the same RVQ, which is the trick that lets MusicLM train its LMs on
audio alone. ``MuLanEnsemble`` reads trained MuLans as one (``musiclm-studio mulan ensemble``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MuLanConfig
from ..modules.rvq import ResidualVectorQuantizer
from ..modules.transformer import Transformer
from .codec import mel_filterbank
from .descriptors import (FACT_DIM, KEY_PROFILES, DescriptorWeights, agreement, fact_vectors, on_tonics, read_audio,
                          read_texts, standardised)
from .musicnn import ASSETS, FEATURES, TAGS, Musicnn
from .text import TextEncoder, check_prompts


def chroma_filterbank(sample_rate: int, n_fft: int, fmin: float = 100.0, fmax: float = 4000.0,
                      width: float = 0.5) -> torch.Tensor:
    """[12, n_fft // 2 + 1] weights folding STFT bins onto pitch classes (C = 0).

    Each bin between ``fmin`` and ``fmax`` goes to the pitch classes within ``width`` semitones of
    its frequency with a raised-cosine weight (lower bins are too coarse at this n_fft).
    """
    freqs = torch.arange(n_fft // 2 + 1) * sample_rate / n_fft
    inside = (freqs >= fmin) & (freqs <= fmax)
    pitch = 12 * torch.log2(freqs.clamp(min=1.0) / 440.0) + 69  # MIDI number, fractional
    distance = (pitch[None] - torch.arange(12)[:, None] + 6) % 12 - 6  # to each pitch class, in [-6, 6)
    weights = torch.where(distance.abs() < width, 0.5 + 0.5 * torch.cos(torch.pi * distance / width), 0.0)
    return weights * inside[None]


class AudioTower(nn.Module):
    """Log-mel [B, n_mels, T] at 25 Hz (+ chroma [B, 12, T]) -> hidden states [B, T, D], pooled [B, E]."""

    def __init__(self, c: MuLanConfig):
        super().__init__()
        self.hop = c.sample_rate // 25
        self.n_fft = 4 * self.hop
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer("mel_basis", mel_filterbank(c.sample_rate, self.n_fft, c.n_mels), persistent=False)
        self.stem = nn.Sequential(nn.Conv1d(c.n_mels, c.audio_dim, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(c.audio_dim, c.audio_dim, 3, padding=1))
        self.chroma_in = None
        if c.chroma or c.key_branch:
            self.register_buffer("chroma_basis", chroma_filterbank(c.sample_rate, self.n_fft), persistent=False)
        if c.chroma:
            # added to the first stem layer; zero at first, so a tower trained without chroma keeps its function
            self.chroma_in = nn.Conv1d(12, c.audio_dim, 3, padding=1)
            nn.init.zeros_(self.chroma_in.weight)
            nn.init.zeros_(self.chroma_in.bias)
        self.encoder = Transformer(c.audio_dim, c.audio_layers, c.audio_heads, causal=False)
        self.pool = nn.Linear(c.audio_dim, 1)
        self.proj = nn.Linear(c.audio_dim, c.embed_dim)
        self.key_profiles = self.key_out = None
        if c.key_branch:
            # a major and a minor profile over the degrees above the tonic, matched on the 12 tonics: 24 key
            # scores of the clip's pooled chroma (Krumhansl-Schmuckler, learnt end to end, started from the
            # descriptor score's fitted treble profiles), mapped into the embedding at ``key_scale``
            self.key_profiles = nn.Parameter(torch.tensor(KEY_PROFILES["treble"]))
            self.key_out = nn.Linear(24, c.embed_dim)
            self.key_scale = c.key_scale
        self.bass_profiles = self.key_bias = None
        if c.key_bass:
            if not c.key_branch:
                raise ValueError("key_bass adds the bass to the key branch: set key_branch too (train mulan --key-branch).")
            # the bass's energy per pitch class (C1-B2) from 0.64-s windows (semitones are 2 Hz apart there),
            # matched on the 12 tonics with the analysers' bass profiles (``descriptors.read_audio``), learnt on
            self.register_buffer("bass_window", torch.hann_window(4 * self.n_fft), persistent=False)
            self.register_buffer("bass_basis", chroma_filterbank(c.sample_rate, 4 * self.n_fft, fmin=30.0, fmax=125.0),
                                 persistent=False)
            self.bass_profiles = nn.Parameter(torch.tensor(KEY_PROFILES["bass"]))
            self.key_bias = nn.Parameter(torch.tensor(KEY_PROFILES["bias"]))
        self.taggers = self.tag_out = None
        if c.musicnn:  # frozen: their weights are buffers, loaded by ``load_taggers`` and saved with the tower
            names = c.musicnn.split("+")
            if unknown := [n for n in names if n not in TAGS]:
                raise ValueError(f"Unknown musicnn tagger(s) {', '.join(unknown)} in musicnn={c.musicnn!r}: name "
                                 f"{' or '.join(TAGS)}, or both joined by '+' (e.g. 'MTT+MSD').")
            self.taggers = nn.ModuleList(Musicnn(c.sample_rate) for _ in names)
            self.tagger_names = names
            # the features' standardisation: their mean and spread over the training clips, set by ``train mulan``
            self.register_buffer("tag_mean", torch.zeros(FEATURES * len(names)))
            self.register_buffer("tag_std", torch.ones(FEATURES * len(names)))
            self.tag_out = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURES * len(names), c.embed_dim))

    def load_taggers(self, folder: str | None = None) -> None:
        """Load the pretrained musicnn taggers (``assets/musicnn``) into the branch."""
        for name, tagger in zip(self.tagger_names, self.taggers):
            tagger.load_state_dict(Musicnn.pretrained(name, folder=folder or ASSETS).state_dict())

    @torch.no_grad()
    def tag_features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, S] -> the taggers' pooled features, concatenated [B, 1506 x taggers]."""
        return torch.cat([tagger(audio) for tagger in self.taggers], -1)

    @torch.no_grad()
    def tag_windows(self, audio: torch.Tensor, window: int, stride: int) -> torch.Tensor:
        """audio [B, S] -> the taggers' pooled features of its windows of ``window`` samples every ``stride``
        [B, N, 1506 x taggers]. The taggers run once over the whole clip, in segments of the largest length
        that divides both, and each window combines its segments, as training crops do (``TagSegments``)."""
        segment = math.gcd(window, stride)
        count = (audio.shape[-1] - window) // stride + 1
        first = [n * stride // segment for n in range(count)]
        per_window = window // segment
        out = []
        for tagger in self.taggers:
            maxes, means = tagger.segments(audio, segment)  # [B, n, 753] each
            out.append(torch.stack([tagger.combine(maxes[:, f: f + per_window], means[:, f: f + per_window])
                                    for f in first], 1))
        return torch.cat(out, -1)

    def power(self, audio: torch.Tensor, window: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, S] -> power spectrogram [B, n_fft // 2 + 1, ceil(S / hop)] with ``window`` (its length
        is n_fft, the hop a quarter of it; default the tower's own, ``n_fft`` and ``hop``)."""
        window = self.window if window is None else window
        n_fft = window.numel()
        hop = n_fft // 4
        pad = (n_fft - hop) // 2
        padded = F.pad(audio, (pad, pad + (-audio.shape[-1] % hop)))
        spec = torch.stft(padded, n_fft, hop, window=window, center=False, return_complex=True)
        return spec.abs().pow(2)

    def log_mel(self, power: torch.Tensor) -> torch.Tensor:
        """Power spectrogram -> standardised log-mel [B, n_mels, T]."""
        return (torch.log(self.mel_basis @ power + 1e-6) + 5.0) / 5.0  # rough standardisation

    def chroma(self, power: torch.Tensor) -> torch.Tensor:
        """Log of each pitch class's share of the frame's chroma energy (12 x 1/12 = uniform) [B, 12, T]."""
        chroma = self.chroma_basis @ power
        return torch.log(12 * chroma / (chroma.sum(1, keepdim=True) + 1e-8) + 0.05)

    def hidden_states(self, audio: torch.Tensor, power: torch.Tensor | None = None) -> torch.Tensor:
        power = self.power(audio) if power is None else power
        x = self.stem[0](self.log_mel(power))
        if self.chroma_in is not None:
            x = x + self.chroma_in(self.chroma(power))
        return self.encoder(self.stem[2](self.stem[1](x)).transpose(1, 2))  # [B, T, D]

    def bass_share(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, S] -> each pitch class's share of the bass's energy (C1-B2) [B, 12], summing to 1."""
        energy = (self.bass_basis @ self.power(audio, self.bass_window)).sum(-1)
        return energy / (energy.sum(-1, keepdim=True) + 1e-8)

    def key_scores(self, power: torch.Tensor, audio: torch.Tensor | None = None) -> torch.Tensor:
        """Log-probabilities of the 24 keys (major C..B, then minor C..B) [B, 24] from the pooled chroma
        (and with ``key_bass``, the bass's pitch classes of ``audio``)."""
        share = (self.chroma_basis @ power).sum(-1)  # [B, 12]
        on_tonic = on_tonics(standardised(share / (share.sum(-1, keepdim=True) + 1e-8)))  # [B, 12 tonics, 12 degrees]
        scores = (on_tonic @ self.key_profiles.T).transpose(1, 2)  # [B, 2 modes, 12 tonics]
        if self.bass_profiles is not None:
            bass = on_tonics(self.bass_share(audio.float()))
            scores = scores + (bass @ self.bass_profiles.T).transpose(1, 2) + self.key_bias[None, :, None]
        return scores.flatten(1).log_softmax(-1)  # [B, 2 modes x 12]

    def forward(self, audio: torch.Tensor, tagged: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, S] -> unit embeddings [B, E]; ``tagged``: the taggers' features if already computed."""
        power = self.power(audio)
        hidden = self.hidden_states(audio, power)
        weights = self.pool(hidden).softmax(1)  # [B, T, 1] attention pooling
        out = self.proj((weights * hidden).sum(1))
        if self.key_out is not None:  # the key's probabilities, so the map can give each key a direction of its own
            out = out + self.key_scale * self.key_out(self.key_scores(power.float(), audio).exp())
        if self.tag_out is not None:
            tagged = self.tag_features(audio) if tagged is None else tagged
            out = out + self.tag_out((tagged.float() - self.tag_mean) / self.tag_std)
        return F.normalize(out, dim=-1)


class MuLan(nn.Module):
    """Text and audio towers in one space, plus the RVQ that tokenizes the embeddings."""

    def __init__(self, config: MuLanConfig):
        super().__init__()
        if config.members and type(self) is MuLan:
            raise ValueError("This MuLan config is an ensemble of trained MuLans: build it with build_mulan (an "
                             "ensemble is made by `musiclm-studio mulan ensemble`, not trained).")
        self.config = config
        self.text_projection = nn.Sequential(nn.Linear(config.text_dim, config.text_dim), nn.GELU(),
                                             nn.Linear(config.text_dim, config.embed_dim))
        self.fact_out = nn.Linear(FACT_DIM, config.embed_dim) if config.text_facts else None
        self.audio_tower = AudioTower(config)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.quantizer = ResidualVectorQuantizer(config.embed_dim, config.num_quantizers, config.codebook_size)
        self._text_encoder = None  # loaded on first use; not part of the saved state

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            self._text_encoder = TextEncoder(self.config.text_model, self.config.text_max_tokens)
        device = self.logit_scale.device
        if next(self._text_encoder.model.parameters()).device != device:
            self._text_encoder.model.to(device)
        return self._text_encoder

    def text_features(self, texts: list[str]) -> torch.Tensor:
        """Frozen sentence-encoder features [B, text_dim] (cacheable for training)."""
        return self.text_encoder(check_prompts(texts))

    def text_inputs(self, texts: list[str], features: torch.Tensor) -> torch.Tensor:
        """The sentence encoder's ``features`` [B, text_dim] of ``texts``, with the facts they state
        appended where this MuLan reads them (``text_facts``): what ``embed_text`` projects."""
        if self.fact_out is None or features.shape[-1] != self.config.text_dim:
            return features
        if len(texts) != features.shape[0]:
            raise ValueError(f"This MuLan reads the key and tempo a text states: pass the {features.shape[0]} texts "
                             "with their features.")
        facts = torch.from_numpy(fact_vectors(read_texts(texts))).to(features)
        return torch.cat([features, facts], -1)

    def embed_text(self, texts: list[str] | str, features: torch.Tensor | None = None) -> torch.Tensor:
        """Prompts (or precomputed text features, or ``text_inputs``) -> unit embeddings [B, embed_dim]."""
        texts = [texts] if isinstance(texts, str) else texts
        features = self.text_features(texts) if features is None else features
        features = self.text_inputs(texts, features)
        out = self.text_projection(features[..., : self.config.text_dim])
        if self.fact_out is not None:
            out = out + self.config.facts_scale * self.fact_out(features[..., self.config.text_dim:])
        return F.normalize(out, dim=-1)

    def embed_audio(self, audio: torch.Tensor, tagged: torch.Tensor | None = None) -> torch.Tensor:
        """audio [B, S] at ``sample_rate`` -> unit embeddings [B, embed_dim].

        Clips longer than ``window_s`` are embedded in windows every ``stride_s`` and averaged (the musicnn
        branch's taggers run once over the whole clip: ``AudioTower.tag_windows``).
        ``tagged``: the musicnn branch's features of clips no longer than a window, if already computed.
        """
        if audio.ndim == 1:
            audio = audio[None]
        if audio.shape[-1] == 0:
            raise ValueError("Cannot embed empty audio.")
        window = int(self.config.window_s * self.config.sample_rate)
        if audio.shape[-1] <= window:
            return self._embed_windows(audio, tagged, 1)
        stride = int(self.config.stride_s * self.config.sample_rate)
        starts = list(range(0, audio.shape[-1] - window + 1, stride))
        windows = torch.stack([audio[:, s: s + window] for s in starts], 1).flatten(0, 1)  # [B * N, W]
        tagger = self._tagger()
        tagged = None if tagger is None else tagger.tag_windows(audio, window, stride).flatten(0, 1)
        return self._embed_windows(windows, tagged, len(starts))

    def _tagger(self) -> "AudioTower | None":
        """The tower whose musicnn taggers hear a clip's windows in one pass (None: no tagger branch)."""
        return None if self.audio_tower.taggers is None else self.audio_tower

    def _embed_windows(self, windows: torch.Tensor, tagged: torch.Tensor | None, count: int) -> torch.Tensor:
        """``count`` windows a clip [B * count, W] (and their taggers' features, if computed) -> unit
        embeddings [B, E]: the tower's embedding of each window, averaged per clip."""
        emb = self.audio_tower(windows, tagged)
        return emb if count == 1 else F.normalize(emb.view(-1, count, emb.shape[-1]).mean(1), dim=-1)

    def forward(self, audio: torch.Tensor, text_features: torch.Tensor, hard_features: torch.Tensor | None = None,
                tagged: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Training pass: audio crops [B, S], text inputs [B, D] and optional counterfactual
        text inputs [B, K, D] (``text_inputs``; and the crops' musicnn features, if cached) -> embeddings [B, E],
        [B, E], [B, K, E] (or None)."""
        hard = None
        if hard_features is not None:
            hard = self.embed_text([], features=hard_features.flatten(0, 1)).view(*hard_features.shape[:2], -1)
        return self.audio_tower(audio, tagged), self.embed_text([], features=text_features), hard

    def contrastive_loss(self, audio_emb: torch.Tensor, text_emb: torch.Tensor,
                         hard_emb: torch.Tensor | None = None, hard_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric InfoNCE over a batch of matching (audio, text) pairs.

        ``hard_emb`` [B, K, E]: per clip, K texts that are false of it in one fact (counterfactual
        captions), extra negatives for its audio; ``hard_mask`` [B, K] marks the ones to use.
        """
        scale = self.logit_scale.exp().clamp(max=100)
        logits = scale * audio_emb @ text_emb.T  # [B, B]
        target = torch.arange(logits.shape[0], device=logits.device)
        audio_to_text = logits
        if hard_emb is not None:
            hard = scale * (audio_emb[:, None] * hard_emb).sum(-1)  # [B, K]
            if hard_mask is not None:
                hard = hard.masked_fill(~hard_mask, float("-inf"))
            audio_to_text = torch.cat([logits, hard], 1)
        return 0.5 * (F.cross_entropy(audio_to_text, target) + F.cross_entropy(logits.T, target))

    def code_vectors(self) -> torch.Tensor:
        """The RVQ's code vectors [num_quantizers, codebook_size, embed_dim] (what the LMs embed)."""
        return torch.stack([level.codebook for level in self.quantizer.levels])

    @torch.no_grad()
    def tokenize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Unit embeddings [B, E] -> MuLan tokens [B, num_quantizers]."""
        return self.quantizer.encode(embeddings[:, :, None])[:, :, 0]

    @property
    def descriptor_weights(self) -> DescriptorWeights:
        """This MuLan's weights of the rule-read key and tempo in ``similarity`` (its config's)."""
        return DescriptorWeights(self.config.descriptor_key, self.config.descriptor_tempo)

    @torch.no_grad()
    def similarity(self, texts: list[str] | str, audio: torch.Tensor, descriptors: bool = True) -> torch.Tensor:
        """[N texts, M clips]: how well each prompt describes each clip (audio [M, S] at ``sample_rate``),
        for ranking clips by a prompt: the learned cosine, plus the key and tempo the prompt states
        matched against what the analysers hear, at ``descriptor_weights`` (``models/descriptors.py``;
        ``descriptors=False``: the cosine alone). The descriptor score is not an embedding: the MuLan
        tokens never carry it."""
        texts = [texts] if isinstance(texts, str) else texts
        audio = audio[None] if audio.ndim == 1 else audio
        cosine = (self.embed_text(texts) @ self.embed_audio(audio).T).cpu()
        if not descriptors or self.descriptor_weights.off:
            return cosine
        heard = read_audio(audio.cpu(), self.config.sample_rate)
        return cosine + agreement(read_texts(texts), heard, self.descriptor_weights)

    @torch.no_grad()
    def score(self, texts: list[str] | str, audio: torch.Tensor) -> torch.Tensor:
        """MuLan cycle-consistency score: cosine of each prompt with its audio -> [B]."""
        return (self.embed_text(texts) * self.embed_audio(audio)).sum(-1)


class MuLanEnsemble(MuLan):
    """Trained MuLans read as one: each member embeds a prompt or a clip in its own space, and the unit
    embeddings are joined, each weighed 1/sqrt(members), so the cosine of two joined embeddings is the
    members' mean cosine. An RVQ over the joined space (fitted by ``mulan ensemble``) makes its tokens.
    Members that hear with the same musicnn taggers share one pass of them (the others' are not kept)."""

    def __init__(self, config: MuLanConfig):
        nn.Module.__init__(self)
        self.config = config
        members = [m if isinstance(m, MuLanConfig) else MuLanConfig.from_dict(m) for m in config.members]
        if len(members) < 2 or any(m.members for m in members):
            raise ValueError("A MuLan ensemble joins two or more trained MuLans (none an ensemble itself).")
        for field in ("text_model", "text_dim", "sample_rate", "window_s", "stride_s"):
            if len({getattr(m, field) for m in members} | {getattr(config, field)}) > 1:
                raise ValueError(f"The members of a MuLan ensemble must share one {field} "
                                 f"({[getattr(m, field) for m in members]}).")
        if config.embed_dim != sum(m.embed_dim for m in members):
            raise ValueError(f"A MuLan ensemble's embed_dim is its members' together "
                             f"({sum(m.embed_dim for m in members)}), not {config.embed_dim}.")
        self.members = nn.ModuleList(MuLan(m) for m in members)
        self.shared_tags = bool(members[0].musicnn) and len({m.musicnn for m in members}) == 1
        for i, member in enumerate(self.members):
            member.quantizer = None  # the ensemble tokenizes the joined space
            if self.shared_tags and i:
                member.audio_tower.taggers = None  # the first member's taggers hear for all
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)), requires_grad=False)  # its device
        self.quantizer = ResidualVectorQuantizer(config.embed_dim, config.num_quantizers, config.codebook_size)
        self.fact_out = None
        self._text_encoder = None

    def _join(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(parts, -1) / len(parts) ** 0.5

    def embed_text(self, texts: list[str] | str, features: torch.Tensor | None = None) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else texts
        features = self.text_features(texts) if features is None else features[..., : self.config.text_dim]
        return self._join([m.embed_text(texts, features) for m in self.members])

    def embed_audio(self, audio: torch.Tensor, tagged: torch.Tensor | None = None) -> torch.Tensor:
        if not self.shared_tags:  # each member's own taggers
            return self._join([m.embed_audio(audio, tagged) for m in self.members])
        return super().embed_audio(audio, tagged)  # its windows, tagged once by the first member

    def _tagger(self) -> "AudioTower | None":
        return self.members[0].audio_tower if self.shared_tags else None

    def _embed_windows(self, windows: torch.Tensor, tagged: torch.Tensor | None, count: int) -> torch.Tensor:
        tagged = self.members[0].audio_tower.tag_features(windows) if tagged is None else tagged
        return self._join([m._embed_windows(windows, tagged, count) for m in self.members])

    def forward(self, *args, **kwargs):
        raise ValueError("A MuLan ensemble is not trained: train its members (musiclm-studio train mulan), then "
                         "join them with musiclm-studio mulan ensemble.")


def build_mulan(config: MuLanConfig) -> MuLan:
    """The MuLan a config describes: an ensemble where it names members."""
    return MuLanEnsemble(config) if config.members else MuLan(config)
