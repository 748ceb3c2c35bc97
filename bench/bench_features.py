"""Front-end speed: feature-cache build for both corpora and mel extraction real-time factor.

    python bench/bench_features.py [--data-root ../shared/data] [--workers 2]

Prints a markdown table. The cache is built into a fresh temporary folder so the number is
a cold build, never a cache hit.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emodiff.audio import load_audio, mel_spectrogram
from emodiff.data import ALL_EMOTIONS, DEFAULT_DATA_ROOT, FeatureCache, index_corpora


def time_it(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    records = index_corpora(args.data_root, ALL_EMOTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        mels = FeatureCache(tmp).build([r.path for r in records], workers=args.workers)
        build = time.perf_counter() - start
    audio_seconds = sum(m.shape[1] for m in mels) * 256 / 22050

    wave = torch.from_numpy(load_audio(records[0].path).samples)
    three = torch.from_numpy(np.resize(wave.numpy(), 3 * 22050))
    batch = three.repeat(16, 1)
    mel_spectrogram(three)  # warm-up: filterbank cache, allocator
    single = time_it(lambda: mel_spectrogram(three), 50)
    batched = time_it(lambda: mel_spectrogram(batch), 10)
    decode = time_it(lambda: load_audio(records[0].path), 20)

    print(f"device: cpu ({torch.get_num_threads()} threads), {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}\n")
    print("| measurement | value |")
    print("|---|---|")
    print(f"| feature cache, cold build, {len(records)} clips ({audio_seconds / 60:.1f} min of audio), "
          f"{args.workers} workers | {build:.1f} s (goal <= 60 s) |")
    p50 = statistics.median(single)
    print(f"| mel of a 3 s clip, p50 / p95 | {p50 * 1e3:.2f} / {np.percentile(single, 95) * 1e3:.2f} ms |")
    print(f"| mel real-time factor, single 3 s clip | {p50 / 3:.5f} ({3 / p50:.0f}x faster than real time) |")
    rtf = statistics.median(batched) / (16 * 3)
    print(f"| mel real-time factor, batch of 16 x 3 s | {rtf:.5f} ({1 / rtf:.0f}x) |")
    print(f"| decode + resample, EmoDB clip 16 kHz -> 22.05 kHz, p50 | {statistics.median(decode) * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
