"""Front-end speed: feature-cache build for both corpora and mel extraction real-time factor.

    python bench/bench_features.py [--data-root ../shared/data] [--workers 2]

Prints a markdown table. The cache is built into a fresh temporary folder so the number is
a cold build, never a cache hit.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emodiff.audio import load_audio
from emodiff.benchmark import save_bench, time_it, timing
from emodiff.data import ALL_EMOTIONS, DEFAULT_DATA_ROOT, FeatureCache, index_corpora
from emodiff.mel import MelConfig, mel_spectrogram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    cfg = MelConfig()  # the shipped models' mel
    records = index_corpora(args.data_root, ALL_EMOTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        mels = FeatureCache(tmp, cfg).build([r.path for r in records], workers=args.workers)
        build = time.perf_counter() - start
    audio_seconds = sum(m.shape[1] for m in mels) / cfg.frames_per_second

    wave = torch.from_numpy(load_audio(records[0].path, sample_rate=cfg.sample_rate).samples)
    three = torch.from_numpy(np.resize(wave.numpy(), 3 * cfg.sample_rate))
    batch = three.repeat(16, 1)
    mel_spectrogram(three, cfg)  # warm-up: filterbank cache, allocator
    single = time_it(lambda: mel_spectrogram(three, cfg), 50)
    batched = time_it(lambda: mel_spectrogram(batch, cfg), 10)
    decode = time_it(lambda: load_audio(records[0].path, sample_rate=cfg.sample_rate), 20)

    p50, rtf = statistics.median(single), statistics.median(batched) / (16 * 3)
    rows = [{"measurement": "cache_build", "seconds": build, "clips": len(records), "audio_minutes": audio_seconds / 60,
             "workers": args.workers},
            {"measurement": "mel_3s_clip", **timing(single), "real_time_factor": p50 / 3},
            {"measurement": "mel_batch_16x3s", **timing(batched), "real_time_factor": rtf},
            {"measurement": "decode_resample", **timing(decode)}]
    lines = ["| measurement | value |", "|---|---|",
             f"| feature cache, cold build, {len(records)} clips ({audio_seconds / 60:.1f} min of audio), "
             f"{args.workers} workers | {build:.1f} s (goal <= 60 s) |",
             f"| mel of a 3 s clip, p50 / p95 | {p50 * 1e3:.2f} / {np.percentile(single, 95) * 1e3:.2f} ms |",
             f"| mel real-time factor, single 3 s clip | {p50 / 3:.5f} ({3 / p50:.0f}x faster than real time) |",
             f"| mel real-time factor, batch of 16 x 3 s | {rtf:.5f} ({1 / rtf:.0f}x) |",
             f"| decode + resample, EmoDB clip 16 kHz -> {cfg.sample_rate / 1000:g} kHz, p50 | "
             f"{statistics.median(decode) * 1e3:.1f} ms |"]
    save_bench("features", sys.argv, rows, lines)

if __name__ == "__main__":
    main()
