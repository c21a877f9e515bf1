"""The one definition of the studio's controls, example prompts and model texts, for both UIs.

``CONTROLS`` lists every generation setting (label, range, default, help text), built from
``sampling_args.LIMITS`` / ``DEFAULTS`` so that the Gradio app, the Jupyter widgets and the
pipeline agree on ranges; ``pipeline_kwargs`` turns the values a UI collected into the keyword
arguments of ``MusicLMPipeline.__call__`` (range checks stay in the pipeline). ``EXAMPLES``
holds example prompts: a few MusicCaps captions (CC BY-SA 4.0, Google, attributed below) and
our own. ``model_status`` and ``about_markdown`` describe the loaded pipeline in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from ..config import STAGES, TOKEN_STREAMS
from ..windowing import parse_story as parse_story_lines
from ..data.theory import NOTE_NAMES
from ..vocab.musical_key import MODES
from ..sampling_args import DEFAULT_TEMPERATURES, DEFAULTS, LIMITS, PAPER_TEMPERATURES, SEED_MAX


@dataclass(frozen=True)
class Control:
    """One setting: ``kind`` is "text", "float", "int", "seed", "bool" or "choice" (one of ``choices``,
    (label, value) pairs)."""

    name: str
    label: str
    kind: str
    default: Any
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[float] = None
    info: str = ""
    choices: tuple = ()


KEY_CHOICES = (("From the prompt", ""), ("Major, any tonic", "major"), ("Minor, any tonic", "minor"),
               *((f"{tonic} {mode}", f"{tonic} {mode}") for mode in MODES for tonic in NOTE_NAMES))


def _temperature(stage: str, what: str) -> Control:
    return Control(f"temperature_{stage}", f"{stage.capitalize()} temperature", "float", DEFAULTS[f"temperature_{stage}"],
                   *LIMITS["temperature"], 0.05,
                   f"Randomness of the {what} (paper: {PAPER_TEMPERATURES[stage]:g}). 0 = always the likeliest token.")


CONTROLS: dict[str, Control] = {c.name: c for c in (
    Control("prompt", "Prompt", "text", "", info="Describe the music: genre, instruments, mood, tempo."),
    Control("story", "Story mode (optional)", "text", "",
            info="One segment per line, 'SECONDS: prompt', e.g. '5: calm piano intro'. Replaces the prompt "
                 "and the duration when filled in."),
    Control("duration_s", "Duration (seconds)", "float", DEFAULTS["duration_s"], *LIMITS["duration_s"], 0.5,
            "Length of the clip. Longer than the model's window is generated in overlapping windows."),
    _temperature("semantic", "semantic tokens (melody, rhythm, structure)"),
    _temperature("coarse", "coarse acoustic tokens (timbre, instruments)"),
    _temperature("fine", "fine acoustic tokens (detail, noise)"),
    Control("top_k", "Top-k", "int", DEFAULTS["top_k"], *LIMITS["top_k"], 1,
            "Sample only among the k likeliest tokens; 0 turns it off."),
    Control("top_p", "Top-p", "float", DEFAULTS["top_p"], *LIMITS["top_p"], 0.01,
            "Nucleus sampling: the smallest set of tokens holding this probability, in (0, 1]; 1 turns it off."),
    Control("guidance_scale", "Guidance scale", "float", DEFAULTS["guidance_scale"], *LIMITS["guidance_scale"], 0.1,
            "Classifier-free guidance of the semantic stage: how strongly to follow the prompt (1 = off, higher = "
            "closer, less varied). The acoustic stages stay unguided, which keeps drums crisp."),
    Control("seed", "Seed", "seed", 0, 0, SEED_MAX, 1,
            f"A whole number from 0 to {SEED_MAX} (2**63 - 1). Same seed + same settings = the same music."),
    Control("randomise_seed", "Random seed each time", "bool", True,
            info="Draw a new seed per generation; the seed used is shown so you can repeat it."),
    Control("num_candidates", "Candidates", "int", DEFAULTS["num_candidates"], *LIMITS["num_candidates"], 1,
            "Sample several clips at once and keep the one that best shows what the prompt asks (the attribute "
            "critic, where the model has one: tempo, mode, drums, lead instrument), else the one MuLan scores "
            "closest to the prompt."),
    Control("bpm", "Tempo (bpm)", "float", 0.0, 0.0, LIMITS["bpm"][1], 1.0,
            f"0 = the tempo the prompt asks for. Else {LIMITS['bpm'][0]:g}-{LIMITS['bpm'][1]:g}: the beat grid the "
            "model plays on (models whose LMs hear one; a continuation keeps its own audio's beat)."),
    Control("key", "Key", "choice", "", info="The key the model plays in (models whose LMs hear one). 'From the "
            "prompt': a key it names ('in A minor'), else its mode on a tonic drawn from the seed.",
            choices=KEY_CHOICES),
    Control("negative_prompt", "Negative prompt (optional)", "text", "",
            info="What to steer away from, e.g. 'drums' or 'piano': guidance pushes from it and the prompt's "
            "MuLan embedding moves away from it."),
)}


def control_default(control: Control, pipe) -> Any:
    """A control's starting value for this pipeline: its own candidate count, else the shared default."""
    return pipe.config.num_candidates if control.name == "num_candidates" else control.default


