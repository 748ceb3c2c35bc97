"""The log-mel: the one wave -> log-mel definition every model here consumes, and the
per-band normaliser fitted beside each model.

`MelConfig` is the HiFi-GAN universal vocoder's mel (hifi-gan `meldataset.mel_spectrogram`),
so any mel we make or generate can be heard. A new model takes its defaults; from then on the
config saved beside its weights is the source: callers ask the model (`model.mel_config`)
rather than build a `MelConfig()` of their own.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import AudioError, load_audio, resample


@dataclass(frozen=True)
class MelConfig:
    """The HiFi-GAN universal vocoder's mel; its sample rate is the rate audio is decoded at."""

    sample_rate: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    log_clamp: float = 1e-5  # log(max(mel, 1e-5)): floor of -11.51 nats = silence

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def silence(self) -> float:
        return math.log(self.log_clamp)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MelConfig":
        return cls(**d)

    def key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


@functools.lru_cache(maxsize=16)
def mel_filterbank(cfg: MelConfig, device: str = "cpu") -> torch.Tensor:
    """Slaney-normalised mel filters, (n_mels, n_fft // 2 + 1); cached per (config, device)."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                             fmin=cfg.fmin, fmax=cfg.fmax)
    return torch.from_numpy(fb).to(device)


@functools.lru_cache(maxsize=16)
def mel_band_centres(cfg: MelConfig) -> torch.Tensor:
    """(n_mels,) centre frequency of each band in Hz, on the filterbank's own (Slaney) scale."""
    import librosa

    return torch.from_numpy(librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]).float()


@functools.lru_cache(maxsize=16)
def hann_window(win_length: int, device: str) -> torch.Tensor:
    return torch.hann_window(win_length, device=device)


def mel_spectrogram(wave, cfg: MelConfig) -> torch.Tensor:
    """Log-magnitude mel of `wave` (..., N) -> (..., n_mels, N // hop_length).

    Reflect-pads (n_fft - hop) / 2 on both sides and frames without centring, exactly as
    HiFi-GAN's training code does, so frame i covers samples around i * hop + hop / 2 and
    the vocoder returns n_frames * hop samples.
    """
    wave = torch.as_tensor(wave, dtype=torch.float32)
    lead = wave.shape[:-1]
    wave = wave.reshape(-1, wave.shape[-1])  # (B, N)
    pad = (cfg.n_fft - cfg.hop_length) // 2
    if wave.shape[-1] <= pad:
        raise AudioError("The audio is too short to analyse.")
    wave = torch.nn.functional.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    device = str(wave.device)
    spec = torch.stft(wave, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                      window=hann_window(cfg.win_length, device), center=False, normalized=False,
                      onesided=True, return_complex=True)
    magnitude = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)  # (B, F, T)
    mel = torch.matmul(mel_filterbank(cfg, device), magnitude)  # (B, n_mels, T)
    mel = torch.log(torch.clamp(mel, min=cfg.log_clamp))
    return mel.reshape(*lead, cfg.n_mels, mel.shape[-1])


def mel_of(audio, mel_config: MelConfig) -> torch.Tensor:
    """The raw log-mel (n_mels, T) of anything `load_audio` takes (decoded at `mel_config`'s
    rate, long input cropped), or of an already decoded `Audio` (resampled if need be): how a
    model hands audio to its own front end."""
    if not hasattr(audio, "samples"):
        audio = load_audio(audio, sample_rate=mel_config.sample_rate, crop=True)
    samples = audio.samples
    if audio.sample_rate != mel_config.sample_rate:
        samples = resample(samples, audio.sample_rate, mel_config.sample_rate)
    return mel_spectrogram(samples, mel_config)


class MelNormalizer:
    """Per-band z-score. Fitted on training speakers only and saved beside every model
    that consumes mels, so a model never sees statistics from the speakers it is tested on."""

    def __init__(self, mean, std, mel_config: MelConfig):
        self.mean = torch.as_tensor(mean, dtype=torch.float32)  # (n_mels,)
        self.std = torch.as_tensor(std, dtype=torch.float32)
        self.mel_config = mel_config

    @classmethod
    def fit(cls, mels, mel_config: MelConfig) -> "MelNormalizer":
        """`mels`: iterable of (n_mels, T) arrays; statistics over all their frames."""
        total = np.zeros(mel_config.n_mels)
        total_sq = np.zeros(mel_config.n_mels)
        count = 0
        for mel in mels:
            m = np.asarray(mel, dtype=np.float64)
            total += m.sum(axis=1)
            total_sq += np.square(m).sum(axis=1)
            count += m.shape[1]
        if count == 0:
            raise ValueError("Cannot fit a normaliser on no frames.")
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 1e-8))
        return cls(mean, std, mel_config)

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        """(..., n_mels, T) log-mel -> zero mean, unit variance per band."""
        return (mel - self.mean[:, None].to(mel)) / self.std[:, None].to(mel)

    def denormalize(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * self.std[:, None].to(mel) + self.mean[:, None].to(mel)

    def to_dict(self) -> dict:
        return {"mel_config": self.mel_config.to_dict(), "mean": self.mean.tolist(),
                "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "MelNormalizer":
        return cls(d["mean"], d["std"], MelConfig.from_dict(d["mel_config"]))

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path) -> "MelNormalizer":
        return cls.from_dict(json.loads(Path(path).read_text()))
