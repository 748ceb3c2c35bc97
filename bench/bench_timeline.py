"""Speed and memory of the emotion timeline on long recordings: seconds of processing per minute
of audio, and the peak memory it takes, for 1-, 10- and 30-minute recordings (clips of both
corpora between pauses), each in a fresh process so that peaks do not carry over.

    python bench/bench_timeline.py [--minutes 1 10 30]

Prints a table and writes it to results/bench/timeline.json beside the machine it ran on.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emodiff.benchmark import save_bench


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited at exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def one(path: str) -> dict:
    """Run in a fresh process: the timeline of `path` with the release's classifiers."""
    from emodiff.service import EmoDiff

    svc = EmoDiff()
    svc.classifier  # loaded before the clock and the memory baseline
    base = peak_mb()
    start = time.perf_counter()
    result = svc.timeline(path)
    return {"seconds_of_audio": result.seconds, "seconds": time.perf_counter() - start,
            "segments": len(result.segments), "peak_rss_mb": peak_mb(), "rss_growth_mb": peak_mb() - base}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure this file in this process
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    import soundfile as sf

    from emodiff.data import DEFAULT_DATA_ROOT, index_corpora
    from emodiff.timeline import build_recording

    records, rows = index_corpora(DEFAULT_DATA_ROOT), []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            # about 3.5 s of clip and pause each on average; a few more than needed, then cut
            samples, _ = build_recording(records, int(minutes * 60 / 3.0) + 5, 22050, seed=0, pauses=(0.5, 2.0))
            path = Path(tmp) / f"{minutes:g}min.flac"
            sf.write(path, samples[:int(minutes * 60 * 22050)], 22050)
            out = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True,
                                 check=True).stdout
            rows.append({"minutes": minutes, **json.loads(out.strip().splitlines()[-1])})
    lines = ["| recording | processing | per minute of audio | segments | peak memory |", "|---|---|---|---|---|"]
    for r in rows:
        r["seconds_per_minute"] = 60 * r["seconds"] / r["seconds_of_audio"]
        lines.append(f"| {r['minutes']:g} min | {r['seconds']:.1f} s | {r['seconds_per_minute']:.1f} s | "
                     f"{r['segments']} | {r['peak_rss_mb']:.0f} MB |")
    save_bench("timeline", sys.argv, rows, lines)


if __name__ == "__main__":
    main()
