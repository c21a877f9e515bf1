"""The pipeline's components: building them from a config, checking that they fit together,
and saving / loading them as one folder per component (see ``hub.py`` for the format).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Optional

import torch

from . import hub
from .config import (AttributeReaderConfig, AttributeValues, CodecConfig, ConditionStream, CriticConfig, MelodyConfig,
                     MuLanConfig, PipelineConfig, SemanticTokenizerConfig, StageLMConfig, beat_stream, key_stream)
from .models.attribute_reader import AttributeReader
from .models.codec import SoundStreamCodec
from .models.critic import AttributeCritic
from .models.lm import StageLM, build_stage_lm, same_codebook
from .models.melody_tokenizer import MelodyTokenizer
from .models.mulan import MuLan, build_mulan
from .models.semantic_tokenizer import SemanticTokenizer

# component name -> (config class, model builder: config -> module); the order is the data flow, the
# optional ones last (built in this order from one seed: a component added later leaves the others' weights)
COMPONENT_TYPES = {
    "mulan": (MuLanConfig, build_mulan),
    "melody": (MelodyConfig, MelodyTokenizer),
    "semantic_tokenizer": (SemanticTokenizerConfig, SemanticTokenizer),
    "semantic_lm": (StageLMConfig, build_stage_lm),
    "coarse_lm": (StageLMConfig, build_stage_lm),
    "fine_lm": (StageLMConfig, build_stage_lm),
    "codec": (CodecConfig, SoundStreamCodec),
    "critic": (CriticConfig, AttributeCritic),
    "attribute_reader": (AttributeReaderConfig, AttributeReader),
}
OPTIONAL_COMPONENTS = ("critic", "attribute_reader")  # a pipeline may leave these out (config None)
# A critic saved before its attribute reader was split off it held both in one folder ("critic"):
# the weights each side takes from it, by name. Its config.json holds both sides' keys.
JOINT_CRITIC = {"critic": ("tokens.", "audio_heads.", "tempo_from_lags."), "attribute_reader": ("text.", "text_heads.")}
PIPELINE_KEYS = ("name", "max_duration_s", "overlap_s", "num_candidates", "output_level_db", "sings")


@dataclass
class Components:
    mulan: MuLan
    melody: MelodyTokenizer
    semantic_tokenizer: SemanticTokenizer
    semantic_lm: StageLM
    coarse_lm: StageLM
    fine_lm: StageLM
    codec: SoundStreamCodec
    critic: Optional[AttributeCritic] = None
    attribute_reader: Optional[AttributeReader] = None
    untrained: set[str] = field(default_factory=set)  # components still at their random initialisation
    float_lms: dict = field(default_factory=dict)  # float originals of int8-quantized LMs (see quantize_lms)

    @classmethod
    def build(cls, config: PipelineConfig) -> "Components":
        """Freshly initialised components (all marked untrained)."""
        built = {name: model(getattr(config, name)) for name, (_, model) in COMPONENT_TYPES.items()
                 if getattr(config, name) is not None}
        components = cls(**built, untrained={n for n, m in built.items() if isinstance(m, torch.nn.Module)})
        components.fill_mulan_codes()
        return components

    def fill_mulan_codes(self) -> None:
        """The LMs read MuLan tokens through the pipeline MuLan's code vectors (they do not save a copy).
        A stream that names no quantizer yet (a fresh LM) is bound to this one."""
        vectors = self.mulan.code_vectors()
        for lm, stream in self.mulan_code_streams():
            if lm.conditions[stream.name].codebook.shape == vectors.shape:  # else check_contracts says what differs
                lm.set_codebook(stream.name, vectors, bind=stream.codebook_fingerprint is None)

    def mulan_code_streams(self) -> list[tuple[StageLM, ConditionStream]]:
        """(LM, stream) pairs that embed MuLan tokens through MuLan's own code vectors."""
        return [(lm, s) for lm in (self.semantic_lm, self.coarse_lm) for s in lm.config.conditions
                if s.name == "mulan" and s.codebook_dim]

    def modules(self) -> dict[str, torch.nn.Module]:
        """The components that hold weights (all but the melody tokenizer)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), torch.nn.Module)}

    def mark_trained(self, name: str, module: torch.nn.Module) -> None:
        """Swap in a trained component (its config must match the pipeline's)."""
        setattr(self, name, module)
        self.untrained.discard(name)
        self.fill_mulan_codes()

    @property
    def int8(self) -> bool:
        """True when the three LMs' linear layers hold int8 weights (CPU inference only)."""
        return bool(self.float_lms)

    def saved_modules(self) -> dict[str, torch.nn.Module]:
        """``modules()`` as they are saved and counted: int8 LMs stand for their float originals."""
        return self.modules() | self.float_lms

    def quantize_lms(self) -> None:
        """Int8 weights for every linear layer of the three LMs (dynamic quantization: activations
        stay float, each matmul reads a quarter of the bytes). CPU only. The float originals are
        kept (about 70 MB for the small LMs), so saving writes the float weights."""
        import copy
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch marks its int8 tensor API deprecated; our pinned torch has it
            warnings.simplefilter("ignore")
            for name in ("semantic_lm", "coarse_lm", "fine_lm"):
                self.float_lms[name] = copy.deepcopy(getattr(self, name))
                quantize_dynamic(getattr(self, name), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)

    def to(self, device: torch.device) -> "Components":
        if self.int8 and device.type != "cpu":
            raise ValueError("This pipeline's LMs are int8 for CPU speed and cannot move to "
                             f"{device.type}; load it with from_pretrained(..., int8=False) to use a GPU.")
        for module in self.modules().values():
            module.to(device).eval()
        return self


def check_contracts(config: PipelineConfig, c: Components) -> None:
    """Sample rates, frame rates, vocab sizes and level counts must agree between stages."""
    codec, sem = config.codec, config.semantic_tokenizer
    problems = []
    rates = {"codec": codec.sample_rate, "mulan": config.mulan.sample_rate, "melody": config.melody.sample_rate,
             "semantic_tokenizer": sem.sample_rate}
    if len(set(rates.values())) != 1:
        problems.append(f"sample rates differ: {rates}")
    acoustic_rate = codec.sample_rate / codec.hop_length
    expect = {
        "semantic_lm": (sem.codebook_size, 1, sem.frame_rate),
        "coarse_lm": (codec.codebook_size, codec.num_coarse_quantizers, acoustic_rate),
        "fine_lm": (codec.codebook_size, codec.num_quantizers - codec.num_coarse_quantizers, acoustic_rate),
    }
    for name, (vocab, levels, rate) in expect.items():
        lm = getattr(config, name)
        if (lm.vocab_size, lm.num_levels, float(lm.frame_rate)) != (vocab, levels, float(rate)):
            problems.append(f"{name} predicts {lm.num_levels} x {lm.vocab_size} at {lm.frame_rate} Hz; "
                            f"expected {levels} x {vocab} at {rate} Hz")
    streams = {"mulan": config.mulan.codebook_size, "melody": config.melody.vocab_size,
               "semantic": sem.codebook_size, "coarse": codec.codebook_size}
    streams["beat"], streams["key"] = beat_stream().vocab_size, key_stream().vocab_size
    critic, reader = config.critic, config.attribute_reader
    if reader is not None:
        streams["attributes"] = reader.attribute_stream().vocab_size
    heard = {"attributes": "what the prompt asks (tempo, mode, drums, lead family)",
             "beat": "the beat grid of the tempo the prompt asks for"}
    for name in ("semantic_lm", "coarse_lm", "fine_lm"):
        for s in getattr(config, name).conditions:
            if s.name in heard and reader is None:
                problems.append(f"{name} conditions on {heard[s.name]}, which the attribute reader reads from the "
                                "prompt: assemble the reader it was trained with "
                                "(musiclm-studio assemble --component attribute_reader=RUN)")
            elif streams.get(s.name) != s.vocab_size:
                problems.append(f"{name} condition {s.name!r} has vocab {s.vocab_size}, its source has {streams.get(s.name)}")
    problems += _attribute_contracts(config, acoustic_rate)
    if acoustic_rate % sem.frame_rate:
        problems.append(f"acoustic frame rate {acoustic_rate} is not a multiple of the semantic {sem.frame_rate}")
    for lm, stream in c.mulan_code_streams():
        if stream.codebook_dim != config.mulan.embed_dim or stream.fixed_length != config.mulan.num_quantizers:
            problems.append(f"{lm.config.name} LM embeds MuLan tokens as {stream.fixed_length} x {stream.codebook_dim}-d "
                            f"codes; MuLan has {config.mulan.num_quantizers} x {config.mulan.embed_dim}")
        elif stream.codebook_fingerprint and not same_codebook(stream.codebook_fingerprint, c.mulan.code_vectors()):
            problems.append(f"{lm.config.name} LM was trained on another MuLan quantizer than the pipeline's: "
                            "rebuild the token cache with this MuLan and retrain the LM, or keep the LM and map it "
                            "onto this MuLan (musiclm-studio assemble --map-mulan CORPUS)")
    probe = None
    for name in ("semantic_lm", "coarse_lm"):
        expected = getattr(config, name).semantic_tokenizer_fingerprint
        if expected is None or name in c.untrained or "semantic_tokenizer" in c.untrained:
            continue
        probe = probe or c.semantic_tokenizer.probe_tokens()
        if len(expected) != len(probe) or sum(a == b for a, b in zip(expected, probe)) < 0.9 * len(probe):
            problems.append(f"{name} was trained on another semantic tokenizer's tokens than the pipeline's: "
                            "ship it with that tokenizer, or rebuild the token cache with this one "
                            "(train tokens --semantic RUN --reuse CACHE) and retrain the LM")
    for name, model in c.modules().items():
        if model.config != getattr(config, name):
            problems.append(f"component {name!r} was built from a different config than pipeline.json says")
    if problems:
        raise ValueError("The pipeline's components do not fit together:\n- " + "\n- ".join(problems))


def _attribute_contracts(config: PipelineConfig, acoustic_rate: float) -> list[str]:
    """The critic reads the codec's coarse levels and scores them against what the reader reads from
    MuLan's text features, over the same attribute values."""
    codec, critic, reader, problems = config.codec, config.critic, config.attribute_reader, []
    if critic is not None and reader is None:
        problems.append("the attribute critic scores candidates against what the attribute reader reads from the "
                        "prompt: assemble the reader trained with it (musiclm-studio assemble --component "
                        "attribute_reader=RUN)")
    if critic is not None and ((critic.vocab_size, critic.num_levels, float(critic.frame_rate))
                               != (codec.codebook_size, codec.num_coarse_quantizers, acoustic_rate)):
        problems.append(f"critic reads {critic.num_levels} x {critic.vocab_size} tokens at {critic.frame_rate} Hz; the "
                        f"codec's coarse levels are {codec.num_coarse_quantizers} x {codec.codebook_size} at {acoustic_rate} Hz")
    if reader is not None and reader.text_dim != config.mulan.text_dim:
        problems.append(f"attribute reader reads {reader.text_dim}-d text features; MuLan's text encoder gives "
                        f"{config.mulan.text_dim}-d")
    values = [f.name for f in fields(AttributeValues)]
    if critic is not None and reader is not None and any(getattr(critic, v) != getattr(reader, v) for v in values):
        problems.append("the attribute critic and reader read different values (tempo bins, bpm range or lead "
                        "families): assemble the two trained together")
    return problems


def is_joint_critic(folder: str) -> bool:
    """Whether ``folder`` holds a critic saved with its attribute reader in one (``JOINT_CRITIC``)."""
    path = os.path.join(folder, "config.json")
    return os.path.isfile(path) and {"text_dim", "vocab_size"} <= set(hub.read_json(path))


def trained_folder(path: str | None, name: str) -> str:
    """The folder holding a component's trained weights: ``path/name`` (a pipeline), ``path/name/last``
    or ``path/last`` (a training run), or ``path`` itself (a component folder); None = the shipped
    pipeline. The attribute reader may also sit in a joint critic folder (``JOINT_CRITIC``)."""
    folder = hub.DEFAULT_PIPELINE if path is None else path
    candidates = [os.path.join(folder, name), os.path.join(folder, name, "last"), os.path.join(folder, "last"), folder]
    if name == "attribute_reader":
        candidates += [c for c in (os.path.join(folder, "critic"), os.path.join(folder, "critic", "last"))
                       if is_joint_critic(c)]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "model.safetensors")) and (
                name in JOINT_CRITIC or not is_joint_critic(candidate)):
            return candidate
    raise ValueError(f"No trained {name} weights under {folder!r}: pass a pipeline, a {name} folder or a "
                     "training run folder (see musiclm-studio train --help).")


