"""Shared fixtures: a tiny pipeline (seconds to build) and the shipped default."""

import os

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
def default_pipe():
    from musiclm_studio.pipeline import MusicLMPipeline

    pipe = MusicLMPipeline.from_pretrained()
    pipe.show_progress = False
    return pipe
