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
import os
from typing import Callable, Optional, Sequence, Union

import torch

from . import candidates, hub
from .audio import AudioLike, auto_gain, match_level, prepare_audio
from .components import Components, check_contracts, load_components, save_components
from .conditioning import GenerationRequest
from .conditioning import prompt_mix
from .conditioning import request as requests
from .conditioning import resolver as resolving
from .config import STAGES, PipelineConfig, preset
from .windowing import Segment, generate_windowed
from .outputs import Conditioning, MusicLMOutput, StageEvent, StageTimer, TokenStreams
from .sampling_args import DEFAULTS, SamplingArgs, check_story

Prompt = requests.Prompt  # a prompt, or story mode: [(prompt, seconds), ...]
Conditionings = resolving.Conditionings  # one prompt's conditioning, or several sampled as one batch
Callback = Callable[[StageEvent], None]


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
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
            torch.manual_seed(seed)
            components = Components.build(config)
        return cls(config, components.to(torch.device("cpu")))

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

    # ---- 0-1. inputs and conditioning ---------------------------------------------------
    def check_inputs(self, prompt: Prompt, **kwargs) -> GenerationRequest:
        """Every entry point's arguments, checked once (``conditioning.check_inputs``): bad input raises
        ``ValueError`` before any model runs."""
        return requests.check_inputs(self, prompt, **kwargs)

    def resolve_conditioning(self, request: GenerationRequest) -> Conditioning:
        """A checked request -> what every stage reads (``conditioning.resolver.resolve``): MuLan tokens per story
        segment, melody tokens, each segment's beat grid and key, attributes, a continuation's opening."""
        return resolving.resolve(self, request)

    def encode_conditioning(
        self, prompt: Prompt, melody: Optional[AudioLike] = None, melody_sample_rate: Optional[int] = None,
        duration_s: Optional[float] = None, bpm: Optional[float] = None, key: Optional[str] = None,
        generator: Optional[torch.Generator] = None,
    ) -> Conditioning:
        """Prompt(s) -> MuLan embeddings and tokens per story segment; melody -> melody tokens; for
        LMs that hear a beat grid, each segment's tempo: ``bpm`` if given, else what its prompt asks;
        for LMs that hear a key, each segment's key: ``key`` ('A minor', or 'minor' on any tonic) if
        given, else what its prompt asks (``conditioning.resolver.resolve``)."""
        story = [(prompt, duration_s)] if isinstance(prompt, str) else check_story(prompt, self.config.max_duration_s)
        bpm = None if bpm is None else requests.check_bpm(bpm, self.lms_hear("beat"))
        key = None if key is None else requests.check_key(key, self.lms_hear("key"))
        return resolving.encode(self, story, melody, melody_sample_rate, bpm, key, generator)

    def lms_hear(self, stream: str) -> bool:
        """Whether the semantic or coarse LM conditions on ``stream`` ("attributes", "beat", "key")."""
        return any(stream in lm.conditions for lm in (self.components.semantic_lm, self.components.coarse_lm))

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
    def generate_semantic(self, conditioning: Conditionings, duration_s: float, *, batch_size: int = 1,
                          prompt_tokens: Optional[torch.Tensor] = None, sampling: Optional[SamplingArgs] = None,
                          callback: Optional[Callback] = None) -> torch.Tensor:
        """MuLan (+ melody) tokens -> semantic tokens [B, Ts] at 25 Hz; ``batch_size`` rows per
        conditioning (a list of them: several prompts sampled as one batch, in order)."""
        lm = self.components.semantic_lm
        conds = [conditioning] if isinstance(conditioning, Conditioning) else list(conditioning)
        total = round(duration_s * lm.config.frame_rate)
        melody = resolving.batch_rows([self._looped_melody(c, total, batch_size) for c in conds])
        prompt = prompt_tokens[:, None] if prompt_tokens is not None else None
        segments = resolving.segments(conds, lm.config.frame_rate, total, batch_size, lm)
        aligned = {"melody": melody, **resolving.aligned_streams(conds, lm, segments, total, batch_size, self.device)}
        tokens = self._run_stage("semantic", lm, total, segments, aligned, prompt, len(conds) * batch_size,
                                 sampling or SamplingArgs(), callback)
        return tokens[:, 0]

    @staticmethod
    def _looped_melody(conditioning: Conditioning, total: int, batch: int) -> Optional[torch.Tensor]:
        """The melody tokens [batch, total], a short melody looped over the whole duration; None without one."""
        melody = conditioning.melody_tokens
        return None if melody is None else melody.repeat(1, -(-total // melody.shape[-1]))[:, :total].expand(batch, -1)

    def generate_coarse(self, conditioning: Conditionings, semantic_tokens: torch.Tensor, *,
                        prompt_tokens: Optional[torch.Tensor] = None, sampling: Optional[SamplingArgs] = None,
                        callback: Optional[Callback] = None) -> torch.Tensor:
        """MuLan + semantic tokens -> coarse acoustic tokens [B, 4, Ta] at 50 Hz (a list of conditionings:
        an equal share of the rows each, in order)."""
        lm = self.components.coarse_lm
        conds = [conditioning] if isinstance(conditioning, Conditioning) else list(conditioning)
        batch = semantic_tokens.shape[0]
        total = round(semantic_tokens.shape[-1] / self.config.semantic_tokenizer.frame_rate * lm.config.frame_rate)
        segments = resolving.segments(conds, lm.config.frame_rate, total, batch // len(conds), lm)
        aligned = {"semantic": semantic_tokens, **resolving.aligned_streams(conds, lm, segments, total,
                                                                            batch // len(conds), self.device)}
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
    def decode(self, coarse_tokens: torch.Tensor, fine_tokens: Optional[torch.Tensor] = None,
               opening: Optional[TokenStreams] = None) -> torch.Tensor:
        """Codec levels -> audio [B, S] in [-1, 1] (coarse alone decodes too, at lower quality).

        The audio is brought to ``config.output_level_db`` by ``audio.auto_gain`` (slow and causal,
        so a decoded prefix keeps its samples as more is decoded); with None it keeps the codec's
        own level and is only scaled down if it would clip. After a continuation's ``opening`` the
        new audio first takes the opening's level (``audio.match_level``), so the seam does not jump.
        """
        codes = coarse_tokens if fine_tokens is None else torch.cat([coarse_tokens, fine_tokens], 1)
        with torch.no_grad():
            audio = self.components.codec.decode(codes.to(self.device))
        if opening is not None:
            audio = match_level(audio, opening.coarse.shape[-1] * self.config.codec.hop_length, self.sample_rate)
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

    def opening_tokens(self, audio: AudioLike, sample_rate: Optional[int]) -> TokenStreams:
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

    def asked(self, conditioning: Conditioning) -> list[dict]:
        """Per story segment, what the LMs hear that its prompt asks for (``conditioning.resolver.asked``):
        tempo (bpm), mode, drums, lead family (None: unstated), and the key ('A minor') where they hear one."""
        return resolving.asked(self, conditioning)

    @torch.no_grad()
    def score(self, prompt: str, audio: torch.Tensor) -> torch.Tensor:
        """MuLan text-audio cosine for one prompt (a weighted mix: its mixed embedding) and audio [B, S] -> [B]."""
        mix = prompt_mix.parse_prompt(prompt)
        if mix.single:
            return self.components.mulan.score(mix.texts[0], audio.to(self.device))
        _, embedding = prompt_mix.embed(self.components.mulan, [prompt])
        return (embedding * self.components.mulan.embed_audio(audio.to(self.device))).sum(-1)

    def stream(self, prompt: Optional[Prompt] = None, **kwargs):
        """Generate chunk by chunk: yields ``AudioChunk``s (see ``streaming.stream_generation``).

        Takes the keyword arguments of ``__call__`` (one candidate) plus ``chunk_s``; the first
        chunk is playable after about ``chunk_s`` seconds of audio has been generated.
        """
        from .streaming import stream_generation

        return stream_generation(self, prompt, **kwargs)

    def jam(self, prompt: Optional[str] = None, **kwargs):
        """An endless jam you steer while it plays: a ``jam.JamSession`` whose ``next_chunk()`` gives the next
        ``chunk_s`` seconds (sample-exact joins, bounded context) and whose ``set(...)`` changes the prompt or
        a prompt mix, tempo, key, temperature, top-k or guidance from the next chunk on (``jam.start_jam``)."""
        from .jam import start_jam

        return start_jam(self, prompt, **kwargs)

    # ---- editing what was made (``editing``) ------------------------------------------
    @torch.no_grad()
    def vary(self, out: MusicLMOutput, keep: str = "semantic", prompt: Optional[str] = None,
             callback: Optional[Callback] = None, **sampling) -> MusicLMOutput:
        """A variation of ``out``: keep its semantic tokens (the composition) and re-sample the coarse and
        fine stages, optionally under another ``prompt``; or ``keep="coarse"`` and re-sample the fine
        tokens only. ``sampling``: ``__call__``'s seed, temperature, top_k, top_p, guidance_scale,
        num_candidates, negative_prompt."""
        from . import editing

        return editing.vary(self, out, keep, prompt, callback=callback, **sampling)

    @torch.no_grad()
    def repaint(self, out: MusicLMOutput, start_s: float, end_s: float, prompt: Optional[str] = None,
                callback: Optional[Callback] = None, **sampling) -> MusicLMOutput:
        """Re-sample [start_s, end_s) of ``out`` with the tokens before it as the prefix (optionally under
        another ``prompt``), back to the original on a beat with a crossfade (``editing.repaint``);
        every sample outside the region and its two fades is the original's."""
        from . import editing

        return editing.repaint(self, out, start_s, end_s, prompt, callback=callback, **sampling)

    @torch.no_grad()
    def extend(self, out: MusicLMOutput, seconds: float, prompt: Optional[str] = None,
               callback: Optional[Callback] = None, **sampling) -> MusicLMOutput:
        """``out`` continued for ``seconds`` from its own tokens (optionally under another ``prompt``);
        its audio is kept unchanged as the first part."""
        from . import editing

        return editing.extend(self, out, seconds, prompt, callback=callback, **sampling)

    def loop(self, prompt: str, *, bars: int = 4, bpm: Optional[float] = None, seed: Optional[int] = None, **kwargs):
        """A seamless, bar-aligned loop of ``bars`` bars at ``bpm`` (default: the prompt's tempo) for producers:
        returns a ``loops.Loop`` (``.save(folder)`` writes a WAV with the tempo in its name and metadata).
        Other keyword arguments: ``loops.generate_loop``'s and ``__call__``'s."""
        from .loops import generate_loop

        return generate_loop(self, prompt, bars=bars, bpm=bpm, seed=seed, **kwargs)

    # ---- the whole chain --------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: Optional[Prompt] = None,
        *,
        melody: Optional[AudioLike] = None,
        melody_sample_rate: Optional[int] = None,
        duration_s: float = 10.0,
        temperature: Union[float, Sequence[float], None] = None,
        top_k: Optional[int] = DEFAULTS["top_k"],
        top_p: Optional[float] = None,
        guidance_scale: Union[float, Sequence[float], dict, None] = None,
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        num_candidates: Optional[int] = None,
        continuation: Optional[AudioLike] = None,
        continuation_sample_rate: Optional[int] = None,
        bpm: Optional[float] = None,
        key: Optional[str] = None,
        prompts: Optional[dict[str, float]] = None,
        negative_prompt: Optional[str] = None,
        key_lock: bool = True,
        callback: Optional[Callback] = None,
    ) -> MusicLMOutput:
        """Generate music for a prompt (or a story: [(prompt, seconds), ...]).

        ``temperature`` is one number for all stages or (semantic, coarse, fine); the defaults
        are (1.0, 0.95, 0.7), the paper's but for fine (0.4, see ``sampling_args``).
        ``guidance_scale`` (classifier-free guidance) takes the same forms, or a dict of some
        stages such as ``{"semantic": 5}``; the default guides the semantic stage only (3, 1, 1;
        see ``sampling_args.DEFAULT_GUIDANCE``). ``continuation`` audio is kept as the opening and
        continued. ``bpm`` sets the tempo of the beat grid that LMs trained with ``--beat`` follow
        (default: the tempo each prompt asks for, as its words or the attribute reader say; a continuation keeps its
        audio's own beat). ``key`` ('A minor', 'F# major', or 'minor' / 'major' on a tonic drawn from
        the seed) sets the key that LMs trained with ``--key`` play in (default: the key, else the mode,
        each prompt asks for; a continuation keeps its audio's key). A prompt 'jazz trio:0.7 | techno:0.3',
        or ``prompts={"jazz trio": 0.7, "techno": 0.3}``, mixes up to 4 prompts in MuLan's embedding
        space (``conditioning.prompt_mix``). ``negative_prompt`` ('drums') takes the place of the null
        conditioning in classifier-free guidance, and the prompt's MuLan embedding moves away from
        the negative's (``resolver.steered``): both steer away from it. ``key_lock`` (default on): a clip told
        a key by name that plays in the asked mode on another tonic is transposed onto it (``key_lock.py``).
        ``num_candidates`` (default: the pipeline's ``config.num_candidates``, 4 for the shipped model) are
        sampled as one batch. With
        an attribute critic the candidate that best shows what the prompt asks is kept after the
        coarse stage and only it goes through the fine stage and the codec; without one, every
        candidate is decoded and the best MuLan score is kept.
        """
        request = self.check_inputs(  # 0. every argument checked before any model runs
            prompt, duration_s=duration_s, temperature=temperature, top_k=top_k, top_p=top_p,
            guidance_scale=guidance_scale, seed=seed, generator=generator, num_candidates=num_candidates,
            melody=melody, melody_sample_rate=melody_sample_rate, continuation=continuation,
            continuation_sample_rate=continuation_sample_rate, bpm=bpm, key=key, prompts=prompts,
            negative_prompt=negative_prompt, key_lock=key_lock)
        timer = StageTimer()
        # 1. conditioning: what the prompt asks, resolved once (MuLan tokens, melody, beat grid, key, opening)
        with timer("conditioning"):
            cond = self.resolve_conditioning(request)
        # 2-7. the stages, the candidates sampled as one batch (``generate_batch`` runs several prompts through them)
        return self.generate_resolved([cond], request, timer, callback)[0]

    @torch.no_grad()
    def generate_resolved(self, conditionings: list[Conditioning], request: GenerationRequest,
                          timer: Optional[StageTimer] = None, callback: Optional[Callback] = None) -> list[MusicLMOutput]:
        """Steps 2-7 of ``__call__`` for resolved prompts sampled as one batch: ``request.num_candidates``
        rows per conditioning, each keeping its own prompt's conditioning, one generator for all
        (``request.sampling``); one output per conditioning. Their story segments must end together."""
        conds, timer, B, sampling = conditionings, timer or StageTimer(), request.num_candidates, request.sampling
        self._report(callback, "conditioning", torch.cat([c.mulan_tokens for c in conds]))
        # 2. semantic tokens [N*B, Ts], continuing each opening where there is one
        with timer("semantic"):
            semantic = self.generate_semantic(conds, conds[0].duration_s, batch_size=B, sampling=sampling,
                                              callback=callback, prompt_tokens=self._openings(conds, "semantic", B))
        # 3. coarse acoustic tokens [N*B, 4, Ta]
        with timer("coarse"):
            coarse = self.generate_coarse(conds, semantic, prompt_tokens=self._openings(conds, "coarse", B),
                                          sampling=sampling, callback=callback)
        # 4. with an attribute critic, only each prompt's candidate that best shows what it asks goes on
        with timer("critic"):
            keys = [candidates.wanted_key(request, c) for c in conds]  # a mode named, a continuation's key
            picks = [candidates.critic_pass(self, c, coarse[n * B:(n + 1) * B], keys[n]) for n, c in enumerate(conds)]
        # 4b. one prompt whose wanted key none of its candidates is heard in: as many again, and the pick over all
        if len(conds) == 1 and candidates.missed_key(picks[0], keys[0]):
            semantic, coarse, picks[0] = self._another_batch(conds[0], request, semantic, coarse, picks[0][2], keys[0],
                                                             timer, callback)
            B = semantic.shape[0]
        critic_scores, kept, _ = zip(*picks)  # per prompt: its scores, its kept rows, the keys heard
        rows, K = [n * B + k for n, ks in enumerate(kept) for k in ks], len(kept[0])
        # 5. fine acoustic tokens [N*K, 8, Ta] of the kept candidates
        with timer("fine"):
            fine = self.generate_fine(coarse[rows], prompt_tokens=self._openings(conds, "fine", K), sampling=sampling,
                                      callback=callback)
        # 6. decode to audio [N*K, S], and MuLan's score of each against its prompt
        with timer("decode"):
            audio = self.decode(coarse[rows], fine, opening=conds[0].opening)  # one batch: openings alike
        self._report(callback, "decode", audio)
        mulan_scores = [self.score(c.prompts[0], audio[n * K:(n + 1) * K]).tolist() for n, c in enumerate(conds)]
        timings = timer.stop()
        # 7. per prompt, one candidate (the critic's, else the best MuLan score) and its output
        outputs = []
        for n, cond in enumerate(conds):
            rows_of, kept_of = slice(n * B, (n + 1) * B), slice(n * K, (n + 1) * K)  # its rows, its kept rows
            outputs.append(candidates.output(self, request, cond, semantic[rows_of], coarse[rows_of], fine[kept_of],
                                             audio[kept_of], kept[n], critic_scores[n], mulan_scores[n], timings))
        return outputs

    # ---- the pieces of __call__ between the stages ------------------------------------------
    def _another_batch(self, cond: Conditioning, request: GenerationRequest, semantic: torch.Tensor,
                       coarse: torch.Tensor, heard: list, wanted: tuple, timer: StageTimer,
                       callback: Optional[Callback]):
        """(semantic, coarse, the critic's pick over all) with ``request.num_candidates`` more candidates of
        ``cond`` sampled after the first (the generator runs on, a continuation's opening kept): a request
        whose ``wanted`` key (``candidates.wanted_key``) none of the first is heard in gets a second chance
        (docs/experiments/wider_world.md, sessions 30 and 39)."""
        B, sampling = request.num_candidates, request.sampling
        if callback is not None:  # the stages start again: say why, so a progress bar going back makes sense
            told = callback
            note = f"{B} more candidates: none of the first is in {candidates.key_words(wanted)}"
            callback = lambda event: told(dataclasses.replace(event, message=note))  # noqa: E731
        with timer("semantic"):
            more = self.generate_semantic([cond], cond.duration_s, batch_size=B, sampling=sampling, callback=callback,
                                          prompt_tokens=self._openings([cond], "semantic", B))
        with timer("coarse"):
            more_coarse = self.generate_coarse([cond], more, prompt_tokens=self._openings([cond], "coarse", B),
                                               sampling=sampling, callback=callback)
        semantic, coarse = torch.cat([semantic, more]), torch.cat([coarse, more_coarse])
        with timer("critic"):
            return semantic, coarse, candidates.critic_pass(self, cond, coarse, wanted, heard)

    @staticmethod
    def _openings(conditionings: list[Conditioning], stream: str, batch: int) -> Optional[torch.Tensor]:
        """Each conditioning's continuation opening of ``stream`` for its ``batch`` rows, as one batch (or None)."""
        return resolving.batch_rows([c.opening_tokens(stream, batch) for c in conditionings])

    @staticmethod
    def _report(callback: Optional[Callback], stage: str, tokens: torch.Tensor) -> None:
        if callback is not None:
            callback(StageEvent(stage, 1, 1, tokens.cpu()))