def control_for(control: Control, pipe) -> Control:
    """A control as this pipeline offers it: its own default (``control_default``) and, for the
    duration, its own cap (``PipelineConfig.max_duration_s``) where that is below the shared limit."""
    control = replace(control, default=control_default(control, pipe))
    if control.name == "duration_s":
        top = min(control.maximum, pipe.config.max_duration_s)
        control = replace(control, maximum=top, default=min(control.default, top))
    return control


# the order of the generation inputs in both UIs (melody audio is handled by each UI)
SETTINGS = tuple(CONTROLS)

MUSICCAPS_ATTRIBUTION = ("MusicCaps captions © Google, from Agostinelli et al. (2023), licensed under "
                         "[CC BY-SA 4.0](https://creativecommons.org/licenses/by-sa/4.0/).")

# (prompt, source); MusicCaps captions are quoted verbatim, ytid in the source
EXAMPLES: list[tuple[str, str]] = [
    ("A calm lo-fi hip hop beat with soft piano chords and a mellow bass, 80 bpm.", "MusicLM Studio"),
    ("An energetic rock song with distorted electric guitars, a driving bass and loud drums.", "MusicLM Studio"),
    ("Slow ambient synth pads in a minor key, dreamy and spacious, no drums.", "MusicLM Studio"),
    ("A relaxed bossa nova with nylon-string guitar, brushed drums and upright bass.", "MusicLM Studio"),
    ("Quirky, cheeky, jazzy music featuring a lead trombone melody, a triangle playing a swing pattern, "
     "a cheesy organ and a medium tempo.", "MusicCaps AtWf5OAE8aM, CC BY-SA 4.0, Google"),
    ("instrumental rock music with a drum kit, lots of cymbal crashes, acoustic guitar strumming, harmonized "
     "lead guitars and an active bass guitar.", "MusicCaps 9kt7rsziUVQ, CC BY-SA 4.0, Google"),
    ("Fast techno with a hardstyle edge. Four on the floor kick with the synth bass and hi-hat on the off beats "
     "combined with a rhythmic synth gives the music an intense vibe.", "MusicCaps COe_UKKVpVo, CC BY-SA 4.0, Google"),
    ("A lo-fi pluck, bell sound is playing an arpeggio melody. It sounds dreamy and melancholic. This song may "
     "be playing in a sequence of a video game.", "MusicCaps tUppIOzUo2Q, CC BY-SA 4.0, Google"),
    ("Ominous orchestral music with long held string notes, bowed string bass, electronic cymbal roll and "
     "concert bass drum. The mood is eerie.", "MusicCaps GAoGADilmV8, CC BY-SA 4.0, Google"),
]
EXAMPLE_PROMPTS = [prompt for prompt, _ in EXAMPLES]

# grey hints in empty boxes: neutral words, never a prompt that makes an empty box look filled in
PROMPT_PLACEHOLDER = "Describe the music you want (or pick an example below)"
STORY_PLACEHOLDER = "SECONDS: prompt, one segment per line"
PLACEHOLDERS = {"prompt": PROMPT_PLACEHOLDER, "story": STORY_PLACEHOLDER, "negative_prompt": "What to leave out"}
TEXT_LINES = {"prompt": 2, "story": 4, "negative_prompt": 1}  # the height of each text box


