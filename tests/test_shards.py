"""Sharded corpora (WebDataset tar shards): writing, streaming per rank and worker, MusicCaps import,
sharded token caches and the codec trainer streaming shards."""

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from musiclm_studio import cli
from musiclm_studio.data.shards import (StreamingCropSampler, read_index, shard_corpus, split_clips, stream,
                                        write_shards)
from musiclm_studio.eval.synth import drum_loop, hummed_melody

SR = 24_000


def clip(i: int, seconds: float = 1.5) -> torch.Tensor:
    audio = drum_loop(seconds=2, seed=i) if i % 2 else hummed_melody(seed=i)
    return torch.from_numpy(np.asarray(audio[: int(seconds * SR)], dtype=np.float32)) * 0.5


def test_every_clip_is_streamed_once_by_two_workers_of_two_ranks(tmp_path):
    clips = [({"caption": f"clip {i}", "split": "train", "index": i}, clip(i)) for i in range(13)]
    index = write_shards(iter(clips), str(tmp_path), SR, clips_per_shard=2)
    assert [s["clips"] for s in index["splits"]["train"]] == [2, 2, 2, 2, 2, 2, 1]
    assert split_clips(str(tmp_path), "train") == 13 and read_index(str(tmp_path))["sample_rate"] == SR
    seen = {}
    for rank in (0, 1):
        loader = torch.utils.data.DataLoader(stream(str(tmp_path), "train", SR, rank=rank, world=2, epoch=0),
                                             batch_size=None, num_workers=2)
        seen[rank] = [(item["row"]["index"], item["audio"]) for item in loader]
    indices = [i for rank in seen.values() for i, _ in rank]
    assert sorted(indices) == list(range(13))  # every clip once per epoch, none twice
    assert not {i for i, _ in seen[0]} & {i for i, _ in seen[1]}
    for i, audio in (pair for rank in seen.values() for pair in rank):  # 16-bit FLAC: within one step
        assert audio.shape == clips[i][1].shape
        assert float((audio - clips[i][1]).abs().max()) <= 1 / 32768 + 1e-6
    with pytest.raises(ValueError, match="smaller"):
        list(stream(str(tmp_path), "train", SR, rank=0, world=8))


