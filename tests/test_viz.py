"""viz: mel spectrogram maths, codebook colours, token images and figures, on the tiny pipeline."""

import numpy as np
import pytest
import torch

from musiclm_studio import viz


@pytest.fixture(scope="module")
def tiny_out(tiny_pipe):
    melody = torch.sin(2 * torch.pi * 440 * torch.arange(24_000) / 24_000)  # 1 s of A4
    return tiny_pipe("a calm piano piece", duration_s=1.0, seed=0, melody=melody, melody_sample_rate=24_000)


def test_mel_spectrogram_db_finds_a_sine_and_peaks_at_zero():
    sr = 24_000
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(sr) / sr)
    db = viz.mel_spectrogram_db(tone, sr, n_mels=64, hop_length=256)
    assert db.shape == (64, sr // 256 + 1)
    assert db.max().item() == pytest.approx(0.0) and db.min().item() >= -80.0
    centre_bin = int(db.mean(1).argmax())
    freqs = viz.mel_filterbank(sr, 1024, 64).argmax(1) * sr / 1024  # filter peak frequencies
    assert abs(freqs[centre_bin].item() - 1000) < 150
    assert viz.mel_spectrogram_db(np.zeros(100, np.float32), sr).shape[1] >= 1  # short, silent: no crash


def test_pca_colours_make_similar_codes_look_alike():
    torch.manual_seed(0)
    base = torch.randn(8, 32)
    vectors = torch.cat([base, base + 0.01 * torch.randn(8, 32)])  # codes i and i + 8 are near twins
    rgb = viz.pca_colours(vectors)
    assert rgb.shape == (16, 3) and rgb.min() >= 0 and rgb.max() <= 1
    twin = (rgb[:8] - rgb[8:]).norm(dim=-1).mean()
    other = (rgb[:8] - rgb[:8].roll(1, 0)).norm(dim=-1).mean()
    assert twin < 0.1 * other


def test_palettes_cover_every_stream_and_vocab(tiny_pipe):
    palettes = viz.token_palettes(tiny_pipe)
    vectors = tiny_pipe.codebook_vectors()
    assert palettes["coarse"].shape == (vectors["coarse"].shape[0], vectors["coarse"].shape[1], 3)
    assert palettes["semantic"].shape == (1, vectors["semantic"].shape[0], 3)
    assert palettes["melody"].shape == (1, 13, 3)
    fallback = viz.token_palettes(None, vocab_size=64)
    assert fallback["fine"].shape == (8, 64, 3)
    assert torch.equal(fallback["fine"], viz.token_palettes(None, vocab_size=64)["fine"])  # deterministic


def test_token_image_shapes_and_unknown_ids(tiny_pipe, tiny_out):
    palettes = viz.token_palettes(tiny_pipe)
    coarse = tiny_out.tokens.coarse  # [1, 4, T]
    image = viz.token_image(coarse, palettes["coarse"])
    assert image.shape == (4, coarse.shape[-1], 3)
    same = coarse[0, 0, 0] == coarse[0, 0]
    assert np.allclose(image[0, same.numpy()], image[0, 0])  # one id, one colour
    bad = viz.token_image(torch.tensor([[-1, 10_000]]), palettes["coarse"])
    assert np.allclose(bad, viz.MISSING)


def test_strip_image_grows_with_tokens(tiny_pipe, tiny_out):
    palettes = viz.token_palettes(tiny_pipe)
    partial = {"semantic": tiny_out.tokens.semantic[..., :5]}
    empty = viz.token_strip_image({}, palettes, tiny_pipe, duration_s=1.0, width=200)
    some = viz.token_strip_image(partial, palettes, tiny_pipe, duration_s=1.0, width=200)
    full = viz.token_strip_image(tiny_out.tokens, palettes, tiny_pipe, width=200)
    assert empty.dtype == np.uint8 and empty.shape[1] == 200 and empty.shape == some.shape == full.shape
    pending = np.all(some == round(viz.PENDING * 255), axis=-1).sum()
    assert np.all(empty == round(viz.PENDING * 255), axis=-1).sum() > pending > 0
    level = 3  # mulan band: level q in the q-th twelfth of the width, in level q's colour of its token
    expected = palettes["mulan"][level, tiny_out.tokens.mulan[0, level]].numpy() * 255
    assert np.allclose(full[0, level * 200 // 12 + 2], expected, atol=1)


def test_overview_png_with_and_without_pipe(tmp_path, tiny_pipe, tiny_out):
    with_pipe = viz.save_overview_png(str(tmp_path / "a.png"), tiny_out.audio, tiny_out.sample_rate, tiny_out.tokens,
                                      pipe=tiny_pipe)
    alone = viz.save_overview_png(str(tmp_path / "b.png"), tiny_out.audio.numpy(), tiny_out.sample_rate,
                                  tiny_out.tokens.as_dict())
    for path in (with_pipe, alone):
        image = viz.plt.imread(path)
        assert image.shape[0] > 500 and image.shape[1] > 500 and image[..., :3].std() > 0.05
    # the CLI's overview is the app's: the spectrogram and token images the page shows, stacked
    shown = viz.stack_images(viz.spectrogram_image(tiny_out.audio, tiny_out.sample_rate, tiny_pipe),
                             viz.token_streams_image(tiny_out.tokens, tiny_pipe))
    assert np.array_equal((viz.plt.imread(with_pipe)[..., :3] * 255).round().astype(np.uint8), shown)


def test_plot_token_streams_accepts_partial_and_story_tokens(tiny_pipe):
    story_mulan = torch.randint(0, 32, (1, 3, 12))  # three story segments
    fig = viz.plot_token_streams({"mulan": story_mulan, "semantic": torch.randint(0, 32, (1, 1, 10))}, tiny_pipe,
                                 duration_s=2.0)
    assert len(fig.axes) == 5
    assert fig.axes[2].get_xlim()[1] == pytest.approx(2.0)  # the live time axis is fixed to the duration
    array = viz.figure_to_array(fig)
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3


def test_stacked_images_keep_both_and_pad_the_narrower_with_white():
    import numpy as np

    from musiclm_studio.viz import stack_images

    wide, narrow = np.zeros((4, 6, 3), np.uint8), np.full((2, 3, 3), 7, np.uint8)
    out = stack_images(wide, narrow)
    assert out.shape == (6, 6, 3) and (out[:4] == 0).all() and (out[4:, :3] == 7).all() and (out[4:, 3:] == 255).all()