def component_config(folder: str, name: str):
    """A component's config from its folder's config.json; a joint critic folder gives either side's."""
    config_cls = COMPONENT_TYPES[name][0]
    data = hub.read_json(os.path.join(folder, "config.json"))
    if name in JOINT_CRITIC and is_joint_critic(folder):
        data = {key: value for key, value in data.items() if key in {f.name for f in fields(config_cls)}}
    return config_cls.from_dict(data)


def load_weights(folder: str, name: str, module: torch.nn.Module) -> torch.nn.Module:
    """A component's model.safetensors into ``module``; a joint critic folder gives either side's weights."""
    joint = name in JOINT_CRITIC and is_joint_critic(folder)
    return hub.load_state(folder, module, JOINT_CRITIC[name] if joint else None)


def load_trained(name: str, path: str | None = None) -> torch.nn.Module:
    """One trained component (see ``trained_folder``), built from its config.json, in eval mode."""
    folder = trained_folder(path, name)
    build = COMPONENT_TYPES[name][1]
    return load_weights(folder, name, build(component_config(folder, name))).eval()


def present(config: PipelineConfig) -> list[str]:
    """The components this config has (optional ones only when configured), in data-flow order."""
    return [name for name in COMPONENT_TYPES if getattr(config, name) is not None]


