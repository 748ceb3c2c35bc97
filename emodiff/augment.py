"""Training-time augmentation of normalised log-mels (B, n_mels, T). Randomness comes only
from the `torch.Generator` passed in, so a seeded run repeats exactly."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .mel import MelConfig, mel_band_centres


@dataclass
class AugmentConfig:
    specaugment: bool = False
    freq_masks: int = 2
    freq_width: int = 10  # bands
    time_masks: int = 2
    time_width: int = 20  # frames
    gain_db: float = 0.0  # random gain in +-gain_db (a shift of every log-mel bin)
    mixup: float = 0.0  # Beta(alpha, alpha) mixing; 0 = off
    vtlp: float = 0.0  # frequency-axis scale factors drawn from 1 +- vtlp; 0 = off


def spec_augment(mel: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) without time warping: masked bins set to 0, the mean of
    a normalised mel."""
    B, n_mels, T = mel.shape
    keep = torch.ones_like(mel, dtype=torch.bool)
    for size, width, axis in ((n_mels, cfg.freq_width, 1), (T, cfg.time_width, 2)):
        for _ in range(cfg.freq_masks if axis == 1 else cfg.time_masks):
            w = torch.randint(0, width + 1, (B,), generator=gen)
            start = (torch.rand(B, generator=gen) * (size - w).clamp(min=1)).long()
            idx = torch.arange(size)
            band = (idx[None] >= start[:, None]) & (idx[None] < (start + w)[:, None])  # (B, size)
            keep &= ~(band[:, :, None] if axis == 1 else band[:, None, :])
    return mel * keep


def apply_gain(mel: torch.Tensor, db: float, std: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A gain of g dB adds g/20*ln(10) nats to every raw log-mel bin; `std` (n_mels,) maps
    that into the normalised domain."""
    g = (torch.rand(mel.shape[0], 1, 1, generator=gen) * 2 - 1) * db
    return mel + g * (torch.log(torch.tensor(10.0)) / 20) / std[None, :, None]


def mixup(mel: torch.Tensor, target: torch.Tensor, alpha: float, gen: torch.Generator):
    """Mix each example with a random partner; `target` (B, C) soft labels are mixed alike."""
    from scipy.special import betaincinv  # inverse-CDF sampling keeps `gen` the only RNG

    u = torch.rand(mel.shape[0], generator=gen, dtype=torch.float64)
    lam = torch.from_numpy(betaincinv(alpha, alpha, u.numpy())).to(mel.dtype)
    lam = torch.maximum(lam, 1 - lam)
    perm = torch.randperm(mel.shape[0], generator=gen)
    l3 = lam[:, None, None]
    return l3 * mel + (1 - l3) * mel[perm], lam[:, None] * target + (1 - lam[:, None]) * target[perm]


def vtlp(mel: torch.Tensor, alpha: torch.Tensor, mel_config: MelConfig, boundary: float = 4800.0) -> torch.Tensor:
    """Vocal tract length perturbation (Jaitly & Hinton 2013) of raw log-mels (B, n_mels, T):
    clip b's spectrum is scaled in frequency by alpha[b], as a shorter (alpha > 1) or longer
    vocal tract would move its formants. Generated clips all carry training speakers' voices;
    this varies the voice itself. The warp is piecewise linear: f -> alpha f up to
    boundary (Hz) * min(alpha, 1), then straight to fmax, so no band reads from beyond the mel's range.
    Each output band reads the input at the frequency that maps onto its centre, interpolated
    linearly in Hz between neighbouring band centres."""
    centres = mel_band_centres(mel_config).to(mel)  # (n_mels,)
    fmax = mel_config.fmax
    a = alpha.to(mel)[:, None]  # (B, 1)
    knee_out = boundary * a.clamp(max=1.0)  # where the warped spectrum bends
    knee_in = knee_out / a
    f = centres[None].expand(len(a), -1)
    source = torch.where(f <= knee_out, f / a, fmax - (fmax - knee_in) / (fmax - knee_out) * (fmax - f))
    source = source.clamp(centres[0], centres[-1])
    hi = torch.searchsorted(centres, source.contiguous()).clamp(1, len(centres) - 1)
    lo = hi - 1
    w = ((source - centres[lo]) / (centres[hi] - centres[lo]))[..., None]  # (B, n_mels, 1)
    T = mel.shape[-1]
    pick = lambda idx: mel.gather(1, idx[..., None].expand(-1, -1, T))  # noqa: E731
    return pick(lo) * (1 - w) + pick(hi) * w


def augment_batch(mel, target, cfg: AugmentConfig, normalizer, gen: torch.Generator):
    """`mel` normalised by `normalizer` (whose statistics the gain and warp need)."""
    if cfg.vtlp > 0:
        alpha = 1 + (torch.rand(mel.shape[0], generator=gen) * 2 - 1) * cfg.vtlp
        raw = vtlp(normalizer.denormalize(mel), alpha, normalizer.mel_config)
        mel = normalizer.normalize(raw)
    if cfg.gain_db > 0:
        mel = apply_gain(mel, cfg.gain_db, normalizer.std, gen)
    if cfg.specaugment:
        mel = spec_augment(mel, cfg, gen)
    if cfg.mixup > 0:
        mel, target = mixup(mel, target, cfg.mixup, gen)
    return mel, target
