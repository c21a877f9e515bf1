"""Importing packages that import torchaudio at the top but never need it here.

torchcrepe and pesto (the pretrained melody trackers) and Microsoft's fadtk (FAD in the field's
embedding spaces) import torchaudio when they load, only to read and resample audio files, which
MusicLM Studio never asks of them: it hands them arrays read by ``audio.prepare_audio``. A
torchaudio build must match torch's exactly, and PyPI has none for every torch (none for 2.13;
its newest is a CUDA build that does not load beside a CPU torch). ``import_without_torchaudio``
imports such a package as it is where torchaudio works, and otherwise with a stand-in for
torchaudio that raises an ImportError naming what asked for it if it is ever used.
"""

from __future__ import annotations

import importlib
import sys
import types


def import_without_torchaudio(name: str, install: str):
    """The module ``name``; where torchaudio is missing or cannot load, imported with a stand-in for it.
    A missing ``name`` (or another of its own dependencies) raises a ValueError whose text is ``install``."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != "torchaudio":
            raise ValueError(install) from error
    except OSError:  # a torchaudio whose compiled extension was built for another torch
        pass
    for module in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.") or m == name
                   or m.startswith(name + ".")]:
        del sys.modules[module]
    stand_in = types.ModuleType("torchaudio")

    def unavailable(attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise ImportError(f"torchaudio is not usable here ({name} asked for torchaudio.{attribute}); "
                          "MusicLM Studio gives it audio arrays, never files.")
    stand_in.__getattr__ = unavailable
    sys.modules["torchaudio"] = stand_in
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise ValueError(install) from error
    finally:
        del sys.modules["torchaudio"]
