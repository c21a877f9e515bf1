"""Spectrograms and token-stream images: torch maths on the pipeline's device, matplotlib drawing.

``mel_spectrogram_db`` computes a mel spectrogram in dB; ``token_palettes`` gives every token
id of every stream an RGB colour so that similar codes look alike (a 3-d PCA projection of the
codebook vectors from ``pipe.codebook_vectors()``; without a pipeline, a fixed hash colouring;
melody tokens are pitch classes on a colour wheel); ``token_image`` turns a stream into an
image. The ``plot_*`` functions draw onto matplotlib axes (Agg backend, no display needed) and
work alone in notebooks; ``spectrogram_image`` / ``token_streams_image`` render them as the app and
the widgets show them, and ``write_overview_png`` stacks those two images into the overview PNG
the app offers and the CLI writes next to each WAV (``save_overview_png`` draws them first);
``overview_figure`` draws the same in one figure for notebooks. This module imports no model code: it
only reads ``pipe.codebook_vectors()``, ``pipe.device`` and ``pipe.config``'s frame rates.
"""

from __future__ import annotations

import io
from typing import Mapping, Optional, Union

import matplotlib

matplotlib.use("Agg")  # before pyplot: render off-screen in servers, tests and the CLI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .config import TOKEN_STREAMS  # noqa: E402

DEFAULT_FRAME_RATES = {"melody": 25.0, "semantic": 25.0, "coarse": 50.0, "fine": 50.0}
MISSING = (0.85, 0.85, 0.85)  # colour of ids outside a stream's vocabulary (padding, not yet generated)
PENDING = 0.93  # grey of frames not generated yet in live images
TokensLike = Union[Mapping[str, Optional[torch.Tensor]], object]  # a dict or a TokenStreams


def _device(pipe=None, device=None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return pipe.device if pipe is not None else torch.device("cpu")


# ---- spectrogram --------------------------------------------------------------------------
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, device=None) -> torch.Tensor:
    """HTK-style triangular mel filters [n_mels, n_fft // 2 + 1], area-normalised (Slaney)."""
    mel = lambda f: 2595.0 * torch.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(torch.linspace(0.0, float(mel(torch.tensor(sample_rate / 2.0))), n_mels + 2, device=device))
    freqs = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, device=device)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising, falling = (freqs - low) / (centre - low), (high - freqs) / (high - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0) * (2.0 / (high - low))


def mel_spectrogram_db(audio, sample_rate: int, *, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 80,
                       top_db: float = 80.0, pipe=None, device=None) -> torch.Tensor:
    """Audio [S] (tensor or array) -> mel power spectrogram in dB [n_mels, T], peak at 0 dB."""
    device = _device(pipe, device)
    wave = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio)
    wave = wave.to(device, torch.float32).reshape(-1)
    if wave.numel() < n_fft:  # very short clips: pad so that one frame exists
        wave = torch.nn.functional.pad(wave, (0, n_fft - wave.numel()))
    window = torch.hann_window(n_fft, device=device)
    power = torch.stft(wave, n_fft, hop_length, window=window, return_complex=True).abs().pow(2)  # [F, T]
    mel = mel_filterbank(sample_rate, n_fft, n_mels, device) @ power  # [n_mels, T]
    db = 10.0 * torch.log10(mel.clamp(min=1e-10))
    return (db - db.max()).clamp(min=-top_db)


# ---- token colours ------------------------------------------------------------------------
def pca_colours(vectors: torch.Tensor) -> torch.Tensor:
    """Codebook vectors [V, D] -> RGB [V, 3] in [0, 1] from their first 3 principal components."""
    x = vectors.float().reshape(vectors.shape[0], -1)
    x = x - x.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(x, full_matrices=False)  # rows of v: principal directions
    proj = x @ v[:3].T  # [V, <=3]
    if proj.shape[1] < 3:
        proj = torch.cat([proj, proj.new_zeros(proj.shape[0], 3 - proj.shape[1])], 1)
    low, high = proj.amin(0, keepdim=True), proj.amax(0, keepdim=True)
    return 0.1 + 0.8 * (proj - low) / (high - low).clamp(min=1e-9)


