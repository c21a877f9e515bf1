"""FAD in the field's embedding spaces, through Microsoft's ``fadtk`` (``make eval-deps``).

Papers report FAD with a named embedding model: MusicLM's FAD_VGG 4.0 and MusicGen-small's 4.88 on
MusicCaps use VGGish; newer work uses CLAP, EnCodec or MERT. ``fadtk_fad`` scores a folder of
generated clips against a folder of reference clips with one of them, and with our own MuLan audio
tower registered as a fadtk embedding (``MuLanEmbedding``, a ``fadtk.ModelLoader``), which needs no
download and so keeps the path tested offline. fadtk computes the embeddings (cached next to the
audio as ``embeddings/<model>/*.npy``, its layout), the Gaussian statistics and the Fréchet
distance; audio is read and resampled by ``audio.prepare_audio`` instead of fadtk's torchaudio
loader. Every result names the embedding it used.

fadtk imports torchaudio at the top, and a torchaudio build must match torch's; where none matches
the installed torch (PyPI has none for torch 2.13), fadtk is imported with a stand-in for it
(``torchaudio_free``), which is never called here. The VGGish / CLAP / EnCodec / MERT weights are fetched by
their own packages on first use (torch hub, Hugging Face, ...); offline they must already be in those
caches, else a ValueError names what is missing.
"""

from __future__ import annotations

import glob
import os
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
MULAN = "mulan"
# --fad-embedding NAME -> how fadtk builds it (class name, arguments) and what the user needs for it
FIELD_EMBEDDINGS = {
    "vggish": ("VGGishModel", {}, "torch hub: harritaylor/torchvggish (+ its VGGish checkpoint)"),
    "clap-laion-music": ("CLAPLaionModel", {"type": "music"}, "pip install laion-clap; the LAION music CLAP checkpoint"),
    "clap-laion-audio": ("CLAPLaionModel", {"type": "audio"}, "pip install laion-clap; the LAION audio CLAP checkpoint"),
    "encodec-24k": ("EncodecEmbModel", {"variant": "24k"}, "pip install encodec; its 24 kHz checkpoint (torch hub)"),
    "mert": ("MERTModel", {"size": "v1-95M", "layer": 12}, "Hugging Face m-a-p/MERT-v1-95M in the HF cache"),
}
EMBEDDINGS = (MULAN, *FIELD_EMBEDDINGS)


@dataclass
class FadResult:
    """One FAD figure and what it was measured with."""

    embedding: str  # the --fad-embedding name
    model: str  # fadtk's name of the embedding model (the cache folder under embeddings/)
    fad: float
    reference: str
    generated: str
    reference_clips: int
    generated_clips: int

    def to_dict(self) -> dict:
        return asdict(self)


def import_fadtk():
    """The ``fadtk`` module (with a stand-in for torchaudio where none loads beside this torch: fadtk
    imports it only to read files, which ``fadtk_fad`` does itself), or a ValueError that says what to do."""
    from ..torchaudio_free import import_without_torchaudio

    return import_without_torchaudio("fadtk", "--fad-embedding needs Microsoft's fadtk: install it without its pins "
                                     "(make eval-deps, or pip install --no-deps fadtk==1.1.0 hypy-utils).")


