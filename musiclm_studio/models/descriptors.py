"""Key and tempo, read by rules from a prompt and by analysers from audio: MuLan's descriptor score.

MuLan's learned audio tower hears key and tempo only as the timbres it trained on play them. In a
sound world it never heard (corpus v2's held-out SoundFont) its zero-shot mode stays at the majority
rate (docs/experiments/wider_world.md). A key and a tempo are facts of pitch classes and onsets, not
of timbre, and both sides can read them without learning:

- text: the key a prompt states (``vocab.musical_key.stated_key``: 'B flat major', 'Bb', 'in minor')
  and its tempo (``conditioning.prompt_reader``: a number, else a tempo word's band);
- audio: a key reader over the analysers' treble and bass chroma (``analysis.chroma_profiles``) and
  librosa's tempo. The key reader scores each of the 24 keys with a major and a minor profile per
  register, rolled onto the tonic: Krumhansl-Schmuckler's idea, with the profiles fitted to produced
  music by ``fit_key_profiles`` (a 24-way logistic regression, 50 numbers) on corpus v2's training
  split instead of taken from listening tests (``scripts/fit_key_profiles.py``).

``agreement`` scores every (text, audio) pair: ``key`` x log p(the stated key, or mode | the audio),
p the key reader's softmax, plus ``tempo`` x how near the audio's tempo lies to the stated one, or
inside the stated word's band (half and double time count half: beat trackers often lock onto
either). A prompt that states neither scores 0 against every clip, so it ranks by the learned
cosine alone. ``MuLan.similarity`` adds the score to the learned cosine; the MuLan
tokens, and so the LMs, are untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from .. import analysis
from ..conditioning.prompt_reader import TEMPO_CLASSES, stated_number, tempo_class
from ..vocab.musical_key import stated_key

STATED_TOLERANCE = 0.04  # a stated bpm's half-width in log-tempo (4 %: the corpus's own tempo check is 8 %)
TEMPO_SPREAD = 0.06  # log-tempo beyond the stated band where the match has fallen to e^-0.5
OCTAVE_CREDIT = 0.5  # half or double the stated tempo: beat trackers often lock onto either
# The key reader's profiles (degrees 0-11 above the tonic; row 0 major, row 1 minor), fitted by
# `python scripts/fit_key_profiles.py --data corpus/v2` on corpus v2's 2,507 training clips (seed 0):
# exact key 0.810, mode 0.873 on its 158 valid clips, where analysis.best_key reads 0.665 and 0.747.
KEY_PROFILES = {
    "treble": [[1.9309, -1.9614, 0.7279, -0.7591, 1.3063, 0.7213, -2.5607, 2.2785, -1.7996, 0.9369, -1.3782, -0.0973],
               [2.1230, -2.1217, 0.2110, 1.9751, -1.9342, 0.9465, -1.4852, 1.4461, 0.1099, -1.4642, 0.6140, -0.9595]],
    "bass": [[2.0795, -0.0478, -0.6278, -0.6366, -1.0835, 0.3536, 0.2931, 1.2727, -0.0277, -0.2858, -1.1058, -0.1838],
             [2.0426, 0.5654, -0.1196, -1.6829, -0.3664, -0.1260, 0.1144, 0.1816, -0.6178, -0.1373, -0.5515, 0.6979]],
    "bias": [-0.1583, 0.1583],
}


@dataclass(frozen=True)
class DescriptorWeights:
    """How much the rule-read key and tempo count beside MuLan's cosine (0 and 0: the cosine alone).

    They depend on how much the cosine already knows, so each MuLan carries its own
    (``MuLanConfig.descriptor_key`` / ``descriptor_tempo``), picked by ``choose_weights`` on a valid split.
    """

    key: float
    tempo: float

    @property
    def off(self) -> bool:
        return self.key == 0 and self.tempo == 0


KEY_GRID = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8)
TEMPO_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)


@dataclass
class TextFacts:
    """What prompts state: ``key_mask`` [N, 24] (major C..B, then minor C..B; all zero where no key or
    mode is stated), ``tempo_centre`` [N] (log bpm, NaN where no tempo is stated), ``tempo_halfwidth`` [N]."""

    key_mask: np.ndarray
    tempo_centre: np.ndarray
    tempo_halfwidth: np.ndarray


@dataclass
class AudioFacts:
    """What clips sound like: ``key_logits`` [M, 24] (the key reader's, in the order of ``TextFacts.key_mask``),
    ``tempo`` [M] bpm."""

    key_logits: np.ndarray
    tempo: np.ndarray


def read_texts(texts: Sequence[str]) -> TextFacts:
    """The key (or mode) and tempo each text states, read by the prompt reader's rules."""
    n = len(texts)
    mask = np.zeros((n, 2, 12))
    centre, halfwidth = np.full(n, np.nan), np.zeros(n)
    for i, text in enumerate(texts):
        tonic, mode = stated_key(text)
        if tonic is not None or mode is not None:
            modes = (0, 1) if mode is None else (("major", "minor").index(mode),)
            tonics = range(12) if tonic is None else (tonic,)
            for m in modes:
                mask[i, m, list(tonics)] = 1.0
        bpm = stated_number(text)
        if bpm is not None:
            centre[i], halfwidth[i] = math.log(bpm), STATED_TOLERANCE
        elif (name := tempo_class(text)) is not None:
            band = TEMPO_CLASSES[name]
            centre[i], halfwidth[i] = 0.5 * math.log(band.low * band.high), 0.5 * math.log(band.high / band.low)
    return TextFacts(mask.reshape(n, 24), centre, halfwidth)


def band_match(distance: np.ndarray, halfwidth, spread: float) -> np.ndarray:
    """How well a log-tempo ``distance`` from a stated tempo's centre fits its band: 1 within ``halfwidth``,
    falling off as a Gaussian of ``spread`` outside it."""
    return np.exp(-0.5 * (np.maximum(distance - halfwidth, 0.0) / spread) ** 2)


FACT_TEMPI = np.geomspace(50.0, 220.0, 12)  # bpm: the centres of the stated tempo's bins in ``fact_vectors``
FACT_DIM = 24 + len(FACT_TEMPI)


def fact_vectors(text: TextFacts) -> np.ndarray:
    """What prompts state as vectors [N, FACT_DIM] a network can read (``MuLanConfig.text_facts``): the
    stated key's mask over the 24 keys and the stated tempo over ``FACT_TEMPI``'s bins (flat inside the
    stated band, falling off outside it), each part summing to 1, or all zero where nothing is stated."""
    key = text.key_mask / np.maximum(text.key_mask.sum(1, keepdims=True), 1.0)
    stated = ~np.isnan(text.tempo_centre)
    centre = np.where(stated, text.tempo_centre, 0.0)[:, None]
    distance = np.abs(np.log(FACT_TEMPI)[None] - centre)
    tempo = band_match(distance, text.tempo_halfwidth[:, None], 0.5 * np.log(FACT_TEMPI[1] / FACT_TEMPI[0]))
    tempo = tempo * stated[:, None]
    tempo /= np.maximum(tempo.sum(1, keepdims=True), 1e-8)
    return np.concatenate([key, tempo], 1)


def read_audio(clips: Sequence, sample_rate: int, profiles: Optional[dict] = None) -> AudioFacts:
    """The key reader's logits and the tempo of each clip (numpy or torch, mono [S]): 0.03 s a 10-s clip on 2 cores."""
    treble, bass, tempo = [], [], []
    for clip in clips:
        y = analysis.to_mono_numpy(clip)
        if not np.any(y):  # silence: every key alike, no tempo to match
            treble.append(np.zeros(12))
            bass.append(np.zeros(12))
            tempo.append(0.0)
            continue
        t, b = analysis.chroma_profiles(y, sample_rate)
        treble.append(t)
        bass.append(b)
        tempo.append(analysis.estimate_tempo(y, sample_rate))
    logits = key_logits(np.reshape(treble, (-1, 12)), np.reshape(bass, (-1, 12)), profiles or KEY_PROFILES)
    return AudioFacts(logits, np.asarray(tempo, dtype=np.float64))


def on_tonics(x: torch.Tensor) -> torch.Tensor:
    """[N, 12] pitch-class profiles -> [N, 12 tonics, 12 degrees]: degree j of tonic k is pitch class k + j
    (what a key profile over the degrees is matched against; MuLan's key branch uses it too)."""
    degrees = torch.arange(12, device=x.device)
    return x[:, (degrees[:, None] + degrees[None, :]) % 12]


def standardised(x: torch.Tensor) -> torch.Tensor:
    """Each row [N, 12] to mean 0 and standard deviation 1 (a chroma profile's shape, not its level)."""
    return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-6)


