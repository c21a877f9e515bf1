"""Shared fixtures: a tiny pipeline (seconds to build), the shipped default, and the served app."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one torch thread each
    # and its own numba cache: workers filling one empty cache at once (a fresh clone's librosa kernels)
    # can mix up its files and crash with a segmentation fault (numba/numba#10128).
    # It starts as a copy of the kernels `make test` compiled before the workers started (tests/numba_seed.py).
    numba_caches = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "numba")
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(numba_caches, os.environ["PYTEST_XDIST_WORKER"])
    if os.path.isdir(os.path.join(numba_caches, "seed")) and not os.path.isdir(os.environ["NUMBA_CACHE_DIR"]):
        import shutil

        shutil.copytree(os.path.join(numba_caches, "seed"), os.environ["NUMBA_CACHE_DIR"])
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_pipe():
    from musiclm_studio.pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_config("tiny", seed=0)
    pipe.show_progress = False
    return pipe


@pytest.fixture(scope="session")
def tiny_full_pipe():
    """The debug fixture of the shipped model's default paths: tiny, with an attribute critic and
    semantic and coarse LMs that hear a beat grid and a key (untrained, seconds to build)."""
    from musiclm_studio.pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_config("tiny-full", seed=0)
    pipe.show_progress = False
    return pipe


def write_corpus(folder, clips):
    """Write a corpus folder the trainers and evaluations read, ``audio/`` (24 kHz WAVs) and
    ``metadata.jsonl``, from (file name, audio, row) per clip (the row's ``path`` is added): one
    writer for the tests' synthetic corpora. Returns ``folder``."""
    import json

    import soundfile as sf

    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, audio, row in clips:
        sf.write(folder / "audio" / name, audio, 24_000)
        rows.append({"path": f"audio/{name}", **row})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory):
    """A corpus folder (``audio/`` + ``metadata.jsonl``) of six 3-s synthetic clips the trainers read:
    drum loops (even clips: a fast minor rock song with drums, 140 bpm, tonic A, guitar lead) alternating
    with hummed lines (odd clips: a slow major piano piece without drums, 70 bpm, tonic F#, MIDI
    ``lead_notes``). Clip 0 names no tonic (a corpus may not name every tonic); clip 5 is the valid split."""
    from musiclm_studio.eval.synth import drum_loop, hummed_melody

    clips = []
    for i in range(6):
        drums = i % 2 == 0
        audio = drum_loop(seconds=3, seed=i) if drums else hummed_melody(seed=i)[: 3 * 24_000]
        caption = ("a fast rock song with drums, 140 bpm, in a minor key" if drums
                   else "a slow piano piece with no drums")
        clips.append((f"{i}.wav", audio, {
            "caption": caption, "split": "valid" if i == 5 else "train",
            "bpm": 140 if drums else 70, "mode": "minor" if drums else "major", "drums": drums,
            **({"tonic": "A" if drums else "F#"} if i else {}), "lead_family": "guitar" if drums else "piano",
            "lead_notes": [] if drums else [[0.0, 0.5, 60 + i], [0.5, 1.5, 64]]}))
    return write_corpus(tmp_path_factory.mktemp("synthetic") / "corpus", clips)


@pytest.fixture(scope="session")
def synthetic_tokens(synthetic_corpus):
    """``synthetic_corpus``'s token cache: returns (root, token sets by split), where ``root`` holds
    ``corpus``, ``pipe`` (the tiny pipeline, its tokenizers taken as trained: the plumbing is what is
    tested) and ``tokens`` (built with it, two MuLan windows per clip). Read-only for the tests."""
    from musiclm_studio.pipeline import MusicLMPipeline
    from musiclm_studio.train.tokens import TokenCacheConfig, build_token_cache

    root = synthetic_corpus.parent
    pipe = MusicLMPipeline.from_config("tiny", seed=0)
    pipe.components.untrained = set()
    pipe.save_pretrained(str(root / "pipe"))
    sets = build_token_cache(TokenCacheConfig(out=str(root / "tokens"), pipeline=str(root / "pipe"),
                                              data=str(synthetic_corpus), mulan_windows=2))
    return root, sets


@pytest.fixture(scope="session")
def default_pipe():
    from musiclm_studio.pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained()
    pipe.show_progress = False
    return pipe


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where app.py reads its host and port; a started app gets only the ones the test gives.
SERVER_VARIABLES = ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "HOST", "PORT", "SPACE_ID")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def serve_app(tmp_path_factory):
    """``serve_app(port_variable, **env)`` runs ``python app.py`` on a free port given in
    ``port_variable``, waits for HTTP 200 on loopback and returns (url, process); every app it
    started is stopped when the module ends."""
    started = []

    def start(port_variable="GRADIO_SERVER_PORT", **env):
        port = free_port()
        inherited = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
        if "NUMBA_CACHE_DIR" in inherited:  # the app's own, as this worker's cache has it now (while it waits here)
            import shutil

            inherited["NUMBA_CACHE_DIR"] += "-app"
            if os.path.isdir(os.environ["NUMBA_CACHE_DIR"]):
                shutil.copytree(os.environ["NUMBA_CACHE_DIR"], inherited["NUMBA_CACHE_DIR"], dirs_exist_ok=True)
        env = dict(inherited, GRADIO_ANALYTICS_ENABLED="False", **env, **{port_variable: str(port)},
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        log_path = tmp_path_factory.mktemp("app") / "app.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, os.path.join(ROOT, "app.py")], cwd=ROOT, env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        url, deadline = f"http://127.0.0.1:{port}/", time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if urllib.request.urlopen(url, timeout=5).status == 200:
                    return url, process
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer on {url} within 180 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)

    yield start
    for process in started:
        stop_app(process)


def stop_app(process) -> int:
    """Stop a served app by its PID; returns its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
