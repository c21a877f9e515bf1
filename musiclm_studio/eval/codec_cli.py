"""``musiclm-studio codec ...``: round-trip a file, evaluate against Opus, time encode + decode.

    musiclm-studio codec roundtrip in.wav out.wav --levels 4
    musiclm-studio codec eval --data corpus/v1 --n 50 --out runs/codec-eval
    musiclm-studio codec bench --seconds 10

``--codec`` takes a saved pipeline (its ``codec/`` is used), a codec component folder
(config.json + model.safetensors) or a training run folder (its ``last/``); the default is the
shipped pipeline's codec.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from .. import hub
from ..components import load_trained
from ..config import CodecConfig
from ..models.codec import SoundStreamCodec
from .codec import codec_kbps


def load_codec(path: str | None) -> SoundStreamCodec:
    """A codec from a pipeline folder, a component folder or a run folder (None = shipped)."""
    return load_trained("codec", path)


def cmd_roundtrip(args: argparse.Namespace) -> int:
    from ..audio import prepare_audio, save_audio

    codec = load_codec(args.codec)
    prepared = prepare_audio(args.input, target_sample_rate=codec.sample_rate, allow_silent=True, name=args.input)
    for notice in prepared.notices:
        print(f"note: {notice}")
    if not 1 <= args.levels <= codec.num_quantizers:
        raise ValueError(f"--levels must be between 1 and {codec.num_quantizers}, got {args.levels}.")
    codes = codec.encode(prepared.audio[None], num_levels=args.levels)
    audio = codec.decode(codes)[0, : prepared.audio.numel()]
    path = save_audio(args.output, audio, codec.sample_rate)
    kbps = codec_kbps(codec, args.levels)
    print(f"wrote {path}: {args.levels} levels x {codes.shape[-1]} frames ({kbps:g} kbps)")
    return 0


def _clip_sets(args: argparse.Namespace, sample_rate: int) -> dict[str, list[torch.Tensor]]:
    from ..train.data import load_clips
    from .synth import out_of_domain_set

    held_out = load_clips(args.data, args.split, sample_rate, limit=args.n)
    return {f"corpus {args.split}": [c.float() for c in held_out],
            "out-of-domain": [torch.from_numpy(a) for a in out_of_domain_set(sample_rate).values()]}


@torch.no_grad()
def save_level_pngs(codec: SoundStreamCodec, clip: torch.Tensor, path: str, levels=(4, 12)) -> str:
    """Mel spectrograms of a clip and its decodes at each level count, stacked in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import plot_spectrogram

    codes = codec.encode(clip[None])
    fig, axes = plt.subplots(len(levels) + 1, 1, figsize=(10, 2.6 * (len(levels) + 1)), constrained_layout=True)
    plot_spectrogram(clip, codec.sample_rate, ax=axes[0], title="original")
    for ax, k in zip(axes[1:], levels):
        kbps = codec_kbps(codec, k)
        plot_spectrogram(codec.decode(codes[:, :k])[0], codec.sample_rate, ax=ax, title=f"codec, {k} levels ({kbps:g} kbps)")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def cmd_eval(args: argparse.Namespace) -> int:
    from .codec import evaluate_codec, write_report

    codec = load_codec(args.codec)
    start = time.perf_counter()
    sets = _clip_sets(args, codec.sample_rate)
    report = evaluate_codec(codec, sets, opus=not args.no_opus)
    write_report(report, args.out)
    for name, clips in sets.items():
        tag = name.split()[0].replace("-", "_")
        save_level_pngs(codec, clips[0], os.path.join(args.out, f"mel_{tag}_original_4_12.png"))
    print(report.markdown())
    print(f"\n{time.perf_counter() - start:.0f} s; wrote {args.out}/codec_eval.md and .json")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    codec = load_codec(args.codec) if args.codec or os.path.isfile(
        os.path.join(hub.DEFAULT_PIPELINE, "codec", "model.safetensors")) else SoundStreamCodec(CodecConfig()).eval()
    torch.set_num_threads(args.threads) if args.threads else None
    audio = torch.randn(1, int(args.seconds * codec.sample_rate)) * 0.1
    codec.decode(codec.encode(audio[:, : codec.sample_rate]))  # warm-up
    encode, decode = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        codes = codec.encode(audio)
        t1 = time.perf_counter()
        codec.decode(codes)
        encode.append(t1 - t0)
        decode.append(time.perf_counter() - t1)
    e, d = min(encode), min(decode)
    print(f"codec on {torch.get_num_threads()} CPU threads, {args.seconds:g} s of audio (best of {args.repeats}): "
          f"encode {e:.3f} s, decode {d:.3f} s, total {e + d:.3f} s (RTF {(e + d) / args.seconds:.3f})")
    return 0


def register(sub) -> None:
    codec = sub.add_parser("codec", help="acoustic codec: round trip, evaluation vs Opus, speed")
    kinds = codec.add_subparsers(dest="codec_command", required=True)
    r = kinds.add_parser("roundtrip", help="encode and decode an audio file with the first K levels")
    r.add_argument("input")
    r.add_argument("output")
    r.add_argument("--levels", type=int, default=12)
    r.add_argument("--codec", default=None)
    r.set_defaults(func=cmd_roundtrip)
    e = kinds.add_parser("eval", help="mel / STFT distance and SI-SDR at 4, 8, 12 levels next to Opus")
    e.add_argument("--codec", default=None)
    e.add_argument("--data", required=True, help="a built corpus (its held-out split is used)")
    e.add_argument("--split", default="test")
    e.add_argument("--n", type=int, default=50)
    e.add_argument("--out", required=True)
    e.add_argument("--no-opus", action="store_true")
    e.set_defaults(func=cmd_eval)
    b = kinds.add_parser("bench", help="time encode + decode")
    b.add_argument("--codec", default=None)
    b.add_argument("--seconds", type=float, default=10.0)
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--threads", type=int, default=None)
    b.set_defaults(func=cmd_bench)