def save_components(folder: str, config: PipelineConfig, c: Components, dtype: torch.dtype | None = None,
                    placeholder_seed: int | None = None) -> None:
    """Save every component. With ``placeholder_seed``, untrained components are saved as
    config only and rebuilt from that seed on load (no random weights in git)."""
    os.makedirs(folder, exist_ok=True)
    skip = set(c.untrained) if placeholder_seed is not None else set()
    index = {"format": hub.FORMAT, "version": hub.VERSION, **{k: getattr(config, k) for k in PIPELINE_KEYS},
             "components": present(config), "untrained": sorted(c.untrained)}
    if skip:
        index["placeholder_seed"] = placeholder_seed
    hub.write_json(os.path.join(folder, "pipeline.json"), index)
    modules = c.saved_modules()
    for name in present(config):
        sub = os.path.join(folder, name)
        hub.save_component(sub, getattr(config, name), None if name in skip else modules.get(name), dtype)
        if name in skip and os.path.exists(os.path.join(sub, "model.safetensors")):
            os.remove(os.path.join(sub, "model.safetensors"))


def load_components(folder: str) -> tuple[PipelineConfig, Components]:
    index = hub.read_json(os.path.join(folder, "pipeline.json"))
    if index.get("format") != hub.FORMAT:
        raise ValueError(f"{folder!r} is not a MusicLM Studio pipeline (format {index.get('format')!r}).")
    if index.get("version", 0) > hub.VERSION:
        raise ValueError(f"{folder!r} was saved by a newer version (format {index['version']}); upgrade musiclm-studio.")
    listed = index.get("components", list(COMPONENT_TYPES))
    folders = {name: os.path.join(folder, name) for name in COMPONENT_TYPES
               if name not in OPTIONAL_COMPONENTS or name in listed}
    untrained = set(index.get("untrained", []))
    if "critic" in folders and is_joint_critic(folders["critic"]):  # saved before the reader was split off
        folders["attribute_reader"] = folders["critic"]
        if "critic" in untrained:
            untrained.add("attribute_reader")  # the reader was the untrained critic's text side
    configs = {name: component_config(sub, name) for name, sub in folders.items()}
    config = PipelineConfig(**configs, **{k: index[k] for k in PIPELINE_KEYS if k in index})
    seed = index.get("placeholder_seed")
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
        torch.manual_seed(0 if seed is None else seed)  # placeholders: the same weights as from_config(seed)
        components = Components.build(config)
    for name, module in components.modules().items():
        weights = os.path.join(folders[name], "model.safetensors")
        if seed is not None and name in untrained and not os.path.exists(weights):
            continue  # a labelled placeholder: keep the seeded initialisation
        load_weights(folders[name], name, module)
    components.fill_mulan_codes()
    components.untrained = untrained
    return config, components.to(torch.device("cpu"))
