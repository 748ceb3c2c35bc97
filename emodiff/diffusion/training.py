"""Training pieces of the diffusion model, so `train/train_diffusion.py` keeps only its loop:
batches of crops with same-speaker style references, the diffusion loss, the learning-rate
schedule, and the EMA pipeline that is sampled and shipped.

All randomness of a step comes from a generator seeded by (seed, step): a resumed run repeats
an uninterrupted one exactly.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import EMOTIONS, random_crop
from .guidance import drop_conditions
from .pipeline import EmotionDiffusionPipeline


def emotion_vectors(classifier_dir, mels, records, train):
    """Per-clip classifier embeddings (keyed by path) and per-emotion centroids (n_emotions, D)
    over the training clips; (None, None) without a classifier."""
    if classifier_dir is None:
        return None, None
    from ..classifier import EmotionClassifier

    clf = EmotionClassifier.from_pretrained(classifier_dir)
    vecs = {r.path: clf.mel_embedding(torch.from_numpy(mels[r.path])) for r in tqdm(records, desc="embeddings")}
    centroids = torch.stack([torch.stack([vecs[r.path] for r in train if r.emotion == e]).mean(0)
                             for e in EMOTIONS])
    return vecs, centroids


class ClipBatcher:
    """Training batches from index lists: normalised crops x0, labels, emotion vectors and a
    style reference per clip, with conditions dropped for guidance (`drop_conditions`).

    A reference is another crop of the *same speaker* (often another clip), so the style
    vector learns the voice while the emotion must come from the emotion conditions. Each
    clip's vector is its own classifier embedding with probability `p_clip_vector`, else its
    emotion's centroid (what sampling uses)."""

    def __init__(self, train, mels, normalizer, frames: int, seed: int, null_emotion: int, vecs=None,
                 centroids=None, p_clip_vector: float = 0.5, p_drop_emotion: float = 0.15,
                 p_drop_style: float = 0.3):
        self.train, self.mels, self.norm, self.frames, self.seed = train, mels, normalizer, frames, seed
        self.null_emotion, self.vecs, self.centroids = null_emotion, vecs, centroids
        self.p_clip_vector, self.p_drop_emotion, self.p_drop_style = p_clip_vector, p_drop_emotion, p_drop_style
        self.by_speaker = {}
        for i, r in enumerate(train):
            self.by_speaker.setdefault(r.speaker, []).append(i)

    def crop(self, i, rng):
        mel, mask = random_crop(self.mels[self.train[i].path], self.frames, rng, self.norm.mel_config.silence)
        return self.norm.normalize(torch.from_numpy(mel)), torch.from_numpy(mask)

    def example(self, i, rng):
        """Clip i's crop, the index of the clip its style reference is cropped from (another
        of its speaker's), and no source (`pairs.PairBatcher` gives one)."""
        return self.crop(i, rng)[0], int(rng.choice(self.by_speaker[self.train[i].speaker])), None

    def __call__(self, indices, step: int):
        """-> (x0, emotion, vectors, reference, reference mask, drop_style, generator for the
        noise), and the sources when the examples have them."""
        rng = np.random.default_rng((self.seed, step))
        x0, sources, refs, ref_masks, emotions, vectors = [], [], [], [], [], []
        for i in indices:
            r = self.train[i]
            x, reference, source = self.example(i, rng)
            x0.append(x), sources.append(source)
            ref, mask = self.crop(reference, rng)
            refs.append(ref), ref_masks.append(mask)
            emotions.append(EMOTIONS.index(r.emotion))
            if self.vecs is not None:
                own = rng.random() < self.p_clip_vector
                vectors.append(self.vecs[r.path] if own else self.centroids[emotions[-1]])
        vectors = torch.stack(vectors) if vectors else None
        emotion, vectors, drop_style = drop_conditions(torch.tensor(emotions), vectors, self.null_emotion,
                                                       self.p_drop_emotion, self.p_drop_style, rng)
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        batch = torch.stack(x0), emotion, vectors, torch.stack(refs), torch.stack(ref_masks), drop_style, gen
        return batch if sources[0] is None else (*batch, torch.stack(sources))


def diffusion_loss(unet, scheduler, x0, emotion, vectors, reference, reference_mask, drop_style,
                   generator: torch.Generator, source: torch.Tensor | None = None) -> torch.Tensor:
    """The DDPM objective on normalised mels x0 (B, n_mels, T): noise each to a random step t,
    predict what the scheduler's `prediction_type` asks (v: Salimans & Ho 2022; or the noise),
    mean squared error. `unet` may be wrapped for data parallelism; `source`: a conversion
    network's aligned source mels (`pairs.PairBatcher`)."""
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=generator)
    xt = scheduler.add_noise(x0, noise, t)
    target = scheduler.get_velocity(x0, noise, t) if scheduler.config.prediction_type == "v_prediction" else noise
    pred = unet(xt, t, emotion, vectors, reference=reference, reference_mask=reference_mask, drop_style=drop_style,
                source=source)
    return F.mse_loss(pred, target)


def learning_rate(lr: float, steps: int, decay_steps: int, step: int) -> float:
    """Constant, then (with `decay_steps`) linear to 0 over the last steps of `steps`: a
    function of the step alone, so resuming, or extending `steps` before the decay starts,
    changes nothing (a stable-then-decay schedule)."""
    return lr * min(1.0, (steps - step) / decay_steps) if decay_steps else lr


def ema_pipeline(unet, ema, scheduler, normalizer, metadata: dict | None = None) -> EmotionDiffusionPipeline:
    """A pipeline holding a copy of the network with the EMA weights."""
    copy_ = copy.deepcopy(unet)
    ema.copy_to(copy_.parameters())
    pipe = EmotionDiffusionPipeline(copy_.eval(), scheduler)
    pipe.normalizer, pipe.metadata = normalizer, metadata or {}
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample_grid(pipe, train, test, mels, step: int, out: Path) -> None:
    """One real (unseen-speaker when available) and one generated mel per emotion."""
    from ..plotting import plot_mel_grid, save_figure

    pool = test or train
    real = [mels[next(r.path for r in pool if r.emotion == e)] for e in EMOTIONS]
    fake = [pipe.generate(e, seconds=2.0, steps=25, generator=torch.Generator().manual_seed(i),
                          vocode=False).mel.numpy() for i, e in enumerate(EMOTIONS)]
    save_figure(plot_mel_grid([real, fake], ["real", "generated"], list(EMOTIONS), pipe.mel_config, f"step {step}"),
                out / f"samples_{step:06d}.png", dpi=90)