def test_a_corpus_folder_becomes_shards_and_the_codec_streams_them(synthetic_corpus, tmp_path):
    out = tmp_path / "sharded"
    assert cli.main(["corpus", "shard", "--data", str(synthetic_corpus), "--out", str(out),
                     "--clips-per-shard", "2"]) == 0
    index = read_index(str(out))
    assert index["clips"] == 6 and split_clips(str(out), "train") == 5 and split_clips(str(out), "valid") == 1
    sampler = StreamingCropSampler(str(out), "train", SR, crop=SR // 2, seed=0, rank=1, world=2)
    batch = sampler.batch(4, slice(2, 4))  # rank 1's rows of a global batch of 4
    assert batch.shape == (2, SR // 2) and batch.abs().max() > 0.01
    from musiclm_studio.train.codec import CodecRunConfig, train_codec

    run = CodecRunConfig(out=str(tmp_path / "run"), data=str(out), preset="tiny", steps=2, batch_size=2, crop_s=0.4,
                         log_every=1, save_every=100, warmup=1, bf16=False)
    train_codec(run)
    assert [json.loads(line)["step"] for line in open(tmp_path / "run" / "metrics.jsonl")] == [1, 2]


def test_musiccaps_layout_imports_cut_clips_into_shards(tmp_path, capsys):
    folder = tmp_path / "downloads"
    folder.mkdir()
    with open("/work/shared/data/musiccaps/captions.csv") if os.path.isfile(
            "/work/shared/data/musiccaps/captions.csv") else open(os.devnull) as f:
        real = [row["caption"] for row, _ in zip(csv.DictReader(f), range(3))]
    captions = (real + ["a calm piano piece", "a fast drum groove", "a folk song"])[:3]
    rows = [("vid_full", 1, 3), ("vid_cut", 30, 32), ("vid_other", 0, 2)]
    sf.write(folder / "vid_full.wav", clip(0, 5.0).numpy(), SR)  # the whole video's audio: cut to 1..3 s
    sf.write(folder / "vid_cut.wav", clip(1, 2.0).numpy(), SR)  # already the clip
    sf.write(folder / "vid_other.wav", clip(2, 2.0).numpy(), SR)
    with open(folder / "captions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ytid", "start_s", "end_s", "aspect_list", "caption", "is_balanced_subset",
                         "is_audioset_eval"])
        for (ytid, start, end), caption in zip(rows, captions):
            writer.writerow([ytid, start, end, "['piano', 'calm']", caption, "False", "True"])
    out = tmp_path / "corpus"
    assert cli.main(["corpus", "import", str(folder), "--out", str(out), "--clips-per-shard", "2"]) == 0
    items = {item["row"]["source"]: item for split in read_index(str(out))["splits"]
             for item in stream(str(out), split, SR)}
    assert sorted(items) == ["vid_cut.wav", "vid_full.wav", "vid_other.wav"]
    full = items["vid_full.wav"]
    assert full["audio"].numel() == 2 * SR and full["row"]["offset_s"] == 1.0
    assert full["row"]["caption"] == captions[0] and full["row"]["aspects"] == ["piano", "calm"]
    assert items["vid_cut.wav"]["audio"].numel() == 2 * SR and items["vid_cut.wav"]["row"]["offset_s"] == 30.0
    reference = torch.from_numpy(sf.read(folder / "vid_full.wav", dtype="float32")[0][SR: 3 * SR])
    assert torch.corrcoef(torch.stack([full["audio"], reference]))[0, 1] > 0.999  # the span, loudness-normalised
    with open(folder / "captions.csv", "a") as f:
        f.write("vid_bad,5,2,[],backwards,False,False\n")
    assert cli.main(["corpus", "import", str(folder), "--out", str(tmp_path / "again")]) == 2
    assert "start_s 5 and end_s 2" in capsys.readouterr().err


def test_token_caches_are_written_as_shards_and_read_joined(synthetic_tokens, tmp_path):
    from musiclm_studio.train.tokens import TokenCacheConfig, build_token_cache, load_caches

    root, whole = synthetic_tokens
    sets = build_token_cache(TokenCacheConfig(out=str(tmp_path / "tokens"), pipeline=str(root / "pipe"),
                                              data=str(root / "corpus"), mulan_windows=2, clips_per_shard=2))
    assert sorted(os.listdir(tmp_path / "tokens")) == ["train-000000.safetensors", "train-000001.safetensors",
                                                        "train-000002.safetensors", "valid-000000.safetensors"]
    joined = load_caches(str(tmp_path / "tokens"), "train")
    assert torch.equal(joined.codes, whole["train"].codes) and torch.equal(joined.semantic, whole["train"].semantic)
    assert torch.equal(joined.lengths, whole["train"].lengths) and torch.equal(sets["train"].codes, joined.codes)


def test_a_sharded_corpus_tokenizes_shard_by_shard_and_feeds_the_in_memory_trainers(synthetic_tokens, tmp_path):
    from musiclm_studio.train.data import corpus_entries, load_split
    from musiclm_studio.train.tokens import TokenCacheConfig, build_token_cache

    root, whole = synthetic_tokens
    shard_corpus(str(root / "corpus"), str(tmp_path / "sharded"), clips_per_shard=3)
    sets = build_token_cache(TokenCacheConfig(out=str(tmp_path / "tokens"), pipeline=str(root / "pipe"),
                                              data=str(tmp_path / "sharded"), mulan_windows=2))
    assert sorted(os.listdir(tmp_path / "tokens")) == ["train-000000.safetensors", "train-000001.safetensors",
                                                        "valid-000000.safetensors"]
    # the same clips in the same order (16-bit audio: the codec and semantic tokens may differ on a few frames)
    assert torch.equal(sets["train"].lengths, whole["train"].lengths)
    assert (sets["train"].semantic == whole["train"].semantic).float().mean() > 0.9
    rows, clips = load_split(str(tmp_path / "sharded"), "train", SR, limit=4, rank=1, world=2)
    assert [r["caption"] for r in rows] == [r["caption"] for r in corpus_entries(str(root / "corpus"), "train")[1:4:2]]
    assert len(clips) == 2 and len(corpus_entries(str(tmp_path / "sharded"), "valid")) == 1
