"""Reconstruction losses for the codec: multi-resolution mel and STFT distances.

``MultiResolutionMelLoss``: L1 between log-mel spectrograms at several window sizes (the
codec's main objective, and the "mel distance" its evaluation reports).
``MultiResolutionSTFTLoss``: spectral convergence + log-magnitude L1 at several resolutions
(Parallel WaveGAN); with hops that differ from the codec's, it also punishes phase that does
not overlap-add coherently. Both take [B, S] audio and return a scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.codec import mel_filterbank

RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # (n_fft, hop)


class MultiResolutionMelLoss(nn.Module):
    def __init__(self, sample_rate: int = 24_000, resolutions=RESOLUTIONS, n_mels=(40, 80, 128)):
        super().__init__()
        self.resolutions = resolutions
        for i, ((n_fft, _), mels) in enumerate(zip(resolutions, n_mels)):
            self.register_buffer(f"mel{i}", mel_filterbank(sample_rate, n_fft, mels), persistent=False)
            self.register_buffer(f"win{i}", torch.hann_window(n_fft), persistent=False)

    def log_mels(self, audio: torch.Tensor, i: int) -> torch.Tensor:
        n_fft, hop = self.resolutions[i]
        spec = torch.stft(audio.float(), n_fft, hop, window=getattr(self, f"win{i}"), return_complex=True).abs()
        return torch.log10(getattr(self, f"mel{i}") @ spec + 1e-5)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = min(estimate.shape[-1], target.shape[-1])
        estimate, target = estimate[..., :n], target[..., :n]
        return sum(F.l1_loss(self.log_mels(estimate, i), self.log_mels(target, i))
                   for i in range(len(self.resolutions))) / len(self.resolutions)


class MultiResolutionSTFTLoss(nn.Module):
    def __init__(self, resolutions=((480, 120), (960, 240), (1920, 480), (300, 60))):
        super().__init__()
        self.resolutions = resolutions
        for i, (n_fft, _) in enumerate(resolutions):
            self.register_buffer(f"win{i}", torch.hann_window(n_fft), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = min(estimate.shape[-1], target.shape[-1])
        total = 0.0
        for i, (n_fft, hop) in enumerate(self.resolutions):
            window = getattr(self, f"win{i}")
            est = torch.stft(estimate[..., :n].float(), n_fft, hop, window=window, return_complex=True).abs()
            ref = torch.stft(target[..., :n].float(), n_fft, hop, window=window, return_complex=True).abs()
            convergence = (ref - est).norm() / ref.norm().clamp(min=1e-7)
            log_mag = F.l1_loss(torch.log(est + 1e-5), torch.log(ref + 1e-5))
            total = total + convergence + log_mag
        return total / len(self.resolutions)
