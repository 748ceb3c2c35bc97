"""Weights on disk: safetensors only (no pickle), fp16 where it costs no accuracy.

A checkpoint that is truncated, tampered with or made for another network is refused with a
sentence saying so, never loaded half-way.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


class CheckpointError(RuntimeError):
    """A weights file that cannot be used; `str(err)` explains why."""


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
