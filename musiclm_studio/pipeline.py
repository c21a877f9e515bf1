"""MusicLMPipeline: text (and an optional melody) in, 24 kHz music out, one stage at a time.

    conditioning  prompt -> MuLan text embedding -> 12 MuLan tokens; melody -> melody tokens
    semantic      semantic LM: MuLan (+ melody) tokens -> semantic tokens, 25 Hz
    coarse        coarse LM: MuLan + semantic tokens -> 4 coarse codec levels, 50 Hz
    fine          fine LM: coarse tokens -> 8 fine codec levels, 50 Hz
    decode        codec decoder: 12 levels -> audio

Each stage is a public method so notebooks can run and inspect them one by one;
``__call__`` chains them in that order, keeps the best of several candidates (by the attribute
critic after the coarse stage where the pipeline has one, else by MuLan score after decoding)
and reports progress through one callback of ``StageEvent``s.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from typing import Callable, Optional, Sequence, Union

import torch

from . import hub
from .audio import AudioLike, auto_gain, prepare_audio
from .components import Components, check_contracts, load_components, save_components
from .config import STAGES, PipelineConfig, preset
from .generation import Segment, generate_windowed, per_segment
from .models.critic import ATTRIBUTE_NAMES, read_attribute_tokens, set_asked_tempo
from .modules.beat_grid import beat_tokens
from .modules.musical_key import NO_KEY, key_mode, key_name, key_token, stated_key
from .outputs import Conditioning, MusicLMOutput, StageEvent, TokenStreams
from .sampling_args import (SamplingArgs, check_bpm, check_key, check_sampling_args, check_seed, check_story,
                            stated_tempo)

Prompt = Union[str, Sequence[tuple[str, float]]]  # a prompt, or story mode: [(prompt, seconds), ...]
Callback = Callable[[StageEvent], None]

UNTRAINED_NOTICE = ("Untrained placeholder: {names} still have random weights, so the output is noise-like "
                    "sound, not music. It shows how the studio works; load a trained pipeline for real results.")


class MusicLMPipeline:
    """The whole MusicLM model: MuLan, melody and semantic tokenizers, three stage LMs, codec."""

    stages = STAGES

    def __init__(self, config: PipelineConfig, components: Components):
        check_contracts(config, components)
        self.config, self.components = config, components
        self.show_progress = True  # tqdm bars in terminals; UIs use the callback instead
        self.folder: str | None = None  # the folder from_pretrained read, where eval_summary.json may lie

    # ---- construction and saving ------------------------------------------------------
    @classmethod
    def from_config(cls, config: PipelineConfig | str = "small", seed: int = 0) -> "MusicLMPipeline":
        """A freshly initialised (untrained) pipeline of a config or preset name."""
        config = preset(config) if isinstance(config, str) else config
        torch.manual_seed(seed)
        return cls(config, Components.build(config).to(torch.device("cpu")))

    @classmethod
    def from_pretrained(cls, path_or_id: str | None = None, device: str | torch.device | None = None,
                        int8: bool | None = None) -> "MusicLMPipeline":
        """Load a saved pipeline (None = the default shipped in ``assets/``), offline.

        ``int8``: quantize the three LMs' linear layers to int8 (``quantize``); None = on a CPU.
        """
        folder = hub.resolve_pretrained(path_or_id)
        config, components = load_components(folder)
        pipe = cls(config, components)
        pipe.folder = folder
        if device is not None:
            pipe.to(device)
        if int8 or (int8 is None and pipe.device.type == "cpu"):
            pipe.quantize()
        return pipe

    def quantize(self) -> "MusicLMPipeline":
        """Int8 weights for the LMs' linear layers, for CPU inference. On a 2-core AVX2 CPU this
        took 10 s of audio from 6.9 s to 4.6 s; held-out token losses rose by 0.01-0.35 % (the
        model card has both). ``save_pretrained`` still writes the float weights; a quantized
        pipeline cannot move to a GPU (load it with ``int8=False`` there)."""
        if self.device.type != "cpu":
            raise ValueError("int8 quantization is for CPU inference; this pipeline is on "
                             f"{self.device.type}. Keep it in float there.")
        if not self.components.int8:
            self.components.quantize_lms()
        return self

    @property
    def int8(self) -> bool:
        return self.components.int8

    def save_pretrained(self, folder: str, dtype: torch.dtype | None = None, placeholder_seed: int | None = None) -> None:
        """Write ``pipeline.json`` and one sub-folder per component (safetensors + config.json).

        ``placeholder_seed`` saves untrained components as config only (rebuilt from the seed).
        """
        save_components(folder, self.config, self.components, dtype, placeholder_seed)

    @property
    def eval_summary(self) -> dict | None:
        """The measured figures ``musiclm-studio eval --write-summary`` stored beside the weights, or None."""
        path = os.path.join(self.folder, "eval_summary.json") if self.folder else None
        if path is None or not os.path.isfile(path):
            return None
        try:
            return hub.read_json(path)
        except ValueError:
            return None  # an unreadable summary only hides the panel's figures; generation is unaffected

    def to(self, device: str | torch.device) -> "MusicLMPipeline":
        self.components.to(torch.device(device))
        return self

    @property
    def device(self) -> torch.device:
        return self.components.codec.mel_basis.device

    @property
    def sample_rate(self) -> int:
        return self.config.codec.sample_rate

    @property
    def trained(self) -> bool:
        """True when every component has trained weights."""
        return not self.components.untrained

    @property
    def untrained_components(self) -> list[str]:
        return sorted(self.components.untrained)

    # ---- 1. conditioning --------------------------------------------------------------
    def encode_conditioning(
        self, prompt: Prompt, melody: Optional[AudioLike] = None, melody_sample_rate: Optional[int] = None,
        duration_s: Optional[float] = None, bpm: Optional[float] = None, key: Optional[str] = None,
        generator: Optional[torch.Generator] = None,
    ) -> Conditioning:
        """Prompt(s) -> MuLan embeddings and tokens per story segment; melody -> melody tokens; for
        LMs that hear a beat grid, each segment's tempo: ``bpm`` if given, else what its prompt asks;
        for LMs that hear a key, each segment's key: ``key`` ('A minor', or 'minor' on any tonic) if
        given, else what its prompt asks (``_keys``)."""
        story = [(prompt, duration_s)] if isinstance(prompt, str) else list(prompt)
        if not story:
            raise ValueError("Story mode needs at least one (prompt, seconds) segment.")
        texts = [text for text, _ in story]
        seconds = [float(s) if s is not None else None for _, s in story]
        mulan = self.components.mulan
        features = mulan.text_features(texts)  # validates the prompts
        embeddings = mulan.embed_text(texts, features=features)
        notices = [] if self.trained else [UNTRAINED_NOTICE.format(names=", ".join(self.untrained_components))]
        melody_tokens = None
        if melody is not None:
            prepared = prepare_audio(melody, melody_sample_rate, target_sample_rate=self.config.melody.sample_rate,
                                     max_seconds=min(self.config.max_duration_s, duration_s or math.inf),
                                     allow_silent=False, name="melody")  # only what the clip plays is read
            notices += prepared.notices
            melody_tokens = self.components.melody(prepared.audio)[None].to(self.device)  # [1, Tm]
        beat, hears_key = self._lms_hear("beat"), self._lms_hear("key")
        if bpm is not None:
            bpm = check_bpm(bpm, beat)
        if key is not None:
            key = check_key(key, hears_key)
        attributes, read, tempo = None, None, None
        if (beat or self._lms_hear("attributes") or hears_key) and self.components.critic is not None:
            critic = self.components.critic  # check_contracts: one exists where the LMs hear attributes or a grid
            # a tempo given, or stated as a number in the prompt, is taken as it is; else the critic reads one
            stated = [bpm if bpm is not None else stated_tempo(text) for text in texts]
            attributes = set_asked_tempo(critic.config, critic.asked_tokens(features.to(self.device)), stated)
            read = read_attribute_tokens(critic.config, attributes.cpu())
            if beat:
                tempo = [exact if exact is not None else said["tempo"] for exact, said in zip(stated, read)]
        keys = self._keys(texts, key, read, generator) if hears_key else None
        return Conditioning(prompts=texts, seconds=seconds, text_embeddings=embeddings, text_features=features,
                            mulan_tokens=mulan.tokenize(embeddings), melody_tokens=melody_tokens, notices=notices,
                            attribute_tokens=attributes, tempo_bpm=tempo, key_tokens=keys)

    @staticmethod
    def _keys(texts: list[str], key: Optional[tuple], read: Optional[list[dict]],
              generator: Optional[torch.Generator]) -> list[int]:
        """Each segment's key token: ``key`` (tonic or None, mode) if given, else the key its prompt
        states, else its mode word, else the mode the critic reads from it (``read``: its mood). A mode without
        a tonic keeps the tonic last named (the first one named, before any is), else one drawn from
        ``generator``, so a story that changes mode keeps its tonic. No mode: "no key", the LMs choose."""
        asked = [key if key is not None else stated_key(text) for text in texts]
        named = [t for t, _ in asked if t is not None]
        tonic = named[0] if named else int(torch.randint(0, 12, (1,), generator=generator))
        out = []
        for i, (asked_tonic, mode) in enumerate(asked):
            tonic = tonic if asked_tonic is None else asked_tonic
            if mode is None and read is not None:
                mode = read[i]["mode"]
            out.append(key_token(tonic, mode))
        return out

    @staticmethod
    def _keep_opening_beat_and_key(cond: Conditioning, bpm, key) -> Conditioning:
        """Conditioning for a continuation: the continued audio keeps its own beat and key, so the LMs
        get no beat grid and no key (asking for either is an error)."""
        if bpm is not None:
            raise ValueError("bpm lays a beat grid from the clip's first frame, which continued audio does not "
                             "share: leave bpm out when continuing (the continuation keeps the audio's tempo).")
        if key is not None:
            raise ValueError("key names the key the LMs play in, and continued audio keeps its own: leave key out "
                             "when continuing.")
        n = len(cond.prompts)
        return dataclasses.replace(cond, tempo_bpm=None if cond.tempo_bpm is None else [None] * n,
                                   key_tokens=None if cond.key_tokens is None else [NO_KEY] * n)

    def _lms_hear(self, stream: str) -> bool:
        """Whether the semantic or coarse LM conditions on ``stream`` ("attributes", "beat", "key")."""
        return any(stream in lm.conditions for lm in (self.components.semantic_lm, self.components.coarse_lm))

    def _segments(self, conditioning: Conditioning, frame_rate: float, total: int, batch: int,
                  lm: Optional[torch.nn.Module] = None) -> list[Segment]:
        """Each story segment's last frame and prefix conditioning: its MuLan tokens, and what its prompt
        asks (``attributes``) where ``lm`` conditions on that."""
        segments, end = [], 0.0
        asked = conditioning.attribute_tokens if lm is not None and "attributes" in lm.conditions else None
        for i, seconds in enumerate(conditioning.seconds):
            end = end + seconds if seconds is not None else total / frame_rate
            last = i == len(conditioning.seconds) - 1
            frames = total if last else min(total, round(end * frame_rate))
            prefix = {"mulan": conditioning.mulan_tokens[i: i + 1].expand(batch, -1)}
            if asked is not None:
                prefix["attributes"] = asked[i: i + 1].expand(batch, -1)
            segments.append(Segment(frames, prefix))
        return segments

    def _told(self, conditioning: Conditioning, lm: torch.nn.Module, segments: list[Segment], total: int,
              batch: int) -> dict[str, torch.Tensor]:
        """The aligned streams [B, total] ``lm`` hears of what each story segment asks: the beat grid
        of its tempo (``Conditioning.tempo_bpm``; ``modules.beat_grid``, the phase counting from the
        clip's first frame) and its key (``Conditioning.key_tokens``; ``modules.musical_key``)."""
        ends, out = [s.end for s in segments], {}
        if "beat" in lm.conditions:
            out["beat"] = beat_tokens(per_segment(conditioning.tempo_bpm or [], ends, total, 0.0), lm.config.frame_rate)
        if "key" in lm.conditions:
            out["key"] = per_segment(conditioning.key_tokens or [], ends, total, NO_KEY)
        return {name: told[None].expand(batch, -1).to(self.device) for name, told in out.items()}

    def _stage_callback(self, stage: str, callback: Optional[Callback], bar):
        if bar is None and callback is None:
            return None  # nobody listens: the LMs skip the per-step token snapshots

        def report(done: int, total: int, tokens: torch.Tensor) -> None:
            if bar is not None:
                bar.total = total
                bar.update(done - bar.n)
            if callback is not None:
                callback(StageEvent(stage, done, total, tokens.detach().cpu()))
        return report

    def _bar(self, stage: str):
        if not self.show_progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(desc=stage, unit="frame", leave=False)

    def _run_stage(self, stage, lm, total, segments, aligned, prompt, batch, args, callback):
        bar = self._bar(stage)
        try:
            return generate_windowed(
                lm, total, segments=segments, aligned=aligned, prompt=prompt, batch_size=batch,
                overlap=round(self.config.overlap_s * lm.config.frame_rate),
                callback=self._stage_callback(stage, callback, bar), **args.for_stage(stage))
        finally:
            if bar is not None:
                bar.close()

    # ---- 2-4. the three LMs -----------------------------------------------------------
    def generate_semantic(self, conditioning: Conditioning, duration_s: float, *, batch_size: int = 1,
                          prompt_tokens: Optional[torch.Tensor] = None, sampling: Optional[SamplingArgs] = None,
                          callback: Optional[Callback] = None) -> torch.Tensor:
        """MuLan (+ melody) tokens -> semantic tokens [B, Ts] at 25 Hz."""
        lm = self.components.semantic_lm
        total = round(duration_s * lm.config.frame_rate)
        melody = conditioning.melody_tokens
        if melody is not None:  # loop a short melody over the whole duration
            melody = melody.repeat(1, -(-total // melody.shape[-1]))[:, :total].expand(batch_size, -1)
        prompt = prompt_tokens[:, None] if prompt_tokens is not None else None
        segments = self._segments(conditioning, lm.config.frame_rate, total, batch_size, lm)
        aligned = {"melody": melody, **self._told(conditioning, lm, segments, total, batch_size)}
        tokens = self._run_stage("semantic", lm, total, segments, aligned, prompt, batch_size,
                                 sampling or SamplingArgs(), callback)
        return tokens[:, 0]

    def generate_coarse(self, conditioning: Conditioning, semantic_tokens: torch.Tensor, *,
                        prompt_tokens: Optional[torch.Tensor] = None, sampling: Optional[SamplingArgs] = None,
                        callback: Optional[Callback] = None) -> torch.Tensor:
        """MuLan + semantic tokens -> coarse acoustic tokens [B, 4, Ta] at 50 Hz."""
        lm = self.components.coarse_lm
        batch = semantic_tokens.shape[0]
        total = round(semantic_tokens.shape[-1] / self.config.semantic_tokenizer.frame_rate * lm.config.frame_rate)
        segments = self._segments(conditioning, lm.config.frame_rate, total, batch, lm)
        aligned = {"semantic": semantic_tokens, **self._told(conditioning, lm, segments, total, batch)}
        return self._run_stage("coarse", lm, total, segments, aligned, prompt_tokens, batch,
                               sampling or SamplingArgs(), callback)

    def generate_fine(self, coarse_tokens: torch.Tensor, *, prompt_tokens: Optional[torch.Tensor] = None,
                      sampling: Optional[SamplingArgs] = None, callback: Optional[Callback] = None) -> torch.Tensor:
        """Coarse tokens -> fine acoustic tokens [B, 8, Ta] at 50 Hz."""
        lm = self.components.fine_lm
        batch, total = coarse_tokens.shape[0], coarse_tokens.shape[-1]
        segments = [Segment(total, {})]
        return self._run_stage("fine", lm, total, segments, {"coarse": coarse_tokens}, prompt_tokens, batch,
                               sampling or SamplingArgs(), callback)

    # ---- 5. decode --------------------------------------------------------------------
    def decode(self, coarse_tokens: torch.Tensor, fine_tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Codec levels -> audio [B, S] in [-1, 1] (coarse alone decodes too, at lower quality).

        The audio is brought to ``config.output_level_db`` by ``audio.auto_gain`` (slow and causal,
        so a decoded prefix keeps its samples as more is decoded); with None it keeps the codec's
        own level and is only scaled down if it would clip.
        """
        codes = coarse_tokens if fine_tokens is None else torch.cat([coarse_tokens, fine_tokens], 1)
        with torch.no_grad():
            audio = self.components.codec.decode(codes.to(self.device))
        if self.config.output_level_db is not None:
            return auto_gain(audio, self.sample_rate, self.config.output_level_db)
        peak = audio.abs().amax(-1, keepdim=True)
        return torch.where(peak > 0.99, audio * (0.99 / peak.clamp(min=1e-9)), audio)

    def tokenize_audio(self, audio: AudioLike, sample_rate: Optional[int] = None) -> TokenStreams:
        """Real audio -> its semantic and acoustic tokens (for continuation and exploration)."""
        prepared = prepare_audio(audio, sample_rate, target_sample_rate=self.sample_rate,
                                 max_seconds=self.config.max_duration_s, name="audio")
        wave = prepared.audio.to(self.device)[None]
        c = self.components
        codes = c.codec.encode(wave)
        return TokenStreams(semantic=c.semantic_tokenizer(wave).cpu(),
                            coarse=codes[:, : self.config.codec.num_coarse_quantizers].cpu(),
                            fine=codes[:, self.config.codec.num_coarse_quantizers:].cpu())

    def _opening(self, audio: AudioLike, sample_rate: Optional[int]) -> TokenStreams:
        """Tokens of a continuation prompt, trimmed to whole semantic frames (two acoustic frames each)."""
        tokens = self.tokenize_audio(audio, sample_rate)
        ratio = self.config.coarse_lm.frame_rate / self.config.semantic_tokenizer.frame_rate
        frames = min(tokens.semantic.shape[-1], int(tokens.coarse.shape[-1] // ratio))
        if frames < 1:
            raise ValueError("The continuation audio is too short; give at least 0.1 s.")
        acoustic = int(frames * ratio)
        return TokenStreams(semantic=tokens.semantic[:, :frames], coarse=tokens.coarse[..., :acoustic],
                            fine=tokens.fine[..., :acoustic])

    def codebook_vectors(self) -> dict[str, torch.Tensor]:
        """The vector behind every token id, per stream, for visualisation.

        mulan [12, V, E] and coarse / fine [Q, V, D] (one codebook per RVQ level);
        semantic [V, F] (k-means centroids). Melody tokens are pitch classes: no vectors.
        """
        c, n_coarse = self.components, self.config.codec.num_coarse_quantizers
        codec = torch.stack([level.codebook for level in c.codec.quantizer.levels])
        return {"mulan": torch.stack([level.codebook for level in c.mulan.quantizer.levels]),
                "semantic": c.semantic_tokenizer.centroids, "coarse": codec[:n_coarse], "fine": codec[n_coarse:]}

    @torch.no_grad()
    def rank_candidates(self, conditioning: Conditioning, coarse_tokens: torch.Tensor) -> torch.Tensor:
        """The attribute critic's score per candidate [B] (higher = shows more of what the prompt asks).
        A story scores each segment's frames against its own prompt, its tempo against the beat grid
        and its mode against the key the LMs were given where these were laid; segments too short to
        hear a beat in (under 2 s) are left out."""
        critic = self.components.critic
        if critic is None:
            raise ValueError("This pipeline has no attribute critic; assemble one in (musiclm-studio train critic, "
                             "then musiclm-studio assemble --component critic=RUN).")
        B, total = coarse_tokens.shape[0], coarse_tokens.shape[-1]
        segments = self._segments(conditioning, critic.config.frame_rate, total, 1)
        scores, start = torch.zeros(B, device=coarse_tokens.device), 0
        for i, segment in enumerate(segments):
            if segment.end - start >= 2 * critic.config.frame_rate or len(segments) == 1:
                part = coarse_tokens[..., start: segment.end].to(self.device)
                bpm = conditioning.tempo_bpm[i] if conditioning.tempo_bpm else None  # the grid's, where laid
                mode = key_mode(conditioning.key_tokens[i]) if conditioning.key_tokens else None  # the key's
                scores = scores + critic.score(conditioning.text_features[i].to(self.device), part, bpm, mode)
            start = segment.end
        return scores.cpu()

    def asked(self, conditioning: Conditioning) -> list[dict]:
        """Per story segment, what the LMs hear that its prompt asks for: tempo (bpm), mode, drums and
        lead family (None: unstated; the tempo of a beat grid as laid), and the key ('A minor') where
        they hear one; empty when they hear none of these."""
        if conditioning.attribute_tokens is None and conditioning.key_tokens is None:
            return []
        if conditioning.attribute_tokens is not None:
            said = read_attribute_tokens(self.components.critic.config, conditioning.attribute_tokens.cpu())
        else:
            said = [dict.fromkeys(ATTRIBUTE_NAMES) for _ in conditioning.prompts]
        told_all = self._lms_hear("attributes")
        for i, row in enumerate(said):
            if not told_all:  # LMs that hear a beat grid or a key alone are told nothing else
                row.update(tempo=None, mode=None, drums=None, lead_family=None)
            if conditioning.tempo_bpm is not None:
                bpm = conditioning.tempo_bpm[i]
                row["tempo"] = None if bpm is None else round(bpm)
            if conditioning.key_tokens is not None:
                token = conditioning.key_tokens[i]
                row["key"], row["mode"] = key_name(token), key_mode(token)
        return said

    @torch.no_grad()
    def score(self, prompt: str, audio: torch.Tensor) -> torch.Tensor:
        """MuLan text-audio cosine for one prompt and audio [B, S] -> [B]."""
        return self.components.mulan.score(prompt, audio.to(self.device))

    def stream(self, prompt: Prompt, **kwargs):
        """Generate chunk by chunk: yields ``AudioChunk``s (see ``streaming.stream_generation``).

        Takes the keyword arguments of ``__call__`` (one candidate) plus ``chunk_s``; the first
        chunk is playable after about ``chunk_s`` seconds of audio has been generated.
        """
        from .streaming import stream_generation

        return stream_generation(self, prompt, **kwargs)

    # ---- the whole chain --------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: Prompt,
        *,
        melody: Optional[AudioLike] = None,
        melody_sample_rate: Optional[int] = None,
        duration_s: float = 10.0,
        temperature: Union[float, Sequence[float], None] = None,
        top_k: Optional[int] = 250,
        top_p: Optional[float] = None,
        guidance_scale: Union[float, Sequence[float], dict, None] = None,
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        num_candidates: Optional[int] = None,
        continuation: Optional[AudioLike] = None,
        continuation_sample_rate: Optional[int] = None,
        bpm: Optional[float] = None,
        key: Optional[str] = None,
        callback: Optional[Callback] = None,
    ) -> MusicLMOutput:
        """Generate music for a prompt (or a story: [(prompt, seconds), ...]).

        ``temperature`` is one number for all stages or (semantic, coarse, fine); the defaults
        are (1.0, 0.95, 0.7), the paper's but for fine (0.4, see ``sampling_args``).
        ``guidance_scale`` (classifier-free guidance) takes the same forms, or a dict of some
        stages such as ``{"semantic": 5}``; the default guides the semantic stage only (3, 1, 1;
        see ``sampling_args.DEFAULT_GUIDANCE``). ``continuation`` audio is kept as the opening and
        continued. ``bpm`` sets the tempo of the beat grid that LMs trained with ``--beat`` follow
        (default: the tempo each prompt asks for, as the critic reads it; a continuation keeps its
        audio's own beat). ``key`` ('A minor', 'F# major', or 'minor' / 'major' on a tonic drawn from
        the seed) sets the key that LMs trained with ``--key`` play in (default: the key, else the mode,
        each prompt asks for; a continuation keeps its audio's key). ``num_candidates`` (default: the pipeline's
        ``config.num_candidates``, 4 for the shipped model) are sampled as one batch. With
        an attribute critic the candidate that best shows what the prompt asks is kept after the
        coarse stage and only it goes through the fine stage and the codec; without one, every
        candidate is decoded and the best MuLan score is kept.
        """
        if not isinstance(prompt, str):
            prompt = check_story(prompt, self.config.max_duration_s)
            duration_s = sum(seconds for _, seconds in prompt) if prompt else 0.0
        num_candidates = self.config.num_candidates if num_candidates is None else num_candidates
        args = check_sampling_args(duration_s, temperature, top_k, top_p, guidance_scale, num_candidates,
                                   self.config.max_duration_s)
        if generator is None:
            seed = check_seed(seed)
            seed = random.randrange(2**31) if seed is None else seed
            generator = torch.Generator().manual_seed(seed)
        args.generator = generator
        timings, B = {}, num_candidates
        clock = time.perf_counter()

        def timed(stage, fn, *a, **k):
            start = time.perf_counter()
            result = fn(*a, **k)
            timings[stage] = time.perf_counter() - start
            return result

        # 1. conditioning: MuLan tokens per segment, melody tokens, continuation tokens
        opening = None
        if continuation is not None:
            opening = self._opening(continuation, continuation_sample_rate)
            duration_s += opening.semantic.shape[-1] / self.config.semantic_tokenizer.frame_rate
            if duration_s > self.config.max_duration_s:
                raise ValueError(f"Continuation audio plus duration is {duration_s:.1f} s; the cap is "
                                 f"{self.config.max_duration_s:g} s. Use a shorter clip or duration.")
        cond = timed("conditioning", self.encode_conditioning, prompt, melody, melody_sample_rate, duration_s, bpm,
                     key, generator)
        if opening is not None:
            cond = self._keep_opening_beat_and_key(cond, bpm, key)
        if callback is not None:
            callback(StageEvent("conditioning", 1, 1, cond.mulan_tokens.cpu()))
        repeat = (lambda t: None if t is None else t.to(self.device).expand(B, *t.shape[1:]))  # noqa: E731
        # 2. semantic tokens
        semantic = timed("semantic", self.generate_semantic, cond, duration_s, batch_size=B,
                         prompt_tokens=repeat(opening and opening.semantic), sampling=args, callback=callback)
        # 3. coarse acoustic tokens
        coarse = timed("coarse", self.generate_coarse, cond, semantic, prompt_tokens=repeat(opening and opening.coarse),
                       sampling=args, callback=callback)
        # with an attribute critic, keep the candidate that best shows what the prompt asks for and
        # run the fine stage and the codec for that one only
        critic_scores, picked = [], slice(None)
        if B > 1 and self.components.critic is not None:
            critic_scores = timed("critic", self.rank_candidates, cond, coarse).tolist()
            picked = max(range(B), key=lambda i: critic_scores[i])
            picked = slice(picked, picked + 1)
        opening_fine = opening and opening.fine
        # 4. fine acoustic tokens
        fine = timed("fine", self.generate_fine, coarse[picked],
                     prompt_tokens=None if opening_fine is None else opening_fine.expand(coarse[picked].shape[0], -1, -1),
                     sampling=args, callback=callback)
        # 5. decode, then rerank the candidates by MuLan score
        audio = timed("decode", self.decode, coarse[picked], fine)
        if callback is not None:
            callback(StageEvent("decode", 1, 1, audio[0].cpu()))
        scores = self.score(cond.prompts[0], audio).tolist()
        timings["total"] = time.perf_counter() - clock
        best = picked.start if critic_scores else max(range(B), key=lambda i: scores[i])
        mulan = cond.mulan_tokens.cpu()[None].expand(B, -1, -1)  # [B, segments, 12]
        candidates = TokenStreams(mulan[:, 0] if mulan.shape[1] == 1 else mulan,
                                  None if cond.melody_tokens is None else cond.melody_tokens.cpu().expand(B, -1),
                                  semantic.cpu(), coarse.cpu(), None if critic_scores else fine.cpu())
        tokens = candidates.select(best)
        tokens.fine = fine[-1:].cpu() if critic_scores else tokens.fine
        return MusicLMOutput(audio=audio[0 if critic_scores else best].float().cpu(), sample_rate=self.sample_rate,
                             tokens=tokens, mulan_scores=scores, critic_scores=critic_scores, timings=timings,
                             candidates=candidates, chosen=best, notices=cond.notices, seed=seed,
                             asked=self.asked(cond))
