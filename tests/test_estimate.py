"""``train estimate``: parameter counts, memory and measured steps of a preset's components."""

import json
import math

import pytest

from musiclm_studio import cli
from musiclm_studio.train.estimate import COMPONENTS, measure


def test_estimate_measures_every_component_of_a_preset(tmp_path, capsys):
    out = tmp_path / "estimate.json"
    assert cli.main(["train", "estimate", "--preset", "tiny", "--batch", "2", "--seconds", "0.5", "--steps", "2",
                     "--out", str(out)]) == 0
    rows = json.load(open(out))
    assert [r["component"] for r in rows] == list(COMPONENTS)
    for r in rows:
        assert r["parameters"] > 1000 and math.isfinite(r["loss"]) and r["measured_step_s"] > 0
        assert r["train_state_gb"] == round(r["parameters"] * 16 / 2**30, 2) and r["gpu_step_s_estimate"] > 0
    assert "GPU step, 8-GPU recipe batch (estimate)" in capsys.readouterr().out
    assert cli.main(["train", "estimate", "--preset", "tiny", "--components", "vocoder"]) == 2


@pytest.mark.slow
def test_the_paper_preset_builds_and_trains_one_step_on_tiny_inputs():
    """About 6 GB of memory and a minute on 2 CPU cores: the paper's sizes (codec 12 x 1024, LMs of 24 layers
    at width 1024) build, and one AdamW step of each on 0.5 s of random input gives a finite loss."""
    sizes = {}
    for component in COMPONENTS:
        row = measure(component, "paper", batch=1, seconds=0.5, steps=1)
        assert math.isfinite(row.loss)
        sizes[component] = row.parameters
    assert all(300e6 < sizes[lm] < 330e6 for lm in ("semantic_lm", "coarse_lm", "fine_lm"))
    assert sizes["codec"] > 50e6 and sizes["mulan"] > 80e6
