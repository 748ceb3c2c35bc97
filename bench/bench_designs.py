"""Time per denoising step of the designs considered for the diffusion model (CPU, batch 2
as under classifier-free guidance, an 80 x 256 mel = 3 s), to choose by measurement.

    python bench/bench_designs.py
"""
from __future__ import annotations

import statistics
import sys

import torch

from emodiff.benchmark import save_bench, time_it
from emodiff.diffusion import MelDenoiser
from emodiff.mel import MelConfig


def per_step(model, x, call, repeats: int = 5) -> float:
    with torch.inference_mode():
        call(model, x)
        return statistics.median(time_it(lambda: call(model, x), repeats))


def main() -> None:
    from diffusers import UNet2DModel

    t = torch.tensor([500, 500])
    e = torch.tensor([0, 6])
    one_d = lambda m, x: m(x, t, e)  # noqa: E731
    two_d = lambda m, x: m(x, t).sample  # noqa: E731
    n = MelConfig().n_mels
    x1, x2 = torch.randn(2, n, 256), torch.randn(2, 1, n, 256)
    designs = [
        ("1-D UNet (ours, shipped): 96-192-384, 2 blocks/level", MelDenoiser(n, channels=(96, 192, 384)), x1, one_d),
        ("1-D UNet, paper's Table 4 widths: 256-512-1024", MelDenoiser(n, channels=(256, 512, 1024)), x1, one_d),
        ("1-D UNet, small: 64-128-256", MelDenoiser(n, channels=(64, 128, 256)), x1, one_d),
        ("2-D UNet2DModel 64-128-256-256, attention at level 3", UNet2DModel(
            sample_size=(n, 256), in_channels=1, out_channels=1, block_out_channels=(64, 128, 256, 256),
            down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D")), x2, two_d),
        ("2-D UNet2DModel 32-64-128-256, 1 layer/block, default block types", UNet2DModel(
            sample_size=(n, 256), in_channels=1, out_channels=1, block_out_channels=(32, 64, 128, 256),
            layers_per_block=1), x2, two_d),
    ]
    rows = [{"design": name, "parameters": sum(p.numel() for p in model.parameters()),
             "seconds_per_step": per_step(model.eval(), x, call)} for name, model, x, call in designs]
    lines = ["| design | parameters | time per step | 25 steps |", "|---|---|---|---|"]
    lines += [f"| {r['design']} | {r['parameters'] / 1e6:.1f} M | {r['seconds_per_step'] * 1e3:.0f} ms | "
              f"{25 * r['seconds_per_step']:.1f} s |" for r in rows]
    save_bench("designs", sys.argv, rows, lines, batch=2, frames=256)


if __name__ == "__main__":
    main()