def _as_float(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


def _key_logits(treble: torch.Tensor, bass: torch.Tensor, profiles: dict) -> torch.Tensor:
    rolled_treble, rolled_bass = on_tonics(treble), on_tonics(bass)
    return torch.cat([rolled_treble @ profiles["treble"][m] + rolled_bass @ profiles["bass"][m] + profiles["bias"][m]
                      for m in range(2)], 1)  # [N, 24]: major C..B, minor C..B


def key_logits(treble: np.ndarray, bass: np.ndarray, profiles: dict) -> np.ndarray:
    """[N, 24] logits of the 24 keys from treble [N, 12] and bass [N, 12] chroma (``analysis.chroma_profiles``)."""
    weights = {name: torch.tensor(value, dtype=torch.float32) for name, value in profiles.items()}
    return _key_logits(standardised(_as_float(treble)), _as_float(bass), weights).double().numpy()


def fit_key_profiles(treble: np.ndarray, bass: np.ndarray, keys: np.ndarray, steps: int = 600, lr: float = 0.05,
                     l2: float = 1e-3) -> dict:
    """Major and minor profiles per register (and a bias per mode) that read ``keys`` [N] (0-11 major C..B,
    12-23 minor) from chroma [N, 12] x 2, by a 24-way logistic regression (full-batch Adam; the profiles
    start flat, so the fit is deterministic). Returns lists, ready for ``KEY_PROFILES``."""
    treble_t, bass_t = standardised(_as_float(treble)), _as_float(bass)
    target = torch.as_tensor(np.asarray(keys), dtype=torch.long)
    if target.numel() != len(treble_t) or not ((target >= 0) & (target < 24)).all():
        raise ValueError("keys must give one key index (0-23) per clip.")
    weights = {"treble": torch.zeros(2, 12, requires_grad=True), "bass": torch.zeros(2, 12, requires_grad=True),
               "bias": torch.zeros(2, requires_grad=True)}
    optimiser = torch.optim.Adam(weights.values(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(_key_logits(treble_t, bass_t, weights), target)
        loss = loss + l2 * (weights["treble"].pow(2).sum() + weights["bass"].pow(2).sum())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return {name: [round(v, 4) for v in w.detach().flatten().tolist()] if w.ndim == 1 else
            [[round(v, 4) for v in row] for row in w.detach().tolist()] for name, w in weights.items()}


def key_agreement(text: TextFacts, audio: AudioFacts) -> np.ndarray:
    """[N texts, M clips]: log p(the stated key or mode | the clip); 0 where a text states none."""
    logits = audio.key_logits
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    stated = text.key_mask.any(1)
    return np.where(stated[:, None], np.log(text.key_mask @ p.T + 1e-3), 0.0)


def tempo_agreement(text: TextFacts, audio: AudioFacts) -> np.ndarray:
    """[N texts, M clips] in [0, 1]: 1 inside the stated tempo's band, falling off outside it; half or
    double time earn ``OCTAVE_CREDIT``; 0 where a text states no tempo or a clip has none."""
    heard = np.log(np.maximum(audio.tempo, 1.0))[None, :]
    out = np.zeros((len(text.tempo_centre), len(audio.tempo)))
    stated = ~np.isnan(text.tempo_centre)
    centre, halfwidth = np.where(stated, text.tempo_centre, 0.0)[:, None], text.tempo_halfwidth[:, None]
    for ratio, credit in ((1.0, 1.0), (0.5, OCTAVE_CREDIT), (2.0, OCTAVE_CREDIT)):
        out = np.maximum(out, credit * band_match(np.abs(heard - centre - math.log(ratio)), halfwidth, TEMPO_SPREAD))
    return np.where(stated[:, None] & (audio.tempo > 0)[None, :], out, 0.0)


def agreement(text: TextFacts, audio: AudioFacts, weights: DescriptorWeights) -> torch.Tensor:
    """The descriptor score [N texts, M clips] that ``MuLan.similarity`` adds to the cosine."""
    score = np.zeros((len(text.tempo_centre), len(audio.tempo)))
    if weights.key:
        score += weights.key * key_agreement(text, audio)
    if weights.tempo:
        score += weights.tempo * tempo_agreement(text, audio)
    return torch.from_numpy(score).float()


def choose_weights(cosine: torch.Tensor, text: TextFacts, audio: AudioFacts) -> tuple[DescriptorWeights, dict]:
    """The grid's weights (``KEY_GRID`` x ``TEMPO_GRID``) under which text i ranks clip i best: the highest
    mean reciprocal rank of the cosine [N, N] plus the descriptor score (the whole ranking counts:
    recall@10 saturates on a valid split the cosine already knows, 0.94-0.97), ties to the smaller
    weights. Returns them and their {"MRR", "R@1", "R@10"}, and the cosine's alone ("cosine MRR", ...)."""

    def measures(scores: torch.Tensor, prefix: str = "") -> dict[str, float]:
        ranks = (scores > scores.diagonal()[:, None]).sum(1).float()
        return {f"{prefix}MRR": float((1 / (ranks + 1)).mean()), f"{prefix}R@1": float((ranks < 1).float().mean()),
                f"{prefix}R@10": float((ranks < 10).float().mean())}

    key_part, tempo_part = (torch.from_numpy(key_agreement(text, audio)).float(),
                            torch.from_numpy(tempo_agreement(text, audio)).float())
    best = None
    for key in KEY_GRID:
        for tempo in TEMPO_GRID:
            found = measures(cosine + key * key_part + tempo * tempo_part)
            if best is None or found["MRR"] > best[0]["MRR"]:  # the grids ascend: a tie keeps the smaller weights
                best = (found, DescriptorWeights(key, tempo))
    return best[1], {**best[0], **measures(cosine, "cosine ")}
