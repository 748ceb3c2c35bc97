"""Train the emotion-conditioned mel diffusion model (one UNet for every emotion).

    python train/train_diffusion.py --out runs/diff --classifier checkpoints/classifier --fold 0
    torchrun --nproc_per_node 2 train/train_diffusion.py --out runs/diff ...
    python train/train_diffusion.py --out runs/diff_all --no-test ...   # every speaker (shipping)
    python train/train_diffusion.py --out runs/conv --paired --init checkpoints/diffusion --fold 0 ...

`--paired` trains a conversion network: the target is a clip, the source another take of the
same speaker's sentence aligned to it (`emodiff.diffusion.pairs`), read beside the noisy mel.
`--init` starts from a trained pipeline (its weights, its normaliser; the source's input
weights start at zero, so step 0 is that generator, and learn `--source-lr-scale` times
faster); its training speakers must be this run's.

Speakers are split as for the classifier (`--fold` of the same 5 speaker groups), so the
evaluation runs on voices the model never heard. The mel is the installed HiFi-GAN's, so what
is generated can be heard. Writes OUT/pipeline/ (EMA weights, fp16, with its training speakers
and arguments in metadata.json), OUT/samples_<step>.png (a grid of generated mels per emotion
beside real ones), OUT/metrics.json and OUT/loss.png; OUT/state/ holds the resume state.
Re-running the same command resumes. The pieces are `emodiff.diffusion.training`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from emodiff.data import EMOTIONS, speakers
from emodiff.diffusion import EmotionDiffusionPipeline, MelDenoiser, training_scheduler, training_speakers
from emodiff.diffusion.pairs import PairBatcher, with_source_input
from emodiff.diffusion.training import (ClipBatcher, diffusion_loss, ema_pipeline, emotion_vectors, learning_rate,
                                        sample_grid)
from emodiff.plotting import plot_losses, running_mean, save_figure
from emodiff.training import (EpochSampler, ResumeState, add_common_args, add_generator_args, balance_weights,
                              save_json, start_generator_run, vars_json)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--classifier", type=Path, help="classifier folder for emotion embeddings")
    p.add_argument("--channels", type=int, nargs="+", default=[96, 192, 384])
    p.add_argument("--blocks-per-level", type=int, default=2)
    p.add_argument("--crop-frames", type=int, default=128)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--decay-steps", type=int, default=0,
                   help="lower the learning rate linearly to 0 over the last N of --steps "
                        "(a stable-then-decay schedule: a run can be extended, then annealed)")
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--p-drop-emotion", type=float, default=0.15, help="CFG: share trained without emotion")
    p.add_argument("--p-drop-style", type=float, default=0.3, help="share trained without a reference")
    p.add_argument("--p-clip-vector", type=float, default=0.5,
                   help="share conditioned on the clip's own classifier embedding (else its class centroid)")
    p.add_argument("--paired", action="store_true", help="a conversion network on same-sentence pairs")
    p.add_argument("--init", type=Path, help="pipeline folder to start from (fine-tuning)")
    p.add_argument("--source-lr-scale", type=float, default=10.0,
                   help="the new source input's learning rate over --lr: from zero it must grow to matter")
    add_generator_args(p, sample_every=1000, checkpoint_every=250)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    acc, records, train, test, mels, normalizer = start_generator_run(args)
    vecs, centroids = emotion_vectors(args.classifier, mels, records, train)
    if args.init:
        unet, normalizer = initial_network(args.init, train, args.paired)
    else:
        unet = MelDenoiser(normalizer.mel_config.n_mels, channels=tuple(args.channels),
                           blocks_per_level=args.blocks_per_level, n_emotions=len(EMOTIONS),
                           emotion_vec_dim=0 if vecs is None else centroids.shape[1], emotions=EMOTIONS,
                           crop_frames=args.crop_frames,
                           source_channels=normalizer.mel_config.n_mels if args.paired else 0)
    if centroids is not None:
        unet.emotion_centroids.copy_(centroids)
    scheduler, ema = training_scheduler(), EMAModel(unet.parameters(), decay=args.ema_decay)
    opt = torch.optim.AdamW(parameter_groups(unet, args.source_lr_scale), lr=args.lr, weight_decay=1e-4)
    unet, opt = acc.prepare(unet, opt)
    acc.register_for_checkpointing(ema)
    raw = acc.unwrap_model(unet)
    batcher = (PairBatcher if args.paired else ClipBatcher)(
        train, mels, normalizer, args.crop_frames, args.seed, raw.null_emotion, vecs=vecs, centroids=centroids,
        p_clip_vector=args.p_clip_vector, p_drop_emotion=args.p_drop_emotion, p_drop_style=args.p_drop_style)
    sampler = EpochSampler(len(train), args.seed, balance_weights([r.corpus for r in train],
                                                                  [EMOTIONS.index(r.emotion) for r in train]))
    state = ResumeState(acc, args.out / "state", {"step": 0, "losses": []})
    progress, metadata = state.data, {"train_speakers": speakers(train), "args": vars_json(args)}
    if state.resumed:
        acc.print(f"resumed at step {progress['step']}")

    per_rank, per_epoch = args.batch_size // acc.num_processes, len(train) // args.batch_size
    bar = tqdm(total=args.steps, initial=progress["step"], disable=not acc.is_main_process)
    while progress["step"] < args.steps:
        step = progress["step"]
        sampler.set_epoch(step // per_epoch)  # the epoch's order is fixed by (seed, epoch); each step takes a slice
        start = (step % per_epoch) * args.batch_size + acc.process_index * per_rank
        loss = diffusion_loss(unet, scheduler, *batcher(list(iter(sampler))[start:start + per_rank], step))
        for group in opt.param_groups:
            group["lr"] = learning_rate(args.lr, args.steps, args.decay_steps, step) * group["lr_scale"]
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.step(raw.parameters())
        progress["step"] += 1
        progress["losses"].append(round(loss.item(), 5))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(progress['losses'][-50:]):.4f}")
        if progress["step"] % args.checkpoint_every == 0 or progress["step"] == args.steps:
            state.save()
        if acc.is_main_process and progress["step"] % args.sample_every == 0 and not args.paired:
            sample_grid(ema_pipeline(raw, ema, scheduler, normalizer), train, test, mels, progress["step"], args.out)
        if args.max_steps and progress["step"] >= args.max_steps:
            state.save()
            return
    if acc.is_main_process:  # also when re-run with a lower --steps: ship what we have
        pipe = ema_pipeline(raw, ema, scheduler, normalizer, {**metadata, "steps": progress["step"]})
        if not args.paired:  # a conversion network's samples need sources: evaluate_enhancement.py
            sample_grid(pipe, train, test, mels, progress["step"], args.out)
        pipe.save_pretrained(args.out / "pipeline")
        finish(args, progress, pipe.metadata, test)


def parameter_groups(unet, source_scale: float) -> list[dict]:
    """The source input's parameters (a conversion network) learn `source_scale` times faster."""
    source = [p for n, p in unet.named_parameters() if n.startswith("source_in.")]
    rest = [p for n, p in unet.named_parameters() if not n.startswith("source_in.")]
    return [{"params": rest, "lr_scale": 1.0}] + ([{"params": source, "lr_scale": source_scale}] if source else [])


def initial_network(folder, train, paired: bool):
    """The network and normaliser of the pipeline in `folder`, given a source input when
    `paired`. Refuses a pipeline that heard speakers other than `train`'s."""
    pipe = EmotionDiffusionPipeline.from_pretrained(folder)
    if training_speakers(folder) != set(speakers(train)):
        raise SystemExit(f"{folder} was trained on other speakers than this fold's: pick its --fold.")
    return with_source_input(pipe.unet) if paired else pipe.unet, pipe.normalizer


def finish(args, progress, metadata: dict, test) -> None:
    smooth = running_mean(progress["losses"])
    save_figure(plot_losses({"loss": progress["losses"]}, "v-prediction MSE (50-step mean)"), args.out / "loss.png")
    save_json({"steps": progress["step"], "final_loss_50": float(smooth[-1]) if len(smooth) else None,
               "train_speakers": metadata["train_speakers"], "test_speakers": speakers(test),
               "args": metadata["args"]}, args.out / "metrics.json")


if __name__ == "__main__":
    main()
