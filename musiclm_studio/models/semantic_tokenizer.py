"""The semantic tokenizer: 25 Hz tokens that carry harmony, rhythm and timbre.

MusicLM clusters w2v-BERT activations with k-means (1024). With no such model offline, we do
what HuBERT's first iteration did: k-means on hand-made features. Per 25 Hz frame: chroma (12,
harmony), MFCCs (timbre) and spectral flux in ``onset_bands`` mel bands (rhythm), each frame
stacked with ``context`` neighbours on each side, standardised with statistics fitted on the
corpus, then assigned to the nearest of ``codebook_size`` centroids. With one flux value among
33 z-scored features the onsets hold 0.5 % of the centroids' variance and tokens barely carry
the beat; ``onset_weight`` scales the onset columns in the distance so that they count. All maths
is torch on the module's device; ``fit`` learns the statistics and centroids from a batch of
feature vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import SemanticTokenizerConfig
from ..modules.rvq import kmeans
from .codec import mel_filterbank


def dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """Orthonormal DCT-II basis [n_mfcc, n_mels] (MFCCs from log-mels)."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(torch.pi / n_mels * (n + 0.5) * k) * (2.0 / n_mels) ** 0.5
    basis[0] /= 2**0.5
    return basis.float()


class SemanticTokenizer(nn.Module):
    """audio [B, S] -> semantic tokens [B, ceil(S / hop)] at ``frame_rate`` (hop = sr / 25)."""

    def __init__(self, config: SemanticTokenizerConfig):
        super().__init__()
        import librosa

        c = config
        self.config = c
        self.hop = c.sample_rate // c.frame_rate
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        self.register_buffer("mel_basis", mel_filterbank(c.sample_rate, c.n_fft, c.n_mels), persistent=False)
        chroma = librosa.filters.chroma(sr=c.sample_rate, n_fft=c.n_fft, n_chroma=12)
        self.register_buffer("chroma_basis", torch.from_numpy(chroma).float(), persistent=False)
        self.register_buffer("dct", dct_matrix(c.n_mels, c.n_mfcc), persistent=False)
        self.register_buffer("mean", torch.zeros(c.feature_dim))
        self.register_buffer("std", torch.ones(c.feature_dim))
        self.register_buffer("centroids", torch.randn(c.codebook_size, c.feature_dim))
        onset = torch.zeros(c.frame_dim, dtype=torch.bool)
        onset[12 + c.n_mfcc:] = True  # the onset columns of every stacked frame get onset_weight
        weights = torch.where(onset, c.onset_weight, 1.0).repeat(2 * c.context + 1)
        self.register_buffer("weights", weights, persistent=False)
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def frame_rate(self) -> int:
        return self.config.frame_rate

    def frame_features(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, S] -> per-frame features [B, T, 12 + n_mfcc + onset_bands] (chroma, MFCC, onset)."""
        if audio.ndim == 1:
            audio = audio[None]
        if audio.shape[-1] == 0:
            raise ValueError("Cannot tokenize empty audio.")
        c = self.config
        pad = (c.n_fft - self.hop) // 2
        padded = F.pad(audio.float(), (pad, pad + (-audio.shape[-1] % self.hop)))
        power = torch.stft(padded, c.n_fft, self.hop, window=self.window, center=False,
                           return_complex=True).abs().pow(2)  # [B, F, T]
        chroma = self.chroma_basis @ power
        chroma = chroma / chroma.amax(1, keepdim=True).clamp(min=1e-8)
        log_mel = torch.log(self.mel_basis @ power + 1e-8)
        mfcc = self.dct @ log_mel  # [B, n_mfcc, T]
        rise = F.relu(log_mel.diff(dim=-1, prepend=log_mel[..., :1]))  # [B, n_mels, T]
        flux = torch.stack([band.mean(1) for band in rise.tensor_split(c.onset_bands, dim=1)], 1)
        return torch.cat([chroma, mfcc / 10.0, flux], 1).transpose(1, 2)

    def features(self, audio: torch.Tensor, standardize: bool = True) -> torch.Tensor:
        """[B, S] -> context-stacked features [B, T, feature_dim], standardised unless asked not to."""
        frames = self.frame_features(audio)  # [B, T, F]
        k = self.config.context
        padded = F.pad(frames.transpose(1, 2), (k, k), mode="replicate").transpose(1, 2)
        T = frames.shape[1]
        stacked = torch.cat([padded[:, i: i + T] for i in range(2 * k + 1)], -1)
        return self.standardize(stacked) if standardize else stacked

    def standardize(self, stacked: torch.Tensor) -> torch.Tensor:
        """Raw stacked features -> the space the centroids live in (z-scores, onsets weighted)."""
        return (stacked - self.mean) / self.std * self.weights

    @torch.no_grad()
    def fit(self, features: torch.Tensor, iters: int = 25, generator: torch.Generator | None = None) -> None:
        """Fit standardisation and k-means on raw stacked features [N, feature_dim] (``features(a, False)``)."""
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp(min=1e-4))
        self.centroids.copy_(kmeans(self.standardize(features), self.codebook_size, iters, generator))
        self.fitted.fill_(True)

    @torch.no_grad()
    def probe_tokens(self) -> list[int]:
        """This tokenizer's tokens of a fixed 2-s test signal: an identity that survives fp16 / bf16
        storage (another fit labels the frames differently). LMs trained on a token cache keep
        it, and a pipeline refuses LMs whose tokenizer was another (``check_contracts``)."""
        sr = self.config.sample_rate
        t = torch.arange(2 * sr, dtype=torch.float64) / sr
        pitch = 220.0 * 2 ** (torch.floor(t * 4) % 12 / 12)  # a rising semitone every quarter second
        tone = torch.sin(2 * torch.pi * torch.cumsum(pitch, 0) / sr)
        noise = torch.randn(t.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        clicks = noise * torch.exp(-((t * 3) % 1) * 40)  # a noise burst every third of a second
        audio = (0.5 * tone + 0.3 * clicks).float()[None].to(self.centroids.device)
        return self(audio)[0].tolist()

    @torch.no_grad()
    def onset_envelope(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [..., T] -> the spectral flux their centroids hold at the centre frame [..., T]
        (summed over the onset bands, in the features' own units): the rhythm a token sequence
        spells, readable without generating audio (``musiclm-studio stages --semantic-only``)."""
        c = self.config
        start = c.context * c.frame_dim + 12 + c.n_mfcc  # the centre frame's chroma, MFCCs, then flux
        return self._raw_centroids()[:, start: start + c.onset_bands].sum(-1)[tokens]

    @torch.no_grad()
    def chroma_profile(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [..., T] -> the mean chroma [..., 12] their centroids hold at the centre frame (C
        first): the pitch classes a token sequence spells, for reading its key without audio."""
        start = self.config.context * self.config.frame_dim
        return self._raw_centroids()[:, start: start + 12][tokens].mean(-2)

    def _raw_centroids(self) -> torch.Tensor:
        """The centroids [V, feature_dim] back in unstandardised feature units."""
        return self.centroids / self.weights * self.std + self.mean

    @torch.no_grad()
    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, S] -> tokens [B, T] (long)."""
        x = self.features(audio)  # [B, T, D]
        distance = x.pow(2).sum(-1, keepdim=True) - 2 * x @ self.centroids.T + self.centroids.pow(2).sum(-1)
        return distance.argmin(-1)
