"""Time to generate and to enhance a 3 s clip on this machine, vocoding included, at
10 / 12 / 15 / 25 / 50 solver steps against 1000-step DDPM.

    python bench/bench_diffusion.py [--pipeline checkpoints/diffusion] [--ddpm-steps 1000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from emodiff.benchmark import device_line, time_it
from emodiff.data import DEFAULT_DATA_ROOT
from emodiff.diffusion import load_pipeline, mel_seed
from emodiff.service import CHECKPOINTS


def timed(fn, repeats: int = 1) -> float:
    return min(time_it(fn, repeats))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, default=CHECKPOINTS / "diffusion")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--ddpm-steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    pipe = load_pipeline(args.pipeline, "cuda" if torch.cuda.is_available() else "cpu")
    clip = args.data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"
    n_params = sum(p.numel() for p in pipe.unet.parameters())
    pipe.generate("happy", seconds=1.0, steps=2)  # warm-up: vocoder load, allocator

    rows = []
    for sampler, steps in [("dpm", 10), ("dpm", 12), ("dpm", 15), ("dpm", 25), ("dpm", 50), ("ddim", 25),
                          ("ddpm", args.ddpm_steps)]:
        gen = timed(lambda: pipe.generate("angry", seconds=3.0, steps=steps, sampler=sampler,
                                          generator=mel_seed(0)), args.repeats)
        enh = timed(lambda: pipe.enhance(clip, "sad", strength=0.5, steps=steps, sampler=sampler,
                                         generator=mel_seed(0)), args.repeats) if steps <= 100 else None
        rows.append((sampler, steps, gen, enh))
    base = next(g for s, n, g, _ in rows if s == "ddpm")
    print(f"{device_line()}; UNet {n_params / 1e6:.1f} M parameters; HiFi-GAN convolutions {pipe.vocoder.precision}; "
          f"best of {args.repeats}\n")
    print("| sampler | steps | generate 3 s (incl. HiFi-GAN) | enhance 3 s, strength 0.5 | speed-up vs DDPM |")
    print("|---|---|---|---|---|")
    for sampler, steps, gen, enh in rows:
        enh_s = "–" if enh is None else f"{enh:.2f} s"
        print(f"| {sampler} | {steps} | {gen:.2f} s | {enh_s} | {base / gen:.0f}x |")


if __name__ == "__main__":
    main()