def hash_colours(vocab_size: int, num_levels: int = 1, device=None) -> torch.Tensor:
    """Fallback without codebooks: a fixed pseudo-random colour per id [Q, V, 3] (golden-ratio hues)."""
    ids = torch.arange(vocab_size, device=device, dtype=torch.float64)
    levels = torch.arange(num_levels, device=device, dtype=torch.float64)[:, None]
    hue = torch.frac(ids * 0.6180339887 + levels * 0.137)
    value = 0.55 + 0.4 * torch.frac(ids * 0.7548776662)
    return _hsv_to_rgb(hue, torch.full_like(hue, 0.65), value.expand_as(hue)).float()


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], -1)
    return v[..., None] - v[..., None] * s[..., None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def melody_colours(device=None) -> torch.Tensor:
    """Melody tokens: 12 pitch classes round the colour wheel by the circle of fifths, unvoiced dark."""
    hue = (torch.arange(12, device=device) * 7 % 12).float() / 12  # position on the circle of fifths
    rgb = _hsv_to_rgb(hue, torch.full_like(hue, 0.75), torch.full_like(hue, 0.95))
    return torch.cat([rgb, rgb.new_tensor([[0.15, 0.15, 0.15]])])[None]  # [1, 13, 3]


def token_palettes(pipe=None, device=None, vocab_size: int = 1024) -> dict[str, torch.Tensor]:
    """RGB colour of every token id per stream: {stream: [Q, V, 3]} on the pipeline's device.

    With a pipeline, colours come from a PCA of each level's codebook vectors, so codes whose
    vectors are close get close colours; without one, ``hash_colours`` of ``vocab_size`` ids.
    """
    device = _device(pipe, device)
    palettes = {"melody": melody_colours(device)}
    vectors = pipe.codebook_vectors() if pipe is not None else {}
    for name in ("mulan", "semantic", "coarse", "fine"):
        if name in vectors:
            v = vectors[name].to(device)
            v = v[None] if v.dim() == 2 else v  # semantic centroids [V, F] -> one level
            palettes[name] = torch.stack([pca_colours(level) for level in v])
        else:
            palettes[name] = hash_colours(vocab_size, 12 if name == "mulan" else 8, device)
    return palettes


def token_rgb(tokens, palette: torch.Tensor) -> torch.Tensor:
    """Tokens [T], [Q, T] or [B, Q, T] (first item) -> RGB [Q, T, 3] on the palette's device.

    Row q uses level q's colours; ids outside the vocabulary (padding) get ``MISSING``.
    """
    tokens = torch.as_tensor(tokens)
    while tokens.dim() > 2:
        tokens = tokens[0]
    tokens = tokens.reshape(-1, tokens.shape[-1]).to(palette.device).long()  # [Q, T]
    levels, vocab = palette.shape[0], palette.shape[1]
    rows = torch.arange(tokens.shape[0], device=palette.device) % levels
    valid = (tokens >= 0) & (tokens < vocab)
    rgb = palette[rows[:, None], tokens.clamp(0, vocab - 1)]  # [Q, T, 3]
    return torch.where(valid[..., None], rgb, rgb.new_tensor(MISSING))


def token_image(tokens, palette: torch.Tensor) -> np.ndarray:
    """``token_rgb`` as a float numpy image [Q, T, 3] for matplotlib; level 0 on the top row."""
    return token_rgb(tokens, palette).cpu().numpy()


def frame_rates(pipe=None) -> dict[str, float]:
    """Frames per second of each time-aligned stream."""
    if pipe is None:
        return dict(DEFAULT_FRAME_RATES)
    c = pipe.config
    return {"melody": float(c.melody.frame_rate), "semantic": float(c.semantic_tokenizer.frame_rate),
            "coarse": float(c.coarse_lm.frame_rate), "fine": float(c.fine_lm.frame_rate)}


def token_strip_image(tokens: TokensLike, palettes: dict, pipe=None, *, duration_s: Optional[float] = None,
                      width: int = 960, row_px: int = 10, gap_px: int = 6) -> np.ndarray:
    """A fast, unlabelled picture of every stream (no matplotlib): RGB uint8 [H, width, 3].

    Top to bottom: mulan (12 levels side by side), melody, semantic, coarse levels, fine levels,
    with time on x up to ``duration_s`` (default: the longest stream); frames not generated yet
    stay light grey. Cheap enough to redraw for every progress update.
    """
    found, rates = _stream_dict(tokens), frame_rates(pipe)
    device = palettes["coarse"].device
    if duration_s is None:
        duration_s = clip_seconds(found, rates) or 1.0
    bands = []
    for name in TOKEN_STREAMS:
        tokens, palette = found.get(name), palettes[name]
        if name == "mulan":  # levels along x: [1, 12, 3] stretched to the width
            rgb = (token_rgb(torch.as_tensor(tokens).reshape(-1, 12)[0, :, None], palette).transpose(0, 1)
                   if tokens is not None else torch.full((1, palette.shape[0], 3), PENDING, device=device))
            column = torch.arange(width, device=device) * rgb.shape[1] // width
        else:  # time along x: frame of each pixel column, grey where not generated yet
            levels = 1 if name in ("melody", "semantic") else palette.shape[0]
            rgb = token_rgb(tokens, palette) if tokens is not None else torch.empty(levels, 0, 3, device=device)
            column = (torch.arange(width, device=device) * duration_s * rates[name] / width).long()
            rgb = torch.cat([rgb, torch.full((rgb.shape[0], 1, 3), PENDING, device=device)], 1)
            column = column.clamp(max=rgb.shape[1] - 1)  # past the end -> the grey column
        band = rgb[:, column].repeat_interleave(row_px if rgb.shape[0] > 1 else 2 * row_px, 0)
        bands += [band, torch.ones(gap_px, width, 3, device=device)]
    return (torch.cat(bands[:-1]) * 255).round().byte().cpu().numpy()


# ---- drawing ------------------------------------------------------------------------------
def clip_seconds(found: dict, rates: dict) -> Optional[float]:
    """The clip's length: its longest generated stream (semantic, coarse, fine) in seconds; the
    melody alone only when nothing else is there (a melody file may be longer than the clip)."""
    def longest(names):
        lengths = [found[n].shape[-1] / rates[n] for n in names if found.get(n) is not None and found[n].numel()]
        return max(lengths, default=None)
    return longest(("semantic", "coarse", "fine")) or longest(("melody",))


def plot_spectrogram(audio, sample_rate: int, ax=None, pipe=None, device=None, title: str = "mel spectrogram (dB)"):
    """Draw ``mel_spectrogram_db`` of audio [S] onto ``ax`` (a new figure if None); returns the axes."""
    ax = ax if ax is not None else plt.figure(figsize=(10, 3), layout="constrained").add_subplot()
    hop = 256
    db = mel_spectrogram_db(audio, sample_rate, hop_length=hop, pipe=pipe, device=device).cpu().numpy()
    seconds = db.shape[1] * hop / sample_rate
    image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, db.shape[0]),
                      vmin=-80, vmax=0, interpolation="nearest")
    ax.set(title=title, ylabel="mel bin", xlabel="seconds")
    ax.figure.colorbar(image, ax=ax, pad=0.01, fraction=0.03, label="dB")
    return ax


