"""Melody tokens follow a hummed or whistled tune; the agreement measure has known answers."""

import torch

from musiclm_studio.config import MelodyConfig
from musiclm_studio.eval.melody_eval import agreement, notes_to_tokens, tune_tokens
from musiclm_studio.eval.synth import DEFAULT_TUNE, hummed_melody
from musiclm_studio.models.melody_tokenizer import UNVOICED, MelodyTokenizer

SR = 24_000


def test_agreement_known_answers():
    truth = notes_to_tokens([(0.0, 0.4, 60), (0.4, 0.8, 62)], 25, 25)
    assert truth[:10].tolist() == [0] * 10 and truth[10:20].tolist() == [2] * 10 and (truth[20:] == UNVOICED).all()
    perfect = agreement(truth, truth)
    assert perfect["pitch_class_accuracy"] == 1.0 and perfect["voicing_recall"] == 1.0
    late = torch.cat([truth[:1], truth[:-1]])  # one frame late: wrong only at the note change
    found = agreement(late, truth)
    assert abs(found["pitch_class_accuracy"] - 19 / 20) < 1e-6 and found["accuracy_inside_notes"] == 1.0
    shifted = agreement((truth + 1).clamp(max=UNVOICED), truth)
    assert shifted["pitch_class_accuracy"] == 0.0


def test_hummed_and_whistled_tunes_are_tracked():
    tokenizer = MelodyTokenizer(MelodyConfig())
    for voice in ("hum", "whistle"):
        audio = hummed_melody(DEFAULT_TUNE, sample_rate=SR, voice=voice)
        found = agreement(tokenizer(torch.from_numpy(audio)), tune_tokens(DEFAULT_TUNE, audio.size / SR, 25))
        assert found["pitch_class_accuracy"] > 0.9 and found["voicing_recall"] > 0.95, (voice, found)


def test_transposed_hum_moves_the_tokens():
    tokenizer = MelodyTokenizer(MelodyConfig())
    up = [(p + 5, s) for p, s in DEFAULT_TUNE]
    audio = hummed_melody(up, sample_rate=SR)
    found = agreement(tokenizer(torch.from_numpy(audio)), tune_tokens(up, audio.size / SR, 25))
    assert found["pitch_class_accuracy"] > 0.9
