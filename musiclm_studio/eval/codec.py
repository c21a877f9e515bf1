"""Codec evaluation: our codec at 4 / 8 / 12 levels next to Opus at the same and twice the bitrate.

For each clip: multi-resolution mel distance (the training loss's L1 of log-mels), STFT
distance (spectral convergence + log-magnitude), SI-SDR (dB), and what the harmony keeps: the
cosine between the treble chroma of the decode and of the original, and whether the key-mode
analyser (``analysis``, the one that scores generations) reads the same mode in both; and the share of the
decode's energy on the codec's frame-rate comb (``comb_share``: within 1 Hz of 50, 100, 150 ... Hz), a buzz
the originals do not have (their share is in the report's footer). Opus runs through
libsndfile (``soundfile`` OGG/OPUS at 48 kHz); its bitrate is set by a bisection over
``compression_level`` on each clip and the measured file size is reported (it includes Ogg
framing). Per-level codebook usage is measured over the whole held-out set.

    musiclm-studio codec eval --codec assets/musiclm-small --data corpus/v1 --n 50 --out runs/codec-eval
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np
import soundfile as sf
import torch

from ..audio import resample
from ..models.codec import SoundStreamCodec
from ..train.losses import MultiResolutionMelLoss, MultiResolutionSTFTLoss

OPUS_RATE = 48_000


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """Scale-invariant signal-to-distortion ratio in dB of [S] audio."""
    n = min(estimate.numel(), reference.numel())
    est, ref = estimate[:n].double(), reference[:n].double()
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref).clamp(min=1e-12) * ref
    return float(10 * torch.log10(target.pow(2).sum().clamp(min=1e-12) / (est - target).pow(2).sum().clamp(min=1e-12)))


def comb_share(audio: np.ndarray, sample_rate: int, rate: float, width_hz: float = 1.0) -> float:
    """The share of [S] audio's energy within ``width_hz`` of a multiple of ``rate`` Hz (a codec's frame rate;
    Hann-windowed spectrum of the whole clip). A decoder whose synthesised frames keep their phase from one
    frame to the next piles energy there, a buzz (``train.losses.HopCombLoss``); music has a few per cent
    (the comb's bins are about 4 % of the spectrum)."""
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sample_rate)
    distance = np.abs(freqs - rate * np.round(freqs / rate))
    on = (distance <= width_hz) & (freqs > rate / 2)
    return float(power[on].sum() / max(power.sum(), 1e-20))


