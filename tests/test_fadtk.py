"""FAD through Microsoft's fadtk, with our MuLan registered as a fadtk embedding: it must equal our own
FAD implementation on the same clips. fadtk imports beside any torch (a stand-in replaces a torchaudio that
cannot load: torchaudio_free.py); skipped only where it is not installed (make setup-dev installs it). The
refusals are tested everywhere."""

import numpy as np
import pytest
import torch

from musiclm_studio import cli
from musiclm_studio.eval.fadtk_bridge import fadtk_fad, import_fadtk, own_fad, write_clips
from musiclm_studio.eval.synth import drum_loop, hummed_melody

SR = 24_000


def fadtk_or_skip():
    try:
        return import_fadtk()
    except ValueError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """24 reference clips and 24 generated ones, 1.5 s each: hummed lines, drum loops and their mixes at
    random gains (varied enough that the tiny MuLan's 16-d embeddings have full-rank covariances)."""
    root = tmp_path_factory.mktemp("fad")
    rng = np.random.default_rng(0)

    def clip(i: int, drums_share: float) -> torch.Tensor:
        hum = np.asarray(hummed_melody(seed=i)[: int(1.5 * SR)], dtype=np.float32)
        drums = np.asarray(drum_loop(seconds=1.5, seed=i), dtype=np.float32)
        mix = rng.uniform(0, 1) < drums_share
        a, b = rng.uniform(0.1, 1.0, 2)
        return torch.from_numpy(a * hum + (b * drums if mix else 0.02 * rng.standard_normal(hum.size).astype(np.float32)))

    return (write_clips([clip(i, 0.3) for i in range(24)], str(root / "reference"), SR),
            write_clips([clip(100 + i, 0.7) for i in range(24)], str(root / "generated"), SR))


def test_fadtk_with_the_mulan_embedding_equals_our_fad(folders, tiny_pipe):
    fadtk_or_skip()
    reference, generated = folders
    mulan = tiny_pipe.components.mulan
    result = fadtk_fad(reference, generated, "mulan", mulan)
    ours = own_fad(reference, generated, mulan)
    assert result.embedding == "mulan" and result.model.startswith("musiclm-studio-mulan-")
    assert result.reference_clips == result.generated_clips == 24
    print(f"fadtk FAD (mulan frames) {result.fad:.6f}, ours {ours:.6f}, difference {abs(result.fad - ours):.2e}")
    assert ours > 0.005 and abs(result.fad - ours) < 1e-3, (result.fad, ours)
    assert torch.is_grad_enabled()  # fadtk's global switch is undone


def test_the_field_embeddings_need_their_weights(folders):
    fadtk_or_skip()
    with pytest.raises(ValueError, match="weights could not be loaded"):
        fadtk_fad(*folders, "mert")  # HF_HUB_OFFLINE and no MERT in the cache


def test_bad_requests_are_refused_with_what_to_do(folders, tmp_path):
    with pytest.raises(ValueError, match="Unknown --fad-embedding"):
        fadtk_fad(*folders, "inception")
    with pytest.raises(ValueError, match="not empty"):
        write_clips([torch.zeros(SR)], folders[0], SR)
    (tmp_path / "one").mkdir()
    with pytest.raises(ValueError, match="at least 2"):
        own_fad(str(tmp_path / "one"), folders[1], None)


def test_the_fad_command_reports_which_embedding_each_number_used(folders, tiny_pipe, tmp_path, capsys):
    tiny_pipe.save_pretrained(str(tmp_path / "pipe"))
    args = ["fad", "--reference", folders[0], "--generated", folders[1], "--fad-embedding", "mulan",
            "--pipeline", str(tmp_path / "pipe"), "--out", str(tmp_path / "fad.json")]
    try:
        import_fadtk()
    except ValueError:
        assert cli.main(args) == 2 and "fadtk" in capsys.readouterr().err  # says what to install
        return
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "| mulan | musiclm-studio-mulan-" in printed
    import json

    [row] = json.load(open(tmp_path / "fad.json"))
    assert row["embedding"] == "mulan" and row["fad"] == pytest.approx(own_fad(*folders, tiny_pipe.components.mulan))
