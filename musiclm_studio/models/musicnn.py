"""musicnn (Pons & Serra, ISMIR 2019 late-breaking demo): a music tagger pretrained on real recordings.

A small CNN (792k parameters) trained by the Music Technology Group (UPF) to tag MagnaTagATune
(``MTT``: 50 tags such as guitar, piano, strings, techno, choir) or the Million Song Dataset
(``MSD``: 50 tags, mostly genres). It heard tens of thousands of produced recordings, so it tells a
piano from a guitar in sound worlds our corpora never render; MuLan's audio tower can use it as a
frozen branch (``MuLanConfig.musicnn``). This is the network of the ``musicnn`` package (ISC
licence), written again in torch; ``scripts/convert_musicnn.py`` turns that wheel's TensorFlow
checkpoints into our safetensors.

Its input is a log-compressed 96-band mel spectrogram of 16 kHz audio (512-point frames every 256
samples) in 3-s patches of 187 frames. At 24 kHz the same frames are 768 points every 384 samples
with the mel bands below 8 kHz, so the audio is not resampled.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MTT_TAGS = ("guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
            "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
            "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal",
            "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
            "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
            "choral")
MSD_TAGS = ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
            "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
            "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
            "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
            "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
            "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy")
TAGS = {"MTT": MTT_TAGS, "MSD": MSD_TAGS}

PATCH = 187  # frames: the 3-s patches the taggers were trained on
N_MELS = 96
ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets", "musicnn")
FEATURES = 2 * (561 + 3 * 64)  # the pooled features: max and mean over time of 753 front- and mid-end channels


class _BatchNorm(nn.Module):
    """TensorFlow's inference batch normalisation over the last axis (epsilon 1e-3)."""

    def __init__(self, n: int):
        super().__init__()
        for name, value in (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0), ("moving_variance", 1.0)):
            self.register_buffer(name, torch.full((n,), value))

    def scale(self) -> torch.Tensor:
        return self.gamma / torch.sqrt(self.moving_variance + 1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # channels last
        return (x - self.moving_mean) * self.scale() + self.beta


class Musicnn(nn.Module):
    """The musicnn tagger at 24 kHz, frozen (its weights are buffers, saved with the module that holds it).

    ``frames`` runs the convolutional front- and mid-end over audio of any length, ``pool`` takes the
    max and mean over time (the features MuLan's branch uses), ``head`` gives the tags. The taggers
    were trained on 3-s patches; ``tags`` reads a clip that way.
    """

    def __init__(self, sample_rate: int = 24_000, midend: int = 64, backend: int = 200, classes: int = 50):
        super().__init__()
        import librosa

        self.n_fft, self.hop = sample_rate * 512 // 16_000, sample_rate * 256 // 16_000
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        basis = librosa.filters.mel(sr=sample_rate, n_fft=self.n_fft, n_mels=N_MELS, fmax=8000.0)
        # the same triangles as at 16 kHz (same bin spacing); power rescaled to a 512-point frame's
        self.register_buffer("mel_basis", torch.tensor(basis * (512 / self.n_fft) ** 2, dtype=torch.float32),
                             persistent=False)
        pooled = 2 * (561 + 3 * midend)
        self.norms = nn.ModuleList(_BatchNorm(n) for n in (1, 204, 204, 51, 51, 51, midend, midend, midend,
                                                           pooled, backend))
        shapes = {"timbral_74": (204, 1, 7, 38), "timbral_77": (204, 1, 7, 67), "temporal_128": (51, 1, 128, 1),
                  "temporal_64": (51, 1, 64, 1), "temporal_32": (51, 1, 32, 1), "mid_1": (midend, 1, 7, 561),
                  "mid_2": (midend, 1, 7, midend), "mid_3": (midend, 1, 7, midend)}
        for name, shape in shapes.items():
            self.register_buffer(f"{name}_weight", torch.zeros(shape))
            self.register_buffer(f"{name}_bias", torch.zeros(shape[0]))
        self.register_buffer("dense_weight", torch.zeros(backend, pooled))
        self.register_buffer("dense_bias", torch.zeros(backend))
        self.register_buffer("out_weight", torch.zeros(classes, backend))
        self.register_buffer("out_bias", torch.zeros(classes))

    @classmethod
    def pretrained(cls, name: str, sample_rate: int = 24_000, folder: str = ASSETS) -> "Musicnn":
        """The MTT or MSD tagger, from ``folder``/``name``.safetensors (``scripts/convert_musicnn.py``)."""
        from safetensors.torch import load_file

        path = os.path.join(folder, f"{name}.safetensors")
        if name not in TAGS:
            raise ValueError(f"Unknown musicnn tagger {name!r}: use one of {', '.join(TAGS)}.")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: run `python scripts/convert_musicnn.py` to convert the "
                                    "taggers from the musicnn wheel.")
        model = cls(sample_rate)
        model.load_state_dict(load_file(path))
        return model.eval()

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, S] -> log10(1 + 10^4 mel power) [B, T, 96], frames centred as librosa's."""
        spec = torch.stft(audio.float(), self.n_fft, self.hop, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        return torch.log10(1 + 10_000 * (self.mel_basis @ spec.abs().pow(2))).transpose(1, 2)

    def _block(self, name: str, x: torch.Tensor, norm: int) -> torch.Tensor:
        """conv -> ReLU -> batch norm -> max over the frequency axis: [B, 1, T, F] -> [B, T, C].

        Bias, ReLU and the per-channel affine norm are monotonic, so the max over frequency is taken
        first (the min where the norm's scale is negative): only the small map is normed.
        """
        low, high = F.conv2d(x, getattr(self, f"{name}_weight")).aminmax(dim=-1)  # [B, C, T]
        bn = self.norms[norm]
        picked = torch.where((bn.scale() > 0)[None, :, None], high, low) + getattr(self, f"{name}_bias")[None, :, None]
        return bn(F.relu(picked).transpose(1, 2))

    def frames(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel [N, T, 96] -> the front- and mid-end features of every frame [N, T, 753]."""
        x = self.norms[0](mel[..., None]).permute(0, 3, 1, 2)  # [N, 1, T, 96]
        timbral = F.pad(x, (0, 0, 3, 3))
        front = [self._block("timbral_74", timbral, 1), self._block("timbral_77", timbral, 2)]
        for i, k in enumerate((128, 64, 32)):
            front.append(self._block(f"temporal_{k}", F.pad(x, (0, 0, (k - 1) // 2, k // 2)), 3 + i))  # TF's "same"
        layers = [torch.cat(front, -1)]  # [N, T, 561]
        for i, name in enumerate(("mid_1", "mid_2", "mid_3")):
            weight, bias = getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias")
            z = F.relu(F.conv2d(F.pad(layers[-1], (0, 0, 3, 3))[:, None], weight, bias)).squeeze(-1).transpose(1, 2)
            z = self.norms[6 + i](z)
            layers.append(z if i == 0 else z + layers[-1])  # dense then residual connections
        return torch.cat(layers, -1)

    @staticmethod
    def pool(features: torch.Tensor) -> torch.Tensor:
        """Frame features [N, T, 753] -> max and mean over time [N, 1506], in the checkpoint's order."""
        return Musicnn.combine(features, features)

    def segments(self, audio: torch.Tensor, segment: int) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, S] -> per ``segment`` samples, the max and the mean of its frames' features
        ([B, n, 753] each; a frame belongs to the segment of its centre). ``combine`` of a run of
        segments gives the pooled features of that stretch of the clip, heard with its surroundings."""
        features = self.frames(self.log_mel(audio))  # [B, T, 753]
        count = -(-audio.shape[-1] // segment)
        owner = (torch.arange(features.shape[1], device=audio.device) * self.hop // segment).clamp(max=count - 1)
        maxes = torch.stack([features[:, owner == n].amax(1) for n in range(count)], 1)
        means = torch.stack([features[:, owner == n].mean(1) for n in range(count)], 1)
        return maxes, means

    @staticmethod
    def combine(maxes: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """Segments' maxes and means [..., n, 753] -> the pooled features of them together [..., 1506]."""
        return torch.stack([maxes.amax(-2), means.mean(-2)], -1).flatten(-2)

    def head(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features -> (tag logits [N, 50], the penultimate layer [N, 200])."""
        hidden = self.norms[10](F.relu(F.linear(self.norms[9](pooled), self.dense_weight, self.dense_bias)))
        return F.linear(hidden, self.out_weight, self.out_bias), hidden

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, S] -> pooled features over the whole clip [B, 1506]."""
        return self.pool(self.frames(self.log_mel(audio)))

    def tags(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, S] -> tag probabilities [B, 50], averaged over 3-s patches as the taggers were trained."""
        mel = self.log_mel(audio)
        if mel.shape[1] < PATCH:  # a short clip repeats, as musicnn's own reader does
            mel = mel.repeat(1, -(-PATCH // mel.shape[1]), 1)[:, :PATCH]
        count = mel.shape[1] // PATCH
        patches = mel[:, : count * PATCH].reshape(-1, PATCH, N_MELS)
        logits = self.head(self.pool(self.frames(patches)))[0]
        return torch.sigmoid(logits).view(audio.shape[0], count, -1).mean(1)


def tensorflow_names() -> dict[str, tuple[str, bool]]:
    """Our buffer name -> (the musicnn checkpoint's variable, whether a conv / dense kernel to transpose)."""
    names = {}
    for i in range(11):
        tf = "batch_normalization" + ("" if i == 0 else f"_{i}")
        for part in ("gamma", "beta", "moving_mean", "moving_variance"):
            names[f"norms.{i}.{part}"] = (f"{tf}/{part}", False)
    for i, name in enumerate(("timbral_74", "timbral_77", "temporal_128", "temporal_64", "temporal_32",
                              "mid_1", "mid_2", "mid_3")):
        tf = "conv2d" + ("" if i == 0 else f"_{i}")
        names[f"{name}_weight"], names[f"{name}_bias"] = (f"{tf}/kernel", True), (f"{tf}/bias", False)
    names["dense_weight"], names["dense_bias"] = ("dense/kernel", True), ("dense/bias", False)
    names["out_weight"], names["out_bias"] = ("dense_1/kernel", True), ("dense_1/bias", False)
    return names


def from_tensorflow(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The musicnn checkpoint's variables -> this module's state dict (kernels to torch's layout)."""
    state = {}
    for ours, (theirs, kernel) in tensorflow_names().items():
        value = np.asarray(variables[theirs], dtype=np.float32)
        if kernel:  # conv [kh, kw, in, out] -> [out, in, kh, kw]; dense [in, out] -> [out, in]
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        state[ours] = torch.from_numpy(np.ascontiguousarray(value))
    return state
