"""MusicLM Studio: a trainable MusicLM that runs offline on a CPU.

``from musiclm_studio import MusicLMPipeline`` is the entry point; heavy modules load lazily
so that ``musiclm-studio --help`` stays quick.
"""

__version__ = "0.1.0"
__all__ = ["MusicLMPipeline", "MusicLMOutput", "TokenStreams", "StageEvent"]


def __getattr__(name: str):
    if name == "MusicLMPipeline":
        from .pipeline import MusicLMPipeline

        return MusicLMPipeline
    if name in ("MusicLMOutput", "TokenStreams", "StageEvent"):
        from . import outputs

        return getattr(outputs, name)
    raise AttributeError(f"module 'musiclm_studio' has no attribute {name!r}")
