"""What every benchmark in bench/ shares: timing a call, describing the machine, and writing
its table as JSON under results/bench/, so that every speed the README quotes has a file
behind it (the README's tables are rendered from these files: docs/readme_tables.py)."""
from __future__ import annotations

import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parents[1] / "results" / "bench"


def time_it(fn, repeats: int) -> list[float]:
    """Seconds taken by each of `repeats` calls of `fn` (warm it up first)."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def timing(times) -> dict:
    """p50, p95, best and mean of a list of seconds, and how many there were."""
    times = np.asarray(times, float)
    return {"repeats": len(times), "p50": float(np.median(times)), "p95": float(np.percentile(times, 95)),
            "best": float(times.min()), "mean": float(times.mean())}


def machine() -> dict:
    """Where a benchmark ran: device, threads, CPU model and the flags that change speed."""
    flags, model = set(), platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(),
            "cpu": model, "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}),
            "torch": torch.__version__, "python": platform.python_version()}


def device_line(info: dict | None = None) -> str:
    """The machine as the line a table is printed under."""
    m = info or machine()
    device = "cuda" if m["device"] == "cuda" else f"cpu ({m['threads']} threads)"
    flags = " ".join(m.get("cpu_flags", [])) or "no AVX2"
    return f"device: {device}, {m['cpu']} ({flags}), torch {m['torch']}"


def save_bench(name: str, argv: list[str], rows: list[dict], lines: list[str], note: str | None = "",
               **meta) -> Path:
    """Print a benchmark's table (`lines`, Markdown) under the machine it ran on (`device_line`,
    then `note`; None: no header), and keep it in results/bench/NAME.json: the rows with the
    machine, the date and the command that made them (`argv`: the script's own, as run)."""
    header = None if note is None else device_line() + note
    print("\n".join(([header, ""] if header is not None else []) + lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"bench": name, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "command": " ".join(["python", *argv]), "machine": machine(), **meta,
        "table": "\n".join(lines), "rows": rows}, indent=1))
    return path
