"""What a generation is asked for, checked and resolved once, before any model runs.

``check_inputs`` turns a caller's arguments into one validated ``GenerationRequest`` (story
segments, sampling settings with their generator, candidates, melody, continuation, tempo, key);
``resolve`` turns a request into the ``Conditioning`` every stage reads: MuLan tokens per story
segment, melody tokens, the beat grid's tempo and the key per segment (from ``bpm`` / ``key``, the
prompt's words, or the attribute reader's), the attributes for LMs that hear them, and the opening
tokens of a continuation. Every entry point (``__call__``, ``stream``) goes through both.
"""

from .request import GenerationRequest, check_inputs
from .resolver import asked, aligned_streams, encode, resolve, segments

__all__ = ["GenerationRequest", "check_inputs", "resolve", "encode", "segments", "aligned_streams", "asked"]