def _stream_dict(tokens: TokensLike) -> dict[str, Optional[torch.Tensor]]:
    if hasattr(tokens, "as_dict"):
        return tokens.as_dict()
    return {name: tokens.get(name) for name in TOKEN_STREAMS}


def plot_token_streams(tokens: TokensLike, pipe=None, *, palettes: Optional[dict] = None, fig=None,
                       duration_s: Optional[float] = None, streams=TOKEN_STREAMS, pending: str = "waiting"):
    """One row of axes per token stream (mulan, melody, semantic, coarse, fine); returns the figure.

    ``tokens`` is a ``TokenStreams`` or a dict of stream -> tensor (partial streams are fine:
    empty rows say ``pending``, e.g. "waiting"); ``duration_s`` fixes the time axis so live updates grow to the right.
    """
    palettes = palettes if palettes is not None else token_palettes(pipe)
    rates, found = frame_rates(pipe), _stream_dict(tokens)
    heights = {"mulan": 1.0, "melody": 0.6, "semantic": 0.6, "coarse": 1.2, "fine": 1.8}
    fig = fig if fig is not None else plt.figure(figsize=(10, 0.9 * sum(heights[s] for s in streams) + 1.0),
                                                       layout="constrained")
    axes = fig.subplots(len(streams), 1, gridspec_kw={"height_ratios": [heights[s] for s in streams]}, squeeze=False)
    clip_s = duration_s if duration_s is not None else clip_seconds(found, rates)
    for ax, name in zip(axes[:, 0], streams):
        stream = found.get(name)
        if name == "melody" and stream is not None and clip_s is not None:  # the melody on the clip's time axis
            stream = torch.as_tensor(stream)[..., : max(1, round(clip_s * rates[name]))]
        axis_s = clip_s if name == "melody" and stream is not None else duration_s
        _draw_stream(ax, name, stream, palettes[name], rates.get(name), axis_s, pending)
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle("token streams", fontsize=10)
    return fig


