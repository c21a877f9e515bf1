"""Reconstruction losses for the codec: multi-resolution mel and STFT distances.

``MultiResolutionMelLoss``: L1 between log-mel spectrograms at several window sizes (the
codec's main objective, and the "mel distance" its evaluation reports).
``MultiResolutionSTFTLoss``: spectral convergence + log-magnitude L1 at several resolutions
(Parallel WaveGAN); with hops that differ from the codec's, it also punishes phase that does
not overlap-add coherently.
``PitchLoss``: L1 between log spectra on a log-frequency axis (quarter tones, C2 to C8) from a
long window: the mel losses' bins are wider than a semitone below about 500 Hz, so they do not
see a note that lands a semitone off, and a major third that comes out minor costs them nothing.
All take [B, S] audio and return a scalar.
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


class HopCombLoss(nn.Module):
    """The energy of the estimate's frame-periodic part that the target lacks, relative to the target's energy.

    A crop [B, S] is cut into its frames of ``hop`` samples (the codec's frame grid starts at the crop's
    first sample) and averaged over them: what is left is the part that repeats every frame, the buzz on
    the frame rate's harmonics that an iSTFT decoder makes where its phases repeat (``train.codec``);
    music averages out to about 1/frames of its energy. The loss is the mean square of the estimate's
    frame average minus the target's, over the target's mean square."""

    def __init__(self, hop: int):
        super().__init__()
        self.hop = hop

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = min(estimate.shape[-1], target.shape[-1]) // self.hop * self.hop
        if n == 0:
            raise ValueError(f"A crop shorter than one frame ({self.hop} samples) has no frame-periodic part.")
        fold = lambda x: x[..., :n].float().reshape(*x.shape[:-1], -1, self.hop).mean(-2)  # noqa: E731
        return (fold(estimate) - fold(target)).pow(2).mean() / target[..., :n].float().pow(2).mean().clamp(min=1e-8)


def log_frequency_filterbank(sample_rate: int, n_fft: int, fmin: float, octaves: int,
                             bins_per_octave: int) -> torch.Tensor:
    """[octaves * bins_per_octave, n_fft // 2 + 1] triangles on a log2-frequency axis, each summing
    to 1; a triangle is never narrower than the FFT's own bin spacing, so every row is non-empty."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    centres = fmin * 2.0 ** (torch.arange(octaves * bins_per_octave) / bins_per_octave)
    log_f = torch.log2(freqs.clamp(min=1e-3))[None, :]
    width = torch.maximum(torch.full_like(centres, 1.0 / bins_per_octave),
                          torch.log2(1 + (sample_rate / n_fft) / centres))[:, None]
    weights = (1 - (log_f - torch.log2(centres)[:, None]).abs() / width).clamp(min=0)
    return weights / weights.sum(1, keepdim=True)


class PitchLoss(nn.Module):
    """L1 between log log-frequency spectra (24 bins per octave from C2, 6 octaves; 4096-sample window)."""

    def __init__(self, sample_rate: int = 24_000, n_fft: int = 4096, hop: int = 512, fmin: float = 65.406,
                 octaves: int = 6, bins_per_octave: int = 24):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("bank", log_frequency_filterbank(sample_rate, n_fft, fmin, octaves, bins_per_octave),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def log_spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio.float(), self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        return torch.log10(self.bank @ spec + 1e-7)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = min(estimate.shape[-1], target.shape[-1])
        return F.l1_loss(self.log_spectrum(estimate[..., :n]), self.log_spectrum(target[..., :n]))
