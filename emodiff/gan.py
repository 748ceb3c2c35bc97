"""A conditional DCGAN over fixed-length mel crops: the augmentation study's generator baseline.

The paper compares its diffusion model with Baek & Lee (2023), who augment SER data with a
DCGAN's mel-spectrograms. This is that kind of model, kept small enough to train on a CPU:
a convolutional generator from noise plus emotion and corpus embeddings, and a spectrally
normalised convolutional discriminator with a projection head (Miyato & Koyama
2018) for the condition, trained with the hinge loss. It sees no reference clip and no
classifier embedding: whatever the diffusion model's generated data add beyond this is what
its conditioning buys. Convolutions run over time with the mel bands as channels, as in the
diffusion UNet and for the same reason: many times cheaper on a CPU than 2-D ones.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .checkpoint import load_safetensors, read_config, save_safetensors, write_config
from .data import EMOTIONS, random_crop, speakers
from .mel import MelNormalizer

CORPORA = ("emodb", "ravdess")
MODEL_TYPE = "emodiff-dcgan"
UPSAMPLINGS = 4  # the generator doubles a frames / 16 seed four times


@dataclass(frozen=True)
class GANConfig:
    n_mels: int  # the training data's normaliser's mel_config.n_mels; checked against it on load
    z_dim: int = 128
    channels: int = 512  # the widest layer; the discriminator mirrors the generator's widths
    frames: int = 160  # the study's classifier crop
    emotions: tuple = EMOTIONS
    corpora: tuple = CORPORA

    def __post_init__(self):
        if self.frames % 2 ** UPSAMPLINGS:
            raise ValueError(f"frames must be a multiple of {2 ** UPSAMPLINGS}.")

    def widths(self) -> list[int]:
        """Generator widths, seed to last layer: halved every other upsampling."""
        return [max(self.channels // 2 ** ((i + 1) // 2), 32) for i in range(UPSAMPLINGS + 1)]

    def to_dict(self) -> dict:
        return {**asdict(self), "emotions": list(self.emotions), "corpora": list(self.corpora)}

    @classmethod
    def from_dict(cls, d: dict) -> "GANConfig":
        return cls(**{**d, "emotions": tuple(d["emotions"]), "corpora": tuple(d["corpora"])})


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv1d(c_in, c_out, 5, padding=2),
                         nn.BatchNorm1d(c_out), nn.LeakyReLU(0.2))


class Generator(nn.Module):
    """(z, emotion, corpus) -> normalised mel crop (B, n_mels, frames), the bands as channels."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        self.emotion = nn.Embedding(len(cfg.emotions), cfg.z_dim)
        self.corpus = nn.Embedding(len(cfg.corpora), cfg.z_dim)
        widths = cfg.widths()
        self.length = cfg.frames // 2 ** UPSAMPLINGS
        self.seed = nn.Linear(cfg.z_dim, widths[0] * self.length)
        self.body = nn.Sequential(*(_up(a, b) for a, b in zip(widths, widths[1:])))
        self.out = nn.Conv1d(widths[-1], cfg.n_mels, 5, padding=2)

    def forward(self, z, emotion, corpus):
        h = self.seed(z + self.emotion(emotion) + self.corpus(corpus))
        h = F.leaky_relu(h.view(len(z), -1, self.length), 0.2)
        return self.out(self.body(h))


class Discriminator(nn.Module):
    """Mel crop + condition -> realness score; the condition enters by projection."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        widths = [cfg.n_mels] + cfg.widths()[::-1][1:]
        self.body = nn.Sequential(*(m for a, b in zip(widths, widths[1:])
                                    for m in (spectral_norm(nn.Conv1d(a, b, 4, 2, 1)), nn.LeakyReLU(0.2))))
        self.n_corpora = len(cfg.corpora)
        self.score = spectral_norm(nn.Linear(widths[-1], 1))
        self.project = spectral_norm(nn.Embedding(len(cfg.emotions) * self.n_corpora, widths[-1]))

    def forward(self, mel, emotion, corpus):
        h = self.body(mel).sum(dim=2)
        return self.score(h).squeeze(1) + (self.project(emotion * self.n_corpora + corpus) * h).sum(1)


def discriminator_loss(real_scores, fake_scores) -> torch.Tensor:
    """Hinge loss: real scores pushed above +1, fakes below -1; the generator's loss is
    then just minus its fakes' mean score."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


