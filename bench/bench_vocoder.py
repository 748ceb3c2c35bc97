"""HiFi-GAN in fp32 vs bf16 convolutions: time for a 3 s clip and what it does to the sound.

    python bench/bench_vocoder.py [--data-root ../shared/data] [--clips 24]

Quality is measured by resynthesising real clips (both corpora, a seeded sample): log-mel L1
of the vocoded wave against the clip's own mel, split into loud bins (within 40 dB of the
clip's peak) and quiet ones, and SI-SDR of the bf16 wave against the fp32 one. On a CPU without
native bf16 (AVX512-BF16 or AMX) bf16 is emulated, about 100x slower, so only fp32 is timed
unless --emulated-bf16 asks for it; the table says which this machine is.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from emodiff.benchmark import save_bench, time_it, timing
from emodiff.data import ALL_EMOTIONS, DEFAULT_DATA_ROOT, index_corpora
from emodiff.mel import mel_of, mel_spectrogram
from emodiff.metrics import mel_l1_by_level, si_sdr
from emodiff.vocoder import Vocoder, hifigan_config, native_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--emulated-bf16", action="store_true", help="time bf16 even without hardware support")
    args = parser.parse_args()

    cfg = hifigan_config().mel  # the vocoder's own mel
    records = index_corpora(args.data_root, ALL_EMOTIONS)
    mels = [mel_of(r.path, cfg) for r in random.Random(0).sample(records, args.clips)]
    three = torch.from_numpy(np.resize(mels[0].numpy(), (cfg.n_mels, round(3 * cfg.frames_per_second))))

    # bf16 without hardware support is emulated, about 100x slower than fp32: not worth timing
    precisions = ("fp32", "bf16") if native_bf16() or args.emulated_bf16 else ("fp32",)
    rows = []
    for precision in precisions:
        vocoder = Vocoder(cfg, "hifigan", precision=precision)
        vocoder(three)  # warm-up: oneDNN kernels, allocator
        times = time_it(lambda: vocoder(three), args.repeats)
        vocoded = [vocoder(m) for m in mels]
        levels = np.array([mel_l1_by_level(m, mel_spectrogram(v, cfg)) for m, v in zip(mels, vocoded)])
        rows.append((precision, times, levels.mean(0), vocoded))

    lines = ["| convolutions | 3 s clip p50 / p95 | mel L1, loud bins | mel L1, quiet bins (< -40 dB) |",
             "|---|---|---|---|"]
    saved, meta = [], {}
    for precision, times, (loud, quiet), _ in rows:
        saved.append({"precision": precision, **timing(times), "mel_l1_loud": float(loud),
                      "mel_l1_quiet": float(quiet)})
        lines.append(f"| {precision} | {statistics.median(times):.3f} / {np.percentile(times, 95):.3f} s "
                     f"| {loud:.4f} | {quiet:.4f} |")
    if len(rows) == 2:
        agreement = [si_sdr(a, b) for a, b in zip(rows[0][3], rows[1][3])]
        meta = {"si_sdr_bf16_vs_fp32_median": float(np.median(agreement)),
                "si_sdr_bf16_vs_fp32_min": float(np.min(agreement))}
        lines += ["", f"bf16 vs fp32 wave, SI-SDR median {np.median(agreement):.1f} dB, min {np.min(agreement):.1f} dB"]
    else:
        lines += ["", "bf16: not timed, this CPU has no native bf16 (the vocoder runs fp32 here)"]
    save_bench("vocoder", sys.argv, saved, lines, f", native bf16: {native_bf16()}; {args.clips} real clips",
               clips=args.clips, native_bf16=native_bf16(), **meta)

if __name__ == "__main__":
    main()
