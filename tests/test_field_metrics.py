"""KL and CLAP score (eval.field_metrics): audiocraft's KL definition on known numbers, the critic as an
offline classifier, the CLAP score in MuLan space against the pipeline's own MuLan score, and the refusals
(the PaSST and LAION-CLAP paths need packages and checkpoints this machine does not have)."""

import math

import pytest
import torch

from musiclm_studio.eval.field_metrics import clap_score, field_report, kl_divergence, kl_report
from musiclm_studio.eval.synth import drum_loop, hummed_melody

SR = 24_000


def _clips(seed: int) -> list[torch.Tensor]:
    hum = torch.as_tensor(hummed_melody(seed=seed)[:SR], dtype=torch.float32)
    drums = torch.as_tensor(drum_loop(seconds=1.0, seed=seed), dtype=torch.float32)
    return [hum, drums, 0.5 * hum + drums[: hum.numel()]]


def test_kl_is_audiocrafts_kl_of_the_real_clips_labels_from_the_generated_ones():
    real, generated = torch.tensor([[0.5, 0.5], [0.2, 0.8]]), torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    kl = kl_divergence(generated, real)
    assert kl[0].item() == pytest.approx(expected, abs=1e-4) and abs(kl[1].item()) < 1e-5


def test_critic_kl_is_zero_for_the_same_clips_and_positive_for_others(tiny_full_pipe):
    clips = _clips(0)
    same = kl_report("critic", clips, clips, SR, tiny_full_pipe)
    assert same["classifier"] == "critic" and same["pairs"] == 3
    assert set(same["kl"]) == {"tempo", "mode", "drums", "lead_family"} and abs(same["mean"]) < 1e-4
    other = kl_report("critic", clips, clips[::-1], SR, tiny_full_pipe)
    assert other["mean"] > 1e-4, other


def test_clap_score_in_mulan_space_is_the_pipelines_mulan_score(tiny_full_pipe):
    texts, clips = ["a hummed tune", "a drum loop", "a tune with drums"], _clips(1)
    score = clap_score("mulan", texts, clips, SR, tiny_full_pipe.components.mulan)
    own = [tiny_full_pipe.score(t, c[None]).item() for t, c in zip(texts, clips)]
    assert score == pytest.approx(sum(own) / 3, abs=1e-5)


def test_field_report_pairs_only_prompts_with_a_real_clip(tiny_full_pipe):
    clips = _clips(2)
    report = field_report(("critic",), ("mulan",), ["a", "b", "c"], clips, [clips[0], None, clips[2]], SR,
                          tiny_full_pipe, tiny_full_pipe.components.mulan)
    assert report["kl"][0]["pairs"] == 2 and report["clap"][0]["model"] == "mulan" and not report["notices"]
    none = field_report(("critic",), (), ["a"], clips[:1], [None], SR, tiny_full_pipe)
    assert not none["kl"] and "no prompt has a real clip" in none["notices"][0]


def test_bad_requests_are_refused_with_what_to_do(tiny_full_pipe):
    clips = _clips(3)
    with pytest.raises(ValueError, match="Unknown --kl"):
        kl_report("vggish", clips, clips, SR, tiny_full_pipe)
    with pytest.raises(ValueError, match="pairs each generated clip"):
        kl_report("critic", clips, clips[:2], SR, tiny_full_pipe)
    with pytest.raises(ValueError, match="Unknown --clap-score"):
        clap_score("clip", ["a"], clips[:1], SR)
    with pytest.raises(ValueError, match="needs a MuLan"):
        clap_score("mulan", ["a"], clips[:1], SR)
    with pytest.raises(ValueError, match="laion-clap"):  # not installed here: refused before any download
        clap_score("laion-clap-music", ["a"], clips[:1], SR)
    try:
        import hear21passt  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="hear21passt"):
            kl_report("passt", clips, clips, SR)