@torch.no_grad()
def mulan_frames(mulan, audio: torch.Tensor) -> torch.Tensor:
    """Frame-level MuLan embeddings of a clip [S] -> [F, E]: the unit audio embeddings of consecutive
    windows of MuLan's ``window_s``, shortened to half the clip when the clip is shorter than two windows
    (fadtk pools frames over clips and needs at least two per clip); a tail under half a window is dropped."""
    device = mulan.logit_scale.device
    window = min(int(mulan.config.window_s * mulan.config.sample_rate), audio.numel() // 2)
    if window < 1:
        raise ValueError(f"A clip of {audio.numel()} samples is too short for MuLan frames.")
    starts = [s for s in range(0, audio.numel() - window + 1, window)]
    if audio.numel() - (starts[-1] + window) >= window // 2:
        starts.append(audio.numel() - window)
    crops = torch.stack([audio[s: s + window] for s in starts]).float().to(device)
    return mulan.embed_audio(crops).float().cpu()


def mulan_name(mulan) -> str:
    """``musiclm-studio-mulan-<digest of its weights>``: fadtk caches embeddings per model name, so two
    MuLans must not share one."""
    import hashlib

    digest = hashlib.sha256()
    for key, tensor in sorted(mulan.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return f"musiclm-studio-mulan-{digest.hexdigest()[:10]}"


def mulan_embedding(mulan):
    """Our MuLan's audio tower as a fadtk embedding model, frame-level as fadtk expects (``mulan_frames``)."""
    fadtk = import_fadtk()
    name = mulan_name(mulan)

    class MuLanEmbedding(fadtk.ModelLoader):
        def __init__(self):
            super().__init__(name, num_features=mulan.config.embed_dim, sr=mulan.config.sample_rate)

        def load_model(self):
            self.model = mulan.eval()
            self.device = mulan.logit_scale.device

        def _get_embedding(self, audio: np.ndarray) -> torch.Tensor:
            return mulan_frames(self.model, torch.as_tensor(audio, dtype=torch.float32))

        def get_embedding(self, audio: np.ndarray) -> np.ndarray:
            return self._get_embedding(audio).numpy()  # float32 (fadtk's default would store float16)

    return MuLanEmbedding()


def field_embedding(name: str):
    """The fadtk model loader for ``name`` (a key of ``FIELD_EMBEDDINGS``), its weights loaded."""
    fadtk = import_fadtk()
    class_name, kwargs, needs = FIELD_EMBEDDINGS[name]
    try:
        loader = getattr(fadtk, class_name)(**kwargs)  # some fetch their checkpoint here, the rest in load_model
        loader.load_model()
    except Exception as error:  # each package fails its own way when its weights are absent offline
        raise ValueError(f"The {name} embedding's weights could not be loaded ({type(error).__name__}: {error}). "
                         f"It needs: {needs}. Fetch them once with network (fadtk does it on first use), or "
                         "choose --fad-embedding mulan.") from error
    return loader


def audio_files(folder: str) -> list[str]:
    """The audio files directly inside ``folder`` (fadtk reads one folder level)."""
    if not os.path.isdir(folder):
        raise ValueError(f"Not a folder of audio clips: {folder!r}.")
    files = sorted(f for f in glob.glob(os.path.join(glob.escape(folder), "*")) if f.lower().endswith(AUDIO_EXTENSIONS))
    if len(files) < 2:
        raise ValueError(f"{folder!r} holds {len(files)} audio files; FAD needs at least 2 (more than the "
                         "embedding's size for a stable covariance).")
    return files


def fadtk_fad(reference: str, generated: str, embedding: str, mulan=None) -> FadResult:
    """FAD between the clips of folder ``generated`` and folder ``reference`` in ``embedding``'s space,
    computed by fadtk (``mulan``: our MuLan, needed for the ``mulan`` embedding)."""
    if embedding not in EMBEDDINGS:
        raise ValueError(f"Unknown --fad-embedding {embedding!r}; choose one of: {', '.join(EMBEDDINGS)}.")
    fadtk = import_fadtk()
    if embedding == MULAN:
        if mulan is None:
            raise ValueError("--fad-embedding mulan needs a MuLan: give --pipeline (default: the shipped model).")
        loader = mulan_embedding(mulan)
        loader.load_model()
    else:
        loader = field_embedding(embedding)
    from ..audio import prepare_audio

    class Fad(fadtk.FrechetAudioDistance):
        def load_audio(self, f):  # ours: any format and rate, mono, at the embedding's rate (no torchaudio)
            audio = prepare_audio(str(f), target_sample_rate=self.ml.sr).audio.numpy()
            return self.ml.enforce_min_len(audio)

    grad = torch.is_grad_enabled()  # fadtk switches autograd off for the whole process
    try:
        fad = Fad(loader, audio_load_worker=1, load_model=False)
        counts = {}
        for folder in (reference, generated):
            files = audio_files(folder)
            for path in files:
                fad.cache_embedding_file(path)
            counts[folder] = len(files)
        value = float(fad.score(reference, generated))
    finally:
        torch.set_grad_enabled(grad)
    return FadResult(embedding, loader.name, value, reference, generated, counts[reference], counts[generated])


def write_clips(clips: list[torch.Tensor], folder: str, sample_rate: int) -> str:
    """Clips as ``folder/00000.wav`` ... (a fresh folder: fadtk caches embeddings and statistics beside them)."""
    from ..audio import save_audio

    if os.path.isdir(folder) and os.listdir(folder):
        raise ValueError(f"{folder!r} is not empty: fadtk would reuse stale embeddings there; choose a new folder.")
    for n, clip in enumerate(clips):
        save_audio(os.path.join(folder, f"{n:05d}.wav"), clip, sample_rate)
    return folder


def fadtk_folders(generated: list[torch.Tensor], reference: list[torch.Tensor], sample_rate: int, folder: str,
                  embeddings, mulan=None) -> list[dict]:
    """FAD of generated clips against reference clips in each of ``embeddings``: the clips are written to
    ``folder/generated`` and ``folder/reference`` and scored by ``fadtk_fad`` (``FadResult`` dicts)."""
    gen = write_clips(generated, os.path.join(folder, "generated"), sample_rate)
    ref = write_clips(reference, os.path.join(folder, "reference"), sample_rate)
    return [fadtk_fad(ref, gen, name, mulan).to_dict() for name in embeddings]


def own_fad(reference: str, generated: str, mulan) -> float:
    """Our FAD (``eval.fad``) of the same two folders on the same MuLan frames (``mulan_frames``): the
    figure fadtk's must equal."""
    from ..audio import prepare_audio
    from .fad import fad

    files = {folder: audio_files(folder) for folder in (reference, generated)}

    def embed(folder: str) -> torch.Tensor:
        return torch.cat([mulan_frames(mulan, prepare_audio(f, target_sample_rate=mulan.config.sample_rate).audio)
                          for f in files[folder]])

    return fad(embed(generated), embed(reference))


def fad_table(results: list[FadResult]) -> str:
    """Markdown: one row per embedding, saying what each number was measured with."""
    lines = ["| embedding | fadtk model | FAD | reference clips | generated clips |", "|---|---|---|---|---|"]
    lines += [f"| {r.embedding} | {r.model} | {r.fad:.4f} | {r.reference_clips} | {r.generated_clips} |" for r in results]
    return "\n".join(lines)


def fad_command(reference: str, generated: str, embeddings: list[str], pipeline: Optional[str] = None,
                device: Optional[str] = None) -> list[FadResult]:
    """``musiclm-studio fad``: FAD with each embedding in ``embeddings`` (MuLan from ``pipeline``)."""
    mulan = None
    if MULAN in embeddings:
        from ..components import load_trained

        mulan = load_trained("mulan", pipeline).to(device or "cpu") if pipeline else _shipped_mulan(device)
    return [fadtk_fad(reference, generated, name, mulan) for name in embeddings]


def _shipped_mulan(device: Optional[str]):
    from ..pipeline import MusicLMPipeline

    return MusicLMPipeline.from_pretrained(None, device=device, int8=False).components.mulan