class EmotionGAN:
    """The generator with its config and the mel normaliser of its training data, saved as a
    folder (config.json, generator.safetensors, normalizer.json) like the classifier."""

    def __init__(self, cfg: GANConfig, normalizer: MelNormalizer, generator: Generator | None = None,
                 metadata: dict | None = None):
        if cfg.n_mels != normalizer.mel_config.n_mels:
            raise ValueError(f"The generator makes {cfg.n_mels} mel bands, its normaliser has "
                             f"{normalizer.mel_config.n_mels}.")
        self.cfg, self.normalizer = cfg, normalizer
        self.generator = (generator or Generator(cfg)).eval()
        self.metadata = metadata or {}

    @property
    def mel_config(self):
        return self.normalizer.mel_config

    def save_pretrained(self, path, fp16: bool = True) -> None:
        path = write_config(path, MODEL_TYPE, self.cfg.to_dict(), self.metadata)
        self.normalizer.save(path / "normalizer.json")
        save_safetensors(self.generator.state_dict(), path / "generator.safetensors", fp16=fp16)

    @classmethod
    def from_pretrained(cls, path) -> "EmotionGAN":
        path = Path(path)
        raw, metadata = read_config(path, "GAN", MODEL_TYPE)
        cfg = GANConfig.from_dict(raw)
        generator = Generator(cfg)
        generator.load_state_dict(load_safetensors(path / "generator.safetensors", generator))
        return cls(cfg, MelNormalizer.load(path / "normalizer.json"), generator, metadata)

    @torch.inference_mode()
    def generate(self, emotions, corpora, generator: torch.Generator | None = None) -> torch.Tensor:
        """Emotion and corpus names -> raw log-mels (B, n_mels, frames), in the data's units."""
        e = torch.tensor([self.cfg.emotions.index(x) for x in emotions])
        c = torch.tensor([self.cfg.corpora.index(x) for x in corpora])
        z = torch.randn(len(e), self.cfg.z_dim, generator=generator)
        return self.normalizer.denormalize(self.generator(z, e, c))


class CropBatcher:
    """Corpus- and class-balanced real crops and noise for step `step`, drawn from a generator
    seeded by (seed, step): a resumed run repeats exactly."""

    def __init__(self, cfg: GANConfig, train, mels, normalizer: MelNormalizer, weights, seed: int, batch_size: int):
        self.cfg, self.train, self.mels, self.normalizer = cfg, train, mels, normalizer
        self.p, self.seed, self.batch_size = np.asarray(weights) / np.sum(weights), seed, batch_size
        self.labels = np.array([cfg.emotions.index(r.emotion) for r in train])
        self.corpora = np.array([cfg.corpora.index(r.corpus) for r in train])

    def __call__(self, step: int):
        """-> (real (B, n_mels, frames) normalised, emotion (B,), corpus (B,), z (B, z_dim))."""
        rng = np.random.default_rng((self.seed, step))
        idx = rng.choice(len(self.train), self.batch_size, p=self.p)
        silence = self.normalizer.mel_config.silence
        real = torch.stack([self.normalizer.normalize(torch.from_numpy(random_crop(
            self.mels[self.train[i].path], self.cfg.frames, rng, silence)[0])) for i in idx])
        z = torch.from_numpy(rng.standard_normal((len(idx), self.cfg.z_dim)).astype(np.float32))
        return real, torch.from_numpy(self.labels[idx]), torch.from_numpy(self.corpora[idx]), z


def ema_gan(gen: Generator, ema, normalizer: MelNormalizer, train) -> EmotionGAN:
    """The generator with its EMA weights (diffusers' EMAModel), as the study loads it."""
    copy_ = copy.deepcopy(gen)
    ema.copy_to(copy_.parameters())
    return EmotionGAN(copy_.cfg, normalizer, copy_, {"train_speakers": speakers(train)})