def _draw_stream(ax, name: str, tokens: Optional[torch.Tensor], palette: torch.Tensor, rate, duration_s,
                 pending: str = "waiting") -> None:
    ax.set_yticks([])
    if tokens is None or tokens.numel() == 0:
        ax.text(0.5, 0.5, f"{name}: none" if duration_s is None else f"{name}: {pending}", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
        ax.set_xticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        return
    if name == "mulan":  # [B, 12] or story [B, N, 12]: levels along x, one row per segment
        tokens = torch.as_tensor(tokens)
        tokens = tokens[0] if tokens.dim() == 3 else tokens[:1] if tokens.dim() == 2 else tokens[None]
        image = np.stack([token_image(row[:, None], palette).reshape(-1, 3) for row in tokens])  # [N, 12, 3]
        ax.imshow(image, aspect="auto", interpolation="nearest", extent=(0, image.shape[1], image.shape[0], 0))
        ax.set_xticks(np.arange(image.shape[1]) + 0.5, labels=[str(i) for i in range(image.shape[1])], fontsize=6)
        ax.set_ylabel("mulan\n(RVQ level)", rotation=0, ha="right", va="center")
        return
    image = token_image(tokens, palette)  # [Q, T, 3]
    seconds = image.shape[1] / rate
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(0, seconds, image.shape[0], 0))
    ax.set_xlim(0, max(seconds, duration_s or 0.0))
    label = name if image.shape[0] == 1 else f"{name}\n({image.shape[0]} levels)"
    ax.set_ylabel(label, rotation=0, ha="right", va="center")


def overview_figure(audio, sample_rate: int, tokens: TokensLike, pipe=None, *, palettes: Optional[dict] = None,
                    title: Optional[str] = None):
    """The spectrogram above every token stream, in one figure."""
    fig = plt.figure(figsize=(10, 9), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 2.3])
    plot_spectrogram(audio, sample_rate, ax=top.add_subplot(), pipe=pipe)
    plot_token_streams(tokens, pipe, palettes=palettes, fig=bottom)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ---- piano roll ---------------------------------------------------------------------------
def note_rows(notes) -> list[np.ndarray]:
    """A ``pretty_midi.PrettyMIDI`` (one array per non-drum instrument) or note rows [N, >=3]
    (onset s, offset s, MIDI pitch, ...) -> a list of float arrays [N, 3]."""
    if hasattr(notes, "instruments"):
        return [np.asarray([(n.start, n.end, n.pitch) for n in inst.notes], np.float64).reshape(-1, 3)
                for inst in notes.instruments if not inst.is_drum]
    return [np.asarray(notes, np.float64).reshape(-1, np.shape(notes)[-1] if np.size(notes) else 3)[:, :3]]


