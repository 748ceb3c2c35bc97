"""Weights on disk: safetensors only (no pickle), fp16 where it costs no accuracy; model folders
found locally or fetched by Hugging Face Hub repo id (`model_folder`).

A checkpoint that is truncated, tampered with or made for another network is refused with a
sentence saying so, never loaded half-way. Files that parallel processes share (caches,
generated sets, results) are replaced atomically, never seen half-written.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


class CheckpointError(RuntimeError):
    """A weights file that cannot be used; `str(err)` explains why."""


REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_folder(name, allow: list[str] | None = None) -> Path:
    """A local folder, or a Hub model repo id ("user/name", or "user/name/sub/folder" for one
    folder in it) fetched into the huggingface_hub cache. The cache's rules hold: with
    HF_HUB_OFFLINE=1 only what is cached is used, and a missing repo is a `CheckpointError`,
    not a download. `allow`: patterns of the repo's files to fetch (default: all, or the
    subfolder's)."""
    path = Path(name).expanduser()
    parts = str(name).strip("/").split("/")
    if path.exists() or len(parts) < 2 or not REPO_ID.match("/".join(parts[:2])) or str(name).startswith((".", "/")):
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id, sub = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        root = Path(snapshot_download(repo_id, allow_patterns=allow or ([f"{sub}/*"] if sub else None)))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as e:
        raise CheckpointError(f"{name} is neither a folder here nor a Hugging Face Hub repo this machine can "
                              f"get ({type(e).__name__}: {e}).") from e
    return root / sub if sub else root


def replace_atomically(path, write: Callable[[Path], object]) -> None:
    """`write(tmp)`, then a rename onto `path`: parallel processes share caches and generated
    sets (the study split over workers), and a reader must never open half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npz(path, **arrays) -> None:
    """A compressed .npz (generated sets, feature caches), replaced atomically."""
    replace_atomically(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def write_config(folder, model_type: str, fields: dict, metadata: dict) -> Path:
    """A model folder's config.json: the kind of model, its config and free metadata (what it
    was trained on), so the folder alone says how to rebuild it. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, **fields, "metadata": metadata},
                                                   indent=1))
    return folder


def read_config(folder, what: str, model_type: str | None = None) -> tuple[dict, dict]:
    """A model folder's config.json -> (config fields, metadata). Refuses a folder without one
    and, given `model_type`, one that holds another kind of model."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"No {what} found at {folder} (config.json is missing).")
    raw = json.loads((folder / "config.json").read_text())
    kind = raw.pop("model_type", None)
    if model_type is not None and kind != model_type:
        raise CheckpointError(f"{folder} holds another kind of model.")
    return raw, raw.pop("metadata", {})


def save_safetensors(state: dict, path, fp16: bool = True) -> None:
    """Floating tensors go to fp16, except normalisation statistics (`running_*`), whose
    small variances lose precision there."""
    out = {}
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        if fp16 and t.is_floating_point() and "running_" not in name:
            t = t.half()
        out[name] = t
    save_file(out, str(path))


def load_safetensors(path, model: torch.nn.Module) -> dict:
    """Read `path` and check it against `model`'s state: same names, same shapes.
    Returns a state dict in the model's dtypes, ready for `load_state_dict`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No weights file at {path}.")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path.name} is corrupt or truncated and was not loaded ({e}).") from e
    expected = model.state_dict()
    missing, extra = expected.keys() - state.keys(), state.keys() - expected.keys()
    if missing or extra:
        raise CheckpointError(f"{path.name} does not match this network: "
                              f"{len(missing)} tensors missing, {len(extra)} unexpected.")
    for name, ref in expected.items():
        if state[name].shape != ref.shape:
            raise CheckpointError(f"{path.name} does not match this network: {name} has shape "
                                  f"{tuple(state[name].shape)}, expected {tuple(ref.shape)}.")
        state[name] = state[name].to(ref.dtype)
        if ref.is_floating_point() and not torch.isfinite(state[name]).all():
            raise CheckpointError(f"{path.name} holds non-finite values in {name}.")
    return state
