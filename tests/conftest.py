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
