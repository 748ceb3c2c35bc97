"""Time to generate and to enhance a 3 s clip on this machine, vocoding included, at
10 / 12 / 15 / 25 / 50 solver steps against 1000-step DDPM. Enhance twice: the pipeline alone
(from noise, the clip's envelope held, as toward another emotion: `emodiff.sampling`), and
the app's whole Enhance call toward another emotion (`EmoDiff.enhance`: the prosody step, the
recogniser before and after, the loudness), which is what a user waits for.

    python bench/bench_diffusion.py [--pipeline checkpoints/diffusion] [--ddpm-steps 1000] [--runs 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import torch

from emodiff.benchmark import save_bench, time_it
from emodiff.data import DEFAULT_DATA_ROOT
from emodiff.diffusion import mel_seed
from emodiff.sampling import CONVERT_STRENGTH
from emodiff.service import CHECKPOINTS, EmoDiff


def timed(fn, repeats: int = 1) -> float:
    return min(time_it(fn, repeats))


def one_run(svc: EmoDiff, clip, ddpm_steps: int, repeats: int) -> list[dict]:
    """Each sampler's best-of-`repeats` seconds for a 3 s clip, and its speed-up over DDPM."""
    pipe = svc.pipeline
    rows = []
    for sampler, steps in [("dpm", 10), ("dpm", 12), ("dpm", 15), ("dpm", 25), ("dpm", 50), ("ddim", 25),
                          ("ddpm", ddpm_steps)]:
        gen = timed(lambda: pipe.generate("angry", seconds=3.0, steps=steps, sampler=sampler,
                                          generator=mel_seed(0)), repeats)
        enh = timed(lambda: pipe.enhance(clip, "angry", strength=CONVERT_STRENGTH, steps=steps, sampler=sampler,
                                         generator=mel_seed(0), keep_envelope=True), repeats) if steps <= 100 else None
        app = timed(lambda: svc.enhance(clip, "angry", steps=steps, sampler=sampler), repeats) if steps <= 100 else None
        rows.append({"sampler": sampler, "steps": steps, "generate_best_s": gen, "enhance_best_s": enh,
                     "app_enhance_best_s": app})
    base = rows[-1]["generate_best_s"]
    return [{**r, "speedup_vs_ddpm": base / r["generate_best_s"]} for r in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, default=CHECKPOINTS / "diffusion")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--ddpm-steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2, help="calls per row in a run; the best counts")
    p.add_argument("--runs", type=int, default=3, help="the whole table, this many times in a row: a shared "
                   "machine's timings move by 10 %% between runs, so each speed-up is shown for every run")
    args = p.parse_args()
    svc = EmoDiff(pipeline=args.pipeline, device="cuda" if torch.cuda.is_available() else "cpu")
    pipe = svc.pipeline
    clip = svc.load(args.data_root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.flac")  # neutral
    clip = dataclasses.replace(clip, samples=clip.samples[: 3 * clip.sample_rate])  # the clip is 3.3 s
    n_params = sum(p.numel() for p in pipe.unet.parameters())
    pipe.generate("happy", seconds=1.0, steps=2)  # warm-up: vocoder load, allocator

    svc.enhance(clip, "angry", steps=2)  # warm-up: the recogniser, the prosody step
    runs = [one_run(svc, clip, args.ddpm_steps, args.repeats) for _ in range(args.runs)]
    rows = [{"sampler": r[0]["sampler"], "steps": r[0]["steps"], "generate_s": [x["generate_best_s"] for x in r],
             "enhance_s": [x["enhance_best_s"] for x in r], "app_enhance_s": [x["app_enhance_best_s"] for x in r],
             "speedup_vs_ddpm": [x["speedup_vs_ddpm"] for x in r]} for r in zip(*runs)]
    lines = ["| sampler | steps | generate 3 s (incl. HiFi-GAN), median | enhance 3 s (pipeline: from noise, "
             "envelope held) | the app's Enhance, whole call | speed-up vs DDPM, each run |",
             "|---|---|---|---|---|---|"]
    median = lambda xs: "–" if xs[0] is None else f"{statistics.median(xs):.2f} s"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['steps']} | {median(r['generate_s'])} | {median(r['enhance_s'])} | "
                     f"{median(r['app_enhance_s'])} | " + " / ".join(f"{x:.0f}" for x in r["speedup_vs_ddpm"]) + "x |")
    save_bench("diffusion", sys.argv, rows, lines, f"; UNet {n_params / 1e6:.1f} M parameters; HiFi-GAN convolutions "
               f"{pipe.vocoder.precision}; best of {args.repeats} per run, {args.runs} runs", unet_parameters=n_params,
               repeats=args.repeats, runs=args.runs, vocoder_precision=pipe.vocoder.precision)


if __name__ == "__main__":
    main()
