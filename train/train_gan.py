"""Train the conditional DCGAN baseline (emodiff/gan.py) on one speaker fold's training clips.

    python train/train_gan.py --out runs/gan_f0 --fold 0 --steps 8000

Same speaker folds as the classifier and the diffusion model, so the augmentation study can
use it on speakers it never heard. Batches are corpus- and class-balanced random crops drawn
from a generator seeded by the step: a resumed run repeats exactly. Writes OUT/gan/ (the
generator's EMA weights, fp16), OUT/samples_<step>.png (real and generated crops per
emotion), OUT/metrics.json and OUT/loss.png; OUT/state/ holds the resume state.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from emodiff.data import EMOTIONS, speakers
from emodiff.gan import (CropBatcher, Discriminator, EmotionGAN, GANConfig, Generator, discriminator_loss,
                         ema_gan)
from emodiff.plotting import plot_losses, plot_mel_grid, save_figure
from emodiff.training import (ResumeState, add_common_args, add_generator_args, balance_weights, save_json,
                              start_generator_run, vars_json)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--crop-frames", type=int, default=160)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--ema-decay", type=float, default=0.999)
    add_generator_args(p, sample_every=2000, checkpoint_every=500)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    acc, records, train, test, mels, normalizer = start_generator_run(args)
    cfg = GANConfig(normalizer.mel_config.n_mels, channels=args.channels, frames=args.crop_frames)
    batch = CropBatcher(cfg, train, mels, normalizer, balance_weights([r.corpus for r in train],
                                                                     [EMOTIONS.index(r.emotion) for r in train]),
                        args.seed, args.batch_size)
    gen, disc = Generator(cfg), Discriminator(cfg)
    ema = EMAModel(gen.parameters(), decay=args.ema_decay)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.0, 0.9))
    gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
    acc.register_for_checkpointing(ema)
    state = ResumeState(acc, args.out / "state", {"step": 0, "d_losses": [], "g_losses": []})
    progress = state.data
    if state.resumed:
        acc.print(f"resumed at step {progress['step']}")

    bar = tqdm(total=args.steps, initial=progress["step"], disable=not acc.is_main_process)
    while progress["step"] < args.steps:
        real, emotion, corpus, z = batch(progress["step"])
        fake = gen(z, emotion, corpus)
        d_loss = discriminator_loss(disc(real, emotion, corpus), disc(fake.detach(), emotion, corpus))
        opt_d.zero_grad(set_to_none=True)
        acc.backward(d_loss)
        opt_d.step()
        g_loss = -disc(fake, emotion, corpus).mean()
        opt_g.zero_grad(set_to_none=True)
        acc.backward(g_loss)
        opt_g.step()
        ema.step(acc.unwrap_model(gen).parameters())
        progress["step"] += 1
        progress["d_losses"].append(round(d_loss.item(), 4))
        progress["g_losses"].append(round(g_loss.item(), 4))
        bar.update(1)
        bar.set_postfix(d=f"{np.mean(progress['d_losses'][-50:]):.3f}", g=f"{np.mean(progress['g_losses'][-50:]):.3f}")
        if progress["step"] % args.checkpoint_every == 0 or progress["step"] == args.steps:
            state.save()
        if acc.is_main_process and progress["step"] % args.sample_every == 0:
            sample_grid(ema_gan(acc.unwrap_model(gen), ema, normalizer, train), test or train, mels,
                        progress["step"], args.out)
        if args.max_steps and progress["step"] >= args.max_steps:
            state.save()
            return
    if acc.is_main_process:
        gan = ema_gan(acc.unwrap_model(gen), ema, normalizer, train)
        sample_grid(gan, test or train, mels, progress["step"], args.out)
        gan.save_pretrained(args.out / "gan")
        finish(args, progress, train, test)


def sample_grid(gan: EmotionGAN, pool, mels, step: int, out: Path) -> None:
    """One real clip (unseen-speaker when available) and one generated crop per emotion."""
    real = [mels[next(r.path for r in pool if r.emotion == e)][:, :gan.cfg.frames] for e in EMOTIONS]
    fake = list(gan.generate(EMOTIONS, [pool[0].corpus] * len(EMOTIONS), torch.Generator().manual_seed(0)).numpy())
    save_figure(plot_mel_grid([real, fake], ["real", "generated"], list(EMOTIONS), gan.mel_config, f"GAN, step {step}"),
                out / f"samples_{step:06d}.png", dpi=90)


def finish(args, progress, train, test):
    save_figure(plot_losses({"D": progress["d_losses"], "G": progress["g_losses"]}, "hinge loss (50-step mean)"),
                args.out / "loss.png")
    save_json({"steps": progress["step"], "train_speakers": speakers(train), "test_speakers": speakers(test),
               "args": vars_json(args)}, args.out / "metrics.json")


if __name__ == "__main__":
    main()
