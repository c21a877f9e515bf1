"""Streaming generation on the tiny pipeline: chunks add up to the clip, every sample is final."""

import pytest
import torch

from musiclm_studio.streaming import chunk_ends, decoder_lookahead


def test_chunk_ends():
    assert chunk_ends(5.0, 2.0) == [2.0, 4.0, 5.0]
    assert chunk_ends(2.0, 2.0) == [2.0]
    with pytest.raises(ValueError):
        chunk_ends(5.0, 0)


def test_stream_chunks_add_up_and_match_a_final_decode(tiny_pipe):
    chunks = list(tiny_pipe.stream("a calm piano piece", duration_s=3.0, chunk_s=1.0, seed=5))
    assert [c.done for c in chunks] == [False, False, True]
    audio = torch.cat([c.audio for c in chunks])
    assert audio.numel() == 3 * 24_000 and torch.isfinite(audio).all()
    assert [c.start_s for c in chunks] == sorted(c.start_s for c in chunks)
    assert chunks[0].audio.numel() > 0 and chunks[0].elapsed_s < chunks[-1].elapsed_s
    final = chunks[-1].tokens
    assert final.semantic.shape == (1, 75) and final.coarse.shape == (1, 4, 150) and final.fine.shape == (1, 8, 150)
    whole = tiny_pipe.decode(final.coarse, final.fine)[0]
    torch.testing.assert_close(audio, whole, atol=1e-4, rtol=0)  # every emitted sample was final (the gain is causal)
    # the earlier chunks' tokens are prefixes of the final ones (nothing already played changes)
    first = chunks[0].tokens
    assert torch.equal(first.semantic, final.semantic[:, : first.semantic.shape[-1]])
    assert torch.equal(first.coarse, final.coarse[..., : first.coarse.shape[-1]])


def test_stream_is_deterministic_and_validates(tiny_pipe):
    a = torch.cat([c.audio for c in tiny_pipe.stream("folk guitar", duration_s=2.0, chunk_s=1.0, seed=1)])
    b = torch.cat([c.audio for c in tiny_pipe.stream("folk guitar", duration_s=2.0, chunk_s=1.0, seed=1)])
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        next(tiny_pipe.stream("", duration_s=2.0))
    with pytest.raises(ValueError):
        next(tiny_pipe.stream("x", duration_s=-1.0))
    assert decoder_lookahead(tiny_pipe) % 480 == 0