class Distances:
    """mel / STFT distances, SI-SDR, chroma cosine, key-mode agreement between [S] clips and the estimate's
    energy on the ``comb_rate`` comb (``comb_share``; one set of filters, built once; the reference's chroma
    is reused while the same reference and length come)."""

    def __init__(self, sample_rate: int, comb_rate: float = 50.0):
        self.sample_rate, self.comb_rate = sample_rate, comb_rate
        self.mel, self.stft = MultiResolutionMelLoss(sample_rate), MultiResolutionSTFTLoss()
        self._reference: tuple[torch.Tensor, int, np.ndarray, str] | None = None

    def _harmony(self, audio: torch.Tensor) -> tuple[np.ndarray, str]:
        from ..analysis import chroma_profiles, key_from_profiles

        treble, bass = chroma_profiles(audio.numpy(), self.sample_rate)
        return treble, key_from_profiles(treble, bass)[1]

    @torch.no_grad()
    def __call__(self, estimate: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
        est, ref = estimate.float().cpu()[None], reference.float().cpu()[None]
        n = min(est.shape[-1], ref.shape[-1])
        if self._reference is None or self._reference[0] is not reference or self._reference[1] != n:
            self._reference = (reference, n, *self._harmony(ref[0, :n]))
        ref_chroma, ref_mode = self._reference[2:]
        chroma, mode = self._harmony(est[0, :n])
        cosine = float(chroma @ ref_chroma / max(np.linalg.norm(chroma) * np.linalg.norm(ref_chroma), 1e-12))
        return {"mel": float(self.mel(est[..., :n], ref[..., :n])), "stft": float(self.stft(est[..., :n], ref[..., :n])),
                "si_sdr": si_sdr(est[0, :n], ref[0, :n]), "chroma": cosine, "mode": float(mode == ref_mode),
                "comb": comb_share(est[0, :n].numpy(), self.sample_rate, self.comb_rate)}


def opus_roundtrip(audio: torch.Tensor, sample_rate: int, kbps: float) -> tuple[torch.Tensor, float]:
    """Encode [S] audio with Opus near ``kbps`` (bisection on compression_level) and decode it.

    Returns (decoded audio at ``sample_rate``, the measured kbps of the Ogg/Opus file).
    """
    wave = resample(audio.float().cpu(), sample_rate, OPUS_RATE).numpy()
    seconds = wave.size / OPUS_RATE

    def encode(level: float) -> bytes:
        buffer = io.BytesIO()
        sf.write(buffer, wave, OPUS_RATE, format="OGG", subtype="OPUS", compression_level=level)
        return buffer.getvalue()

    low, high = 0.0, 1.0  # compression_level 0 = highest bitrate, 1 = lowest
    best = encode(high)
    for _ in range(14):
        mid = (low + high) / 2
        data = encode(mid)
        if len(data) * 8 / seconds / 1000 > kbps:
            low = mid
        else:
            high, best = mid, data
    decoded, rate = sf.read(io.BytesIO(best), dtype="float32")
    decoded = torch.from_numpy(decoded if decoded.ndim == 1 else decoded.mean(1))
    return resample(decoded, rate, sample_rate)[: audio.numel()], len(best) * 8 / seconds / 1000


@dataclass
class CodecReport:
    """Mean distances per (clip set, system), per-level usage, and the bitrates."""

    rows: list[dict] = field(default_factory=list)  # {set, system, kbps, mel, stft, si_sdr, chroma, mode, clips}
    usage: list[float] = field(default_factory=list)  # share of each level's codes used on held-out clips
    codec_kbps: dict[int, float] = field(default_factory=dict)
    original_comb: dict[str, float] = field(default_factory=dict)  # per clip set: the originals' ``comb_share``

    def markdown(self) -> str:
        lines = ["| clips | system | kbps | mel distance (lower is better) | STFT distance | SI-SDR dB | "
                 "treble chroma cosine | key mode kept | energy on the frame-rate comb |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            lines.append(f"| {r['set']} ({r['clips']}) | {r['system']} | {r['kbps']:.1f} | {r['mel']:.3f} | "
                         f"{r['stft']:.3f} | {r['si_sdr']:.1f} | {r.get('chroma', float('nan')):.3f} | "
                         f"{r.get('mode', float('nan')):.2f} | {r.get('comb', float('nan')):.3f} |")
        lines.append("")
        lines.append("Codebook usage per level (share of 1024 codes used on the held-out clips): "
                     + ", ".join(f"{u:.2f}" for u in self.usage))
        if self.original_comb:
            lines.append("")
            lines.append("Energy on the frame-rate comb in the originals: "
                         + ", ".join(f"{name} {share:.3f}" for name, share in self.original_comb.items()))
        return "\n".join(lines)


def codec_kbps(codec: SoundStreamCodec, levels: int) -> float:
    return codec.frame_rate * levels * np.log2(codec.codebook_size) / 1000


@torch.no_grad()
def evaluate_codec(codec: SoundStreamCodec, clip_sets: dict[str, list[torch.Tensor]], levels=(4, 8, 12),
                   opus=True) -> CodecReport:
    """Every clip set through the codec at each level count and (optionally) Opus."""
    codec = codec.eval()
    device = next(codec.parameters()).device
    distances, report = Distances(codec.sample_rate, codec.frame_rate), CodecReport()
    all_codes = []
    for name, clips in clip_sets.items():
        results: dict[tuple[str, float], list[dict]] = {}
        for clip in clips:
            codes = codec.encode(clip.to(device)[None])  # [1, Q, T]
            if name != "out-of-domain":
                all_codes.append(codes.cpu())
            for k in levels:
                recon = codec.decode(codes[:, :k])[0].cpu()
                results.setdefault((f"codec, {k} levels", codec_kbps(codec, k)), []).append(distances(recon, clip))
            if opus:
                for target in (codec_kbps(codec, max(levels)), 2 * codec_kbps(codec, max(levels))):
                    recon, kbps = opus_roundtrip(clip, codec.sample_rate, target)
                    results.setdefault((f"Opus {target:g} kbps", target), []).append({**distances(recon, clip), "kbps": kbps})
        report.original_comb[name] = float(np.mean([comb_share(c.float().cpu().numpy(), codec.sample_rate,
                                                               codec.frame_rate) for c in clips]))
        for (system, kbps), values in results.items():
            mean = {m: float(np.mean([v[m] for v in values])) for m in ("mel", "stft", "si_sdr", "chroma", "mode", "comb")}
            measured = float(np.mean([v.get("kbps", kbps) for v in values]))
            report.rows.append({"set": name, "system": system, "kbps": measured, "clips": len(values), **mean})
    if all_codes:
        codes = torch.cat([c.permute(1, 0, 2).reshape(c.shape[1], -1) for c in all_codes], 1)  # [Q, N]
        report.usage = codec.quantizer.usage(codes[None]).tolist()
    report.codec_kbps = {k: codec_kbps(codec, k) for k in levels}
    return report


def write_report(report: CodecReport, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "codec_eval.json"), "w") as f:
        json.dump(asdict(report), f, indent=2)
    with open(os.path.join(out, "codec_eval.md"), "w") as f:
        f.write(report.markdown() + "\n")