def parse_story(text: str) -> Optional[list[tuple[str, float]]]:
    """Story text ('SECONDS: prompt' per line) -> [(prompt, seconds), ...]; None when empty."""
    return parse_story_lines((text or "").splitlines()) or None


def pipeline_kwargs(values: dict[str, Any], melody: Any = None) -> dict[str, Any]:
    """UI values (keyed like ``CONTROLS``) -> keyword arguments of ``MusicLMPipeline.__call__``.

    Only converts types the widgets produce (floats for whole numbers, empty seed); the
    pipeline checks ranges and raises ``ValueError`` for bad values.
    """
    story = parse_story(values.get("story", ""))
    seed = values.get("seed")
    whole = lambda v: int(v) if isinstance(v, float) and v.is_integer() else v  # noqa: E731
    return dict(
        prompt=story if story is not None else values.get("prompt", ""),
        melody=melody,
        duration_s=values["duration_s"],
        temperature=tuple(values[f"temperature_{stage}"] for stage in DEFAULT_TEMPERATURES),
        top_k=whole(values["top_k"]),
        top_p=values["top_p"],
        guidance_scale={"semantic": values["guidance_scale"]},
        seed=None if values.get("randomise_seed") or seed is None else whole(seed),
        num_candidates=whole(values["num_candidates"]),
        bpm=values.get("bpm") or None,
        key=values.get("key") or None,
        negative_prompt=values.get("negative_prompt") or None,
    )


def model_status(pipe) -> str:
    """One plain-words paragraph (markdown) on whether the loaded model is trained."""
    name = pipe.config.name
    if pipe.trained:
        return f"**Model:** `{name}`, trained. Runs on `{pipe.device}`."
    untrained = ", ".join(pipe.untrained_components)
    return (f"⚠️ **Untrained placeholder model** (`{name}`): {untrained} still have random weights, so what you "
            "hear is noise-like sound, not music. Every control, progress bar and token view works; load a "
            "trained pipeline (`musiclm-studio serve --pipeline DIR`) for real music.")


def asked_text(asked: list[dict]) -> str:
    """What the LMs were told each story segment's prompt asks: '120 bpm · A minor · drums · piano lead'.
    A segment that states none of these is still conditioned on: its words reach the LMs as MuLan tokens."""
    def one(said: dict) -> str:
        parts = [f"{said['tempo']} bpm" if said["tempo"] else "", said.get("key") or said["mode"] or "",
                 "" if said["drums"] is None else ("drums" if said["drums"] else "no drums"),
                 f"{said['lead_family']} lead" if said["lead_family"] else ""]
        return " · ".join(p for p in parts if p) or "no tempo or key (the words steer the music through MuLan)"
    return " / ".join(one(said) for said in asked)


def summary_markdown(out) -> str:
    """MuLan score, seed and timings of a ``MusicLMOutput`` as a short markdown block."""
    timings = " · ".join(f"{stage} {out.timings[stage]:.2f} s" for stage in STAGES if stage in out.timings)
    scores = ", ".join(f"{s:.2f}" if out.chosen_by == "critic" else f"{s:.3f}" for s in out.scores)
    chooser = "the attribute critic" if out.chosen_by == "critic" else "MuLan score"
    lines = [f"**MuLan score:** {out.mulan_score:.3f}",
             f"**Candidate {out.chosen + 1} of {len(out.scores)}**, chosen by {chooser} (scores {scores})"
             if len(out.scores) > 1 else "",
             f"**Heard in the prompt:** {asked_text(out.asked)}" if out.asked else "",
             f"**Seed:** {out.seed}" if out.seed is not None else "",
             f"**Timings:** {timings} · **total {out.timings.get('total', 0.0):.2f} s** for "
             f"{out.duration_s:.1f} s of audio (real-time factor {out.real_time_factor:.2f})"]
    return "  \n".join(line for line in lines if line)


