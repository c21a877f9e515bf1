"""Codec training, its command line and its evaluation, on the tiny preset (seconds each)."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from musiclm_studio import cli
from musiclm_studio.eval.codec import Distances, comb_share, opus_roundtrip, si_sdr
from musiclm_studio.eval.codec_cli import load_codec
from musiclm_studio.eval.synth import drum_loop, hummed_melody, out_of_domain_set
from musiclm_studio.train.codec import CodecRunConfig, train_codec

SR = 24_000


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for i in range(3):
        sf.write(folder / f"hum{i}.wav", hummed_melody(seed=i)[: 2 * SR], SR)
        sf.write(folder / f"drums{i}.wav", drum_loop(seconds=2, seed=i), SR)
    return folder


@pytest.fixture(scope="module")
def trained_run(clip_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run = CodecRunConfig(out=str(out), data=str(clip_folder), preset="tiny", steps=6, batch_size=2, crop_s=0.4,
                         log_every=3, save_every=100, warmup=2)
    train_codec(run)
    return out


def test_training_logs_finite_losses_and_saves_a_loadable_component(trained_run):
    lines = [json.loads(line) for line in open(trained_run / "metrics.jsonl")]
    assert [r["step"] for r in lines] == [3, 6]
    assert all(np.isfinite(r["loss"]) and r["mel"] > 0 for r in lines)
    codec = load_codec(str(trained_run))
    codes = codec.encode(torch.from_numpy(hummed_melody(seed=9)[:SR])[None])
    assert codes.shape == (1, 12, 50) and 0 <= codes.min() and codes.max() < 1024


def test_training_resumes_where_it_stopped(trained_run, clip_folder):
    run = CodecRunConfig(out=str(trained_run), data=str(clip_folder), preset="tiny", steps=9, batch_size=2,
                         crop_s=0.4, log_every=3, save_every=100, warmup=2)
    train_codec(run)
    steps = [json.loads(line)["step"] for line in open(trained_run / "metrics.jsonl")]
    assert steps == [3, 6, 9]


def test_saved_weights_roundtrip_exactly_without_ema_state(trained_run, tmp_path):
    from musiclm_studio import hub

    codec = load_codec(str(trained_run))
    hub.save_component(str(tmp_path / "codec"), codec.config, codec)
    again = load_codec(str(tmp_path / "codec"))
    audio = torch.from_numpy(drum_loop(seconds=1, seed=3))[None]
    assert torch.equal(codec.encode(audio), again.encode(audio))
    assert torch.equal(codec.decode(codec.encode(audio)), again.decode(again.encode(audio)))
    assert not any("ema" in k for k in codec.state_dict())


def test_decoder_only_keeps_every_code_and_retrains_the_decoder(trained_run, clip_folder, tmp_path):
    out = tmp_path / "decoder"
    run = CodecRunConfig(out=str(out), data=str(clip_folder), preset="tiny", steps=3, batch_size=2, crop_s=0.4,
                         log_every=3, save_every=100, warmup=1, init_from=str(trained_run), decoder_only=True,
                         pitch_weight=4.0, long_stft_weight=2.0)
    train_codec(run)
    before, after = load_codec(str(trained_run)), load_codec(str(out))
    audio = torch.from_numpy(hummed_melody(seed=4)[:SR])[None]
    assert torch.equal(before.encode(audio), after.encode(audio))
    assert not torch.equal(before.decode(before.encode(audio)), after.decode(after.encode(audio)))
    logged = json.loads(open(out / "metrics.jsonl").readline())
    assert logged["pitch"] > 0 and logged["long_stft"] > 0 and np.isfinite(logged["loss"])
    with pytest.raises(ValueError, match="--init-from"):
        train_codec(CodecRunConfig(out=str(tmp_path / "x"), data=str(clip_folder), preset="tiny", decoder_only=True))


def test_pitch_loss_sees_a_semitone_that_is_small_for_the_mel_loss():
    from musiclm_studio.train.losses import MultiResolutionMelLoss, PitchLoss

    t = torch.arange(SR) / SR

    def chord(*semitones):  # a sustained triad of harmonic tones from A3
        return sum(torch.sin(2 * torch.pi * 220 * 2 ** (s / 12) * k * t) / k for s in semitones for k in (1, 2, 3))[None]

    major, minor = chord(0, 4, 7), chord(0, 3, 7)
    pitch, mel = PitchLoss(SR), MultiResolutionMelLoss(SR)
    assert pitch(major, major) < 1e-6
    # relative to what a 6 dB gain change costs each loss, the wrong third costs the pitch loss far more
    quieter = 0.5 * major
    assert pitch(minor, major) / pitch(quieter, major) > 1.5 * mel(minor, major) / mel(quieter, major)


def test_roundtrip_cli_downmixes_and_resamples(trained_run, tmp_path, capsys):
    stereo = np.stack([hummed_melody(sample_rate=44_100)[:44_100]] * 2, 1)
    sf.write(tmp_path / "in.wav", stereo, 44_100)
    code = cli.main(["codec", "roundtrip", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--levels", "4",
                     "--codec", str(trained_run)])
    assert code == 0
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == SR and audio.ndim == 1 and abs(audio.size - SR) <= 480
    text = capsys.readouterr().out
    assert "downmixed" in text and "resampled" in text and "1.2 kbps" in text  # tiny codec: 4 levels x 6 bits x 50 Hz


def test_roundtrip_cli_rejects_bad_levels_and_missing_weights(trained_run, tmp_path):
    sf.write(tmp_path / "in.wav", hummed_melody()[:SR], SR)
    assert cli.main(["codec", "roundtrip", str(tmp_path / "in.wav"), str(tmp_path / "o.wav"), "--levels", "13",
                     "--codec", str(trained_run)]) == 2
    assert cli.main(["codec", "roundtrip", str(tmp_path / "in.wav"), str(tmp_path / "o.wav"),
                     "--codec", str(tmp_path)]) == 2


def test_metrics_have_known_answers():
    clip = torch.from_numpy(hummed_melody()[:SR])
    same = Distances(SR)(clip, clip)
    assert same["mel"] < 1e-6 and same["stft"] < 1e-6 and same["si_sdr"] > 100
    assert same["chroma"] > 0.999 and same["mode"] == 1.0
    assert si_sdr(0.5 * clip, clip) > 100  # scale-invariant
    noisy = clip + 0.1 * torch.randn_like(clip)
    assert Distances(SR)(noisy, clip)["mel"] > Distances(SR)(clip + 0.01 * torch.randn_like(clip), clip)["mel"]


def test_comb_share_hears_a_frame_rate_buzz():
    clip = hummed_melody()[: 2 * SR]
    n = np.arange(clip.size)
    buzz = sum(np.cos(2 * np.pi * 50 * k * n / SR) for k in range(1, 40))  # a 50 Hz frame rate's harmonics
    buzz = buzz / buzz.std() * clip.std()  # as loud as the music
    noise = np.random.default_rng(0).normal(0, clip.std(), clip.size)
    assert comb_share(clip, SR, 50) < 0.1 and comb_share(clip + noise, SR, 50) < 0.1
    assert 0.4 < comb_share(clip + buzz, SR, 50) < 0.6
    assert Distances(SR)(torch.from_numpy(clip + buzz), torch.from_numpy(clip))["comb"] > 0.4


def test_opus_hits_its_bitrate_and_more_bits_sound_closer():
    clip = torch.from_numpy(hummed_melody()[: 3 * SR])
    low, low_kbps = opus_roundtrip(clip, SR, 12)
    high, high_kbps = opus_roundtrip(clip, SR, 48)
    assert low.shape == clip.shape and 6 <= low_kbps <= 13 and 30 <= high_kbps <= 49
    d = Distances(SR)
    assert d(high, clip)["mel"] < d(low, clip)["mel"]


def test_out_of_domain_clips_are_deterministic_and_audible():
    a, b = out_of_domain_set(), out_of_domain_set()
    for name in a:
        assert np.array_equal(a[name], b[name]) and 0.1 < np.abs(a[name]).max() <= 1.0, name


def test_eval_cli_writes_tables_and_level_pngs(trained_run, clip_folder, tmp_path):
    out = tmp_path / "eval"
    assert cli.main(["codec", "eval", "--codec", str(trained_run), "--data", str(clip_folder), "--n", "2",
                     "--out", str(out), "--no-opus"]) == 0
    table = (out / "codec_eval.md").read_text()
    assert "codec, 4 levels" in table and "codec, 12 levels" in table and "out-of-domain" in table
    report = json.loads((out / "codec_eval.json").read_text())
    assert "frame-rate comb" in table and all(0 <= r["comb"] <= 1 for r in report["rows"])
    assert set(report["original_comb"]) == {r["set"] for r in report["rows"]}
    assert len(report["usage"]) == 12 and all(0 < u <= 1 for u in report["usage"])
    assert (out / "mel_corpus_original_4_12.png").stat().st_size > 10_000
    assert (out / "mel_out_of_domain_original_4_12.png").exists()