def plot_piano_roll(notes, ax=None, *, reference=None, duration_s: Optional[float] = None,
                    title: str = "piano roll (transcribed notes)"):
    """Draw notes as bars (time on x, MIDI pitch on y, one colour per instrument) onto ``ax`` (a new
    figure if None); ``reference`` notes (e.g. the true MIDI) are drawn as black outlines on top."""
    ax = ax if ax is not None else plt.figure(figsize=(10, 3.2), layout="constrained").add_subplot()
    tracks, ref = note_rows(notes), note_rows(reference) if reference is not None else []
    found = [t for t in tracks + ref if len(t)]
    colours = plt.get_cmap("tab10")
    for i, track in enumerate(tracks):
        for onset, offset, pitch in track:
            ax.add_patch(plt.Rectangle((onset, pitch - 0.4), max(offset - onset, 0.01), 0.8, color=colours(i % 10),
                                       alpha=0.85, linewidth=0))
    for track in ref:
        for onset, offset, pitch in track:
            ax.add_patch(plt.Rectangle((onset, pitch - 0.45), max(offset - onset, 0.01), 0.9, fill=False,
                                       edgecolor="black", linewidth=0.6))
    low = min((t[:, 2].min() for t in found), default=60.0) - 2
    high = max((t[:, 2].max() for t in found), default=72.0) + 2
    end = max([t[:, 1].max() for t in found] + [duration_s or 0.0, 1.0])
    ax.set(xlim=(0, end), ylim=(low, high), xlabel="seconds", ylabel="pitch", title=title)
    octaves = [p for p in range(int(np.ceil(low)), int(high) + 1) if p % 12 == 0]
    ax.set_yticks(octaves, labels=[f"C{p // 12 - 1}" for p in octaves])
    ax.grid(axis="y", color="0.9", linewidth=0.5)
    if not found:
        ax.text(0.5, 0.5, "no notes", transform=ax.transAxes, ha="center", va="center", color="0.4")
    return ax


def piano_roll(notes, *, reference=None, duration_s: Optional[float] = None, width_in: float = 10.0,
               dpi: int = 90) -> np.ndarray:
    """``plot_piano_roll`` as an RGB uint8 image [H, W, 3] for the app and the widgets."""
    fig = plt.figure(figsize=(width_in, 3.2), layout="constrained")
    plot_piano_roll(notes, fig.add_subplot(), reference=reference, duration_s=duration_s)
    return figure_to_array(fig, dpi)


def figure_to_array(fig, dpi: int = 90) -> np.ndarray:
    """Render a figure to an RGB uint8 array [H, W, 3] and close it (for UIs)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    buffer.seek(0)
    return (plt.imread(buffer)[..., :3] * 255).round().astype(np.uint8)


def array_to_png(image: np.ndarray) -> bytes:
    """An RGB uint8 array [H, W, 3] -> PNG bytes (for ipywidgets.Image)."""
    buffer = io.BytesIO()
    plt.imsave(buffer, image, format="png")
    return buffer.getvalue()


def stack_images(*images: np.ndarray) -> np.ndarray:
    """RGB uint8 arrays [H, W, 3] one above the other, narrower ones padded with white on the right."""
    width = max(image.shape[1] for image in images)
    return np.concatenate([np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0)), constant_values=255)
                           for image in images])


def spectrogram_image(audio, sample_rate: int, pipe=None) -> np.ndarray:
    """``plot_spectrogram`` as an RGB uint8 array [H, W, 3], as the app and the widgets show it."""
    return figure_to_array(plot_spectrogram(audio, sample_rate, pipe=pipe).figure)


def token_streams_image(tokens: TokensLike, pipe=None, *, palettes: Optional[dict] = None) -> np.ndarray:
    """``plot_token_streams`` as an RGB uint8 array [H, W, 3], as the app and the widgets show it."""
    return figure_to_array(plot_token_streams(tokens, pipe, palettes=palettes))


def write_overview_png(path: str, spectrogram: np.ndarray, tokens: np.ndarray) -> str:
    """The overview PNG: a spectrogram image above a token-stream image (``spectrogram_image``,
    ``token_streams_image``: the ones already drawn for a page); returns the path."""
    with open(path, "wb") as f:
        f.write(array_to_png(stack_images(spectrogram, tokens)))
    return path


def save_overview_png(path: str, audio, sample_rate: int, tokens: TokensLike, pipe=None, *,
                      palettes: Optional[dict] = None) -> str:
    """Draw the spectrogram and token-stream images and write them as the overview PNG (``write_overview_png``)."""
    return write_overview_png(path, spectrogram_image(audio, sample_rate, pipe),
                              token_streams_image(tokens, pipe, palettes=palettes))


__all__ = ["mel_filterbank", "mel_spectrogram_db", "pca_colours", "hash_colours", "melody_colours",
           "token_palettes", "token_rgb", "token_image", "token_strip_image", "frame_rates", "clip_seconds",
           "plot_spectrogram", "plot_token_streams", "note_rows", "plot_piano_roll", "piano_roll",
           "overview_figure", "figure_to_array", "array_to_png", "stack_images", "spectrogram_image",
           "token_streams_image", "write_overview_png", "save_overview_png"]
