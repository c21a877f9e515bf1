"""Saving and loading pipelines: one folder, one sub-folder per component, no pickles.

Layout::

    <dir>/pipeline.json                     format, version, name, trained flag, limits, component list
    <dir>/<component>/config.json           the component's dataclass config
    <dir>/<component>/model.safetensors     its weights (absent for weight-free components)

``resolve_pretrained`` accepts a local folder or a Hugging Face Hub id (downloaded with
``huggingface_hub.snapshot_download`` where the network allows; offline it uses the cache).
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT = "musiclm-studio"
VERSION = 1
DEFAULT_PIPELINE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "musiclm-small")


def resolve_pretrained(path_or_id: str | os.PathLike | None) -> str:
    """Local folder for a path, a Hub id, or None (the shipped default)."""
    if path_or_id is None:
        path_or_id = DEFAULT_PIPELINE
    path = os.fspath(path_or_id)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "pipeline.json")):
            raise ValueError(f"{path!r} has no pipeline.json; it is not a saved MusicLM Studio pipeline.")
        return path
    if path.count("/") == 1 and not path.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            return snapshot_download(path)
        except Exception as error:  # noqa: BLE001 - any hub failure becomes one clear message
            raise ValueError(
                f"Could not fetch {path!r} from the Hugging Face Hub ({type(error).__name__}). "
                "Offline, pass a local folder saved with save_pretrained()."
            ) from error
    raise ValueError(f"No pipeline at {path!r}: pass a folder saved with save_pretrained() or a Hub id.")


def write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")


def read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as error:
        raise ValueError(f"Missing {path!r}: the checkpoint is incomplete; save it again.") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r} is not valid JSON ({error}); the checkpoint is corrupt.") from error


def save_component(folder: str, config, module: torch.nn.Module | None = None, dtype: torch.dtype | None = None,
                   state: dict[str, torch.Tensor] | None = None) -> None:
    """Write config.json (+ model.safetensors for modules with state, or of the weights ``state``)."""
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), config.to_dict())
    if module is None and state is None:
        return
    weights, state = (module.state_dict() if module is not None else state), {}
    for name, tensor in weights.items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        state[name] = tensor.contiguous().clone()
    save_file(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})


def load_config(folder: str, config_cls):
    return config_cls.from_dict(read_json(os.path.join(folder, "config.json")))


LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


def is_lfs_pointer(head: bytes, size: int) -> bool:
    """True for a Git LFS pointer (the few lines a clone without git-lfs gets in place of an LFS
    file), from the file's first bytes and its size."""
    return size < 1024 and head.startswith(LFS_POINTER)


def _file_is_lfs_pointer(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return is_lfs_pointer(f.read(len(LFS_POINTER)), os.fstat(f.fileno()).st_size)
    except OSError:
        return False


def _read_weights(folder: str) -> dict[str, torch.Tensor]:
    path = os.path.join(folder, "model.safetensors")
    if _file_is_lfs_pointer(path):
        raise ValueError(f"{path!r} is a Git LFS pointer, not the weights: install git-lfs and run "
                         "`git lfs pull` in the clone (README, Publish your own Space).")
    try:
        return load_file(path)
    except FileNotFoundError as error:
        raise ValueError(f"Missing weights {path!r}; the checkpoint is incomplete.") from error
    except Exception as error:  # noqa: BLE001 - safetensors raises several types for corrupt files
        raise ValueError(f"Could not read {path!r} ({error}); the file is corrupt. Save or copy it again.") from error


def load_state(folder: str, module: torch.nn.Module, prefixes: tuple[str, ...] | None = None) -> torch.nn.Module:
    """Load model.safetensors into ``module`` (strict; dtypes converted to the module's). ``prefixes``:
    take only the tensors whose names start with one of them (a folder holding two components)."""
    state, own = _read_weights(folder), module.state_dict()
    if prefixes is not None:
        state = {k: v for k, v in state.items() if k.startswith(prefixes)}
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = str(error).replace("\n", " ")
        detail = detail if len(detail) < 400 else detail[:400] + "..."
        raise ValueError(f"Weights in {folder!r} do not match their config.json: {detail}") from error
    return module


def load_matching(folder: str, module: torch.nn.Module, prefix: str = "") -> list[str]:
    """Initialise ``module`` from older weights of a changed architecture: load the tensors whose
    names and shapes match and return the names of those left at their initialisation. ``prefix``:
    take only the weights under it (e.g. one member of a MuLan ensemble), named without it."""
    state, own = _read_weights(folder), module.state_dict()
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    state = {k: v.to(own[k].dtype) for k, v in state.items() if k in own and own[k].shape == v.shape}
    module.load_state_dict(state, strict=False)
    return sorted(k for k in own if k not in state)
