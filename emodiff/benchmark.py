"""What every benchmark in bench/ shares: timing a call, and a line saying where it ran."""
from __future__ import annotations

import platform
import time

import torch


def time_it(fn, repeats: int) -> list[float]:
    """Seconds taken by each of `repeats` calls of `fn` (warm it up first)."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def device_line() -> str:
    """The device, threads, machine and torch version a table was measured with."""
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    return f"device: {device}, {platform.processor() or platform.machine()}, torch {torch.__version__}"
