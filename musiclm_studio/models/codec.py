"""The acoustic codec: a SoundStream-style neural codec with a frame-domain (Vocos) decoder.

24 kHz mono audio -> log-mel frames (hop 480, 50 Hz) -> ConvNeXt encoder -> residual vector
quantizer (12 levels of 1024 codes: the first 4 are MusicLM's coarse tokens, the other 8 the
fine tokens) -> ConvNeXt decoder -> per-frame magnitude and phase -> inverse STFT -> audio.
Predicting STFT frames instead of samples trains several times faster per CPU hour than a
waveform decoder (see docs/architecture.md, "What replaces the paper's parts"). Quantizer
dropout trains every prefix of levels, so the coarse tokens alone decode to recognisable audio.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import CodecConfig
from ..modules.rvq import ResidualVectorQuantizer


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP, with a learned layer scale (Vocos)."""

    def __init__(self, dim: int, layer_scale: float = 0.1):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1, self.pw2 = nn.Linear(dim, 3 * dim), nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, D, T]
        y = self.dwconv(x).transpose(1, 2)  # [B, T, D]
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """Conv1d in -> N ConvNeXt blocks -> LayerNorm -> Linear out, over [B, C, T]."""

    def __init__(self, in_dim: int, dim: int, layers: int, out_dim: int):
        super().__init__()
        self.inp = nn.Conv1d(in_dim, dim, kernel_size=7, padding=3)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.inp(x)).transpose(1, 2)  # [B, T, D]
        return self.out(self.norm(y)).transpose(1, 2)  # [B, out, T]


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """[n_mels, n_fft // 2 + 1] Slaney mel filters (librosa's, computed once)."""
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0))


class FrameSTFT(nn.Module):
    """STFT / inverse STFT with 'same' padding: S samples <-> exactly S / hop frames."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        self.pad = (n_fft - hop_length) // 2
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, S] (S a multiple of hop) -> complex [B, F, S / hop], frame t centred at t*hop + hop/2."""
        padded = F.pad(audio[:, None], (self.pad, self.pad), mode="constant")[:, 0]
        return torch.stft(padded, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """complex [B, F, T] -> [B, T * hop] by windowed overlap-add, normalised by the window energy."""
        B, _, T = spec.shape
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1) * self.window[None, :, None]  # [B, N, T]
        length = (T - 1) * self.hop + self.n_fft
        audio = F.fold(frames, (1, length), (1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        envelope = F.fold(self.window.pow(2)[None, :, None].expand(1, -1, T), (1, length), (1, self.n_fft),
                          stride=(1, self.hop))[0, 0, 0]
        audio = audio[:, self.pad: length - self.pad]
        return audio / envelope[self.pad: length - self.pad].clamp(min=1e-8)


class SoundStreamCodec(nn.Module):
    """Neural audio codec: ``encode`` audio -> codes [B, Q, T]; ``decode`` codes -> audio."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config
        c = config
        self.frames = FrameSTFT(c.n_fft, c.hop_length)
        self.register_buffer("mel_basis", mel_filterbank(c.sample_rate, c.n_fft, c.n_mels), persistent=False)
        self.encoder = ConvNeXtStack(c.n_mels, c.encoder_dim, c.encoder_layers, c.codebook_dim)
        self.quantizer = ResidualVectorQuantizer(c.codebook_dim, c.num_quantizers, c.codebook_size, c.quantizer_dropout)
        self.decoder = ConvNeXtStack(c.codebook_dim, c.decoder_dim, c.decoder_layers, c.n_fft + 2)

    # paper vocabulary ------------------------------------------------------------------
    sample_rate = property(lambda self: self.config.sample_rate)
    num_quantizers = property(lambda self: self.config.num_quantizers)
    codebook_size = property(lambda self: self.config.codebook_size)
    hop_length = property(lambda self: self.config.hop_length)

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.hop_length

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.config.hop_length)

    # the three parts -------------------------------------------------------------------
    def _check_audio(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.ndim == 3:
            audio = audio.mean(1)  # [B, C, S] -> [B, S]
        if audio.ndim == 1:
            audio = audio[None]
        if audio.shape[-1] == 0:
            raise ValueError("Cannot encode empty audio: give at least one sample.")
        if not torch.isfinite(audio).all():
            raise ValueError("Audio contains NaN or infinite samples; clean it before encoding.")
        pad = -audio.shape[-1] % self.config.hop_length
        return F.pad(audio, (0, pad))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, S] -> log-mel [B, n_mels, T]."""
        magnitude = self.frames.stft(audio).abs()
        return torch.log(self.mel_basis @ magnitude + 1e-5)

    def encode_latent(self, audio: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.features(self._check_audio(audio)))  # [B, D, T]

    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, D, T] -> audio [B, T * hop] via predicted log-magnitude and phase."""
        out = self.decoder(latent).float()  # [B, n_fft + 2, T]
        log_mag, phase = out.chunk(2, dim=1)
        magnitude = torch.exp(log_mag.clamp(max=8.0))
        return self.frames.istft(torch.polar(magnitude, phase))

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, num_levels: int | None = None) -> torch.Tensor:
        """audio [B, S] / [B, C, S] / [S] at ``sample_rate`` -> codes [B, Q, ceil(S / hop)]."""
        return self.quantizer.encode(self.encode_latent(audio), num_levels)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, Q', T] (any first Q' levels) -> audio [B, T * hop]."""
        if codes.ndim != 3:
            raise ValueError(f"codes must be [B, Q, T], got shape {tuple(codes.shape)}")
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size}); got {int(codes.min())}..{int(codes.max())}")
        return self.decode_latent(self.quantizer.decode(codes))

    def forward(self, audio: torch.Tensor, num_levels: int | None = None):
        """Training pass: audio [B, S] -> (reconstruction [B, S'], codes [B, Q, T], commitment loss)."""
        latent = self.encode_latent(audio)
        quantized, codes, commit = self.quantizer(latent, num_levels)
        return self.decode_latent(quantized), codes, commit
