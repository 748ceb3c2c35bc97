"""Train the emotion-conditioned mel diffusion model (one UNet for every emotion).

    python train/train_diffusion.py --out runs/diff --classifier checkpoints/classifier --fold 0
    torchrun --nproc_per_node 2 train/train_diffusion.py --out runs/diff ...
    python train/train_diffusion.py --out runs/diff_all --no-test ...   # every speaker (shipping)

Speakers are split as for the classifier (`--fold` of the same 5 speaker groups), so the
evaluation runs on voices the model never heard. Style references are other clips of the
*same training speaker*, so the style vector learns the voice, while the emotion must come
from the emotion conditions. Writes OUT/pipeline/ (EMA weights, fp16), OUT/samples_<step>.png
(a grid of generated mels per emotion beside real ones), OUT/metrics.json and OUT/loss.png;
OUT/state/ holds the resume state. Re-running the same command resumes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emodiff.audio import MelNormalizer  # noqa: E402
from emodiff.data import (EMOTIONS, index_corpora, random_crop, speaker_fold, speakers,  # noqa: E402
                          speech_mels)
from emodiff.diffusion import EmotionDiffusionPipeline, MelDenoiser, training_scheduler  # noqa: E402
from emodiff.training import (add_common_args, balance_weights, EpochSampler, make_accelerator, ResumeState,  # noqa: E402
                              save_json, set_seed, vars_json)


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
    p.add_argument("--sample-every", type=int, default=1000)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--max-steps", type=int, default=0, help="save and stop here, as if killed (tests)")
    return p.parse_args(argv)


def emotion_vectors(classifier_dir, mels, records, train):
    """Per-clip classifier embeddings and per-emotion centroids over the training clips."""
    if classifier_dir is None:
        return None, None
    from emodiff.classifier import EmotionClassifier

    clf = EmotionClassifier.from_pretrained(classifier_dir)
    vecs = {r.path: clf.mel_embedding(torch.from_numpy(mels[r.path])) for r in tqdm(records, desc="embeddings")}
    centroids = torch.stack([torch.stack([vecs[r.path] for r in train if r.emotion == e]).mean(0)
                             for e in EMOTIONS])
    return vecs, centroids


class Batcher:
    """(x0, emotion, vector, reference, reference mask) batches from index lists; all
    randomness from a generator seeded by the step, so resumed runs repeat exactly."""

    def __init__(self, train, mels, normalizer, vecs, centroids, frames, args):
        self.train, self.mels, self.norm, self.frames, self.args = train, mels, normalizer, frames, args
        self.vecs, self.centroids = vecs, centroids
        self.by_speaker = {}
        for i, r in enumerate(train):
            self.by_speaker.setdefault(r.speaker, []).append(i)

    def crop(self, i, rng):
        mel, mask = random_crop(self.mels[self.train[i].path], self.frames, rng, self.norm.mel_config.silence)
        return self.norm.normalize(torch.from_numpy(mel)), torch.from_numpy(mask)

    def __call__(self, indices, step: int):
        rng = np.random.default_rng((self.args.seed, step))
        x0, refs, ref_masks, emotions, vectors = [], [], [], [], []
        for i in indices:
            r = self.train[i]
            x0.append(self.crop(i, rng)[0])
            ref, mask = self.crop(int(rng.choice(self.by_speaker[r.speaker])), rng)
            refs.append(ref), ref_masks.append(mask)
            emotions.append(EMOTIONS.index(r.emotion))
            if self.vecs is not None:
                own = rng.random() < self.args.p_clip_vector
                vectors.append(self.vecs[r.path] if own else self.centroids[emotions[-1]])
        emotions = torch.tensor(emotions)
        drop_emotion = torch.from_numpy(rng.random(len(indices)) < self.args.p_drop_emotion)
        drop_style = torch.from_numpy(rng.random(len(indices)) < self.args.p_drop_style)
        vectors = torch.stack(vectors) * (~drop_emotion)[:, None] if vectors else None
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        return (torch.stack(x0), emotions, drop_emotion, vectors, torch.stack(refs),
                torch.stack(ref_masks), drop_style, gen)


def main(argv=None):
    args = parse_args(argv)
    acc = make_accelerator(cpu=args.cpu)
    set_seed(args.seed)
    records = index_corpora(args.data_root, EMOTIONS, args.corpora)
    if args.no_test:
        train, test = records, []
    else:
        train, test = speaker_fold(records, args.fold, args.n_folds)
    with acc.main_process_first():
        mels = speech_mels(records, args.cache_dir)
    normalizer = MelNormalizer.fit(mels[r.path] for r in train)
    vecs, centroids = emotion_vectors(args.classifier, mels, records, train)

    unet = MelDenoiser(channels=tuple(args.channels), blocks_per_level=args.blocks_per_level,
                       n_emotions=len(EMOTIONS), emotion_vec_dim=0 if vecs is None else centroids.shape[1],
                       emotions=EMOTIONS, crop_frames=args.crop_frames)
    if centroids is not None:
        unet.emotion_centroids.copy_(centroids)
    scheduler = training_scheduler()
    from diffusers.training_utils import EMAModel

    ema = EMAModel(unet.parameters(), decay=args.ema_decay)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=1e-4)
    unet, opt = acc.prepare(unet, opt)
    acc.register_for_checkpointing(ema)

    batcher = Batcher(train, mels, normalizer, vecs, centroids, args.crop_frames, args)
    labels = [EMOTIONS.index(r.emotion) for r in train]
    sampler = EpochSampler(len(train), args.seed, balance_weights([r.corpus for r in train], labels))
    state = ResumeState(acc, args.out / "state", {"step": 0, "losses": []})
    progress, save_state = state.data, state.save
    if state.resumed:
        acc.print(f"resumed at step {progress['step']}")

    per_rank = args.batch_size // acc.num_processes
    bar = tqdm(total=args.steps, initial=progress["step"], disable=not acc.is_main_process)
    raw = acc.unwrap_model(unet)
    while progress["step"] < args.steps:
        step = progress["step"]
        # The epoch's order is fixed by (seed, epoch); each step takes its slice of it.
        per_epoch = len(train) // args.batch_size
        sampler.set_epoch(step // per_epoch)
        order = list(iter(sampler))
        start = (step % per_epoch) * args.batch_size + acc.process_index * per_rank
        x0, emotion, drop_e, vec, ref, ref_mask, drop_s, gen = batcher(order[start:start + per_rank], step)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=gen)
        xt = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t)
        emotion = torch.where(drop_e, raw.null_emotion, emotion)
        pred = unet(xt, t, emotion, vec, reference=ref, reference_mask=ref_mask, drop_style=drop_s)
        loss = F.mse_loss(pred, target)
        for group in opt.param_groups:
            group["lr"] = learning_rate(args, step)
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
            save_state()
        if acc.is_main_process and progress["step"] % args.sample_every == 0:
            sample_grid(ema_pipeline(raw, ema, scheduler, normalizer), train, test, mels, progress["step"], args.out)
        if args.max_steps and progress["step"] >= args.max_steps:
            save_state()
            return
    if acc.is_main_process:  # also when re-run with a lower --steps: ship what we have
        pipe = ema_pipeline(raw, ema, scheduler, normalizer)
        sample_grid(pipe, train, test, mels, progress["step"], args.out)
        pipe.save_pretrained(args.out / "pipeline")
        finish(args, progress, train, test)


def learning_rate(args, step: int) -> float:
    """Constant, then (with --decay-steps) linear to 0 over the last steps: a function of the
    step alone, so resuming, or extending --steps before the decay starts, changes nothing."""
    left = args.steps - step
    return args.lr * min(1.0, left / args.decay_steps) if args.decay_steps else args.lr


def ema_pipeline(unet, ema, scheduler, normalizer) -> EmotionDiffusionPipeline:
    """A pipeline holding a copy of the network with the EMA weights."""
    import copy

    copy_ = copy.deepcopy(unet)
    ema.copy_to(copy_.parameters())
    pipe = EmotionDiffusionPipeline(copy_.eval(), scheduler)
    pipe.normalizer = normalizer
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample_grid(pipe, train, test, mels, step: int, out: Path) -> None:
    """One real (unseen-speaker when available) and one generated mel per emotion."""
    from emodiff.plotting import plot_mel_grid, save_figure

    pool = test or train
    real = [mels[next(r.path for r in pool if r.emotion == e)] for e in EMOTIONS]
    fake = [pipe.generate(e, seconds=2.0, steps=25, generator=torch.Generator().manual_seed(i),
                          vocode=False).mel.numpy() for i, e in enumerate(EMOTIONS)]
    save_figure(plot_mel_grid([real, fake], ["real", "generated"], list(EMOTIONS), f"step {step}"),
                out / f"samples_{step:06d}.png", dpi=90)


def finish(args, progress, train, test):
    from emodiff.plotting import plot_losses, running_mean, save_figure

    smooth = running_mean(progress["losses"])
    save_figure(plot_losses({"loss": progress["losses"]}, "v-prediction MSE (50-step mean)"), args.out / "loss.png")
    save_json({"steps": progress["step"], "final_loss_50": float(smooth[-1]) if len(smooth) else None,
               "train_speakers": speakers(train), "test_speakers": speakers(test), "args": vars_json(args)},
              args.out / "metrics.json")


if __name__ == "__main__":
    main()