def about_markdown(pipe) -> str:
    """What the loaded pipeline is: structure, sizes, token rates, training state."""
    c = pipe.config
    modules = pipe.components.saved_modules()  # int8 layers hold no Parameters; count their float originals
    sizes = {name: sum(p.numel() for p in module.parameters()) for name, module in modules.items()}
    total = sum(sizes.values())
    weights = " (LMs with int8 weights)" if pipe.int8 else ""
    n = c.num_candidates
    critic = ("" if pipe.components.critic is None else
              f"\nEach generation samples {n} candidate{'s' * (n > 1)} (the Candidates setting); with several, an "
              "attribute critic keeps the one whose coarse tokens best show the tempo, drums and lead instrument the "
              "prompt asks for.")
    fine_passes = ", one level per pass" if c.fine_lm.layout == "levelwise" else ""
    rows = "\n".join(f"| {name} | {n / 1e6:.2f} M | {'untrained' if name in pipe.untrained_components else 'trained'} |"
                     for name, n in sizes.items())
    return f"""**MusicLM** (Agostinelli et al., 2023, [arXiv 2301.11325](https://arxiv.org/abs/2301.11325)),
re-implemented to run offline. The prompt goes through the MuLan text tower into 12 MuLan tokens;
a semantic LM writes semantic tokens ({c.semantic_tokenizer.frame_rate} Hz), a coarse LM the first
{c.codec.num_coarse_quantizers} codec levels and a fine LM the other
{c.codec.num_quantizers - c.codec.num_coarse_quantizers} ({c.coarse_lm.frame_rate:g} Hz{fine_passes}); the codec decoder
turns the {c.codec.num_quantizers} levels into {c.codec.sample_rate // 1000} kHz mono audio.{critic}
Token streams shown: {", ".join(TOKEN_STREAMS)}. Colours come from a PCA of each codebook, so similar
codes look alike.

Pipeline `{c.name}` on `{pipe.device}`{weights}, {total / 1e6:.1f} M parameters, clips up to {c.max_duration_s:g} s
(windows of {c.window_s:g} s with {c.overlap_s:g} s overlap).

| component | parameters | state |
|---|---|---|
{rows}

{evaluation_markdown(pipe.eval_summary)}
{model_status(pipe)}
"""


def evaluation_markdown(summary: dict | None) -> str:
    """The measured figures of ``eval_summary.json`` (``musiclm-studio eval --write-summary``)."""
    if not summary:
        return ("**Measured quality:** no evaluation stored with this pipeline; run "
                "`musiclm-studio eval --pipeline DIR --write-summary` to add one.\n")

    def num(key: str, digits: int = 3) -> str:
        value = summary.get(key)
        return "-" if value is None else f"{value:.{digits}f}"

    def rate(name: str, value: float) -> str:
        refs = [f"{label} {summary[key][name]:.0%}" for key, label in (("real_clip_adherence", "real clips"),
                                                                       ("chance_adherence", "chance"))
                if name in summary.get(key, {})]
        return f"{name} {value:.0%}" + (f" ({', '.join(refs)})" if refs else "")

    rates = ", ".join(rate(name, value) for name, value in summary.get("attribute_adherence", {}).items())
    candidates = summary.get("num_candidates", 1)
    return (f"**Measured quality** ({summary.get('prompts', '?')} prompts x {summary.get('seconds', '?')} s, "
            f"{candidates} candidate{'s' * (candidates > 1)} each, `musiclm-studio eval`):\n\n"
            f"| figure | value |\n|---|---|\n"
            f"| MuLan cycle consistency (real clips: ceiling) | {num('mcc')} ({num('mcc_real_ceiling')}) |\n"
            f"| FAD in MuLan space, lower is better (codec resynthesis: floor) | {num('fad_mulan')} "
            f"({num('fad_codec_floor')}) |\n"
            f"| attributes followed (real clips, chance) | {rates or '-'} |\n"
            f"| melody chroma cosine | {num('melody_chroma_cosine')} |\n"
            f"| real-time factor / first audio | {num('rtf', 2)} / {num('first_audio_s', 2)} s |\n"
            f"| peak memory | {num('peak_rss_mb', 0)} MB |\n")
