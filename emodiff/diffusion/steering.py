"""Steering the sampler toward an emotion by the clip's statistics: guidance on the predicted
clean mel (after Dhariwal & Nichol 2021, with the gradient taken on the clean estimate, so no
noise-aware model is needed).

Why a linear model on statistics and not a CNN: in a first screen on held-out speakers, guiding
with one CNN "converted" clips for another CNN while an openSMILE judge heard almost no change —
a deep net's gradient finds changes only deep nets hear. A linear model on clip statistics can
only be satisfied by changing them: the spectrum's shape relative to the frame energy (tilt,
brightness), how much it varies and moves, the energy's level, spread and movement, the share of
loud frames. Those are audible, and both kinds of judge move together.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

STEERING_FILE = "steering.json"  # beside the pipeline whose training speakers fitted it
ACTIVE_RANGE = 6.0  # natural-log units of the mel below the loudest frame where a frame stops counting


def clip_statistics(raw: torch.Tensor) -> torch.Tensor:
    """Raw log-mels (B, n_mels, T) -> (B, 3 * n_mels + 4) statistics, differentiable: over the
    clip's active frames (a soft weight on frame energy), each band's level relative to the frame
    energy, its spread, its frame-to-frame movement; the energy's mean, spread and movement; the
    share of active frames."""
    energy = raw.logsumexp(1, keepdim=True)  # (B, 1, T)
    active = torch.sigmoid(2 * (energy - energy.amax(-1, keepdim=True) + ACTIVE_RANGE))
    w = active / active.sum(-1, keepdim=True)
    wmean = lambda x, w=w: (x * w).sum(-1)  # noqa: E731
    wstd = lambda x, m, w=w: (((x - m[..., None]) ** 2) * w).sum(-1).clamp_min(1e-6).sqrt()  # noqa: E731
    shape = raw - energy
    level = wmean(shape)
    motion = wmean((raw[..., 1:] - raw[..., :-1]) ** 2, w[..., 1:]).clamp_min(1e-6).sqrt()
    e_mean = wmean(energy)
    e_motion = wmean((energy[..., 1:] - energy[..., :-1]).abs(), w[..., 1:])
    return torch.cat([level, wstd(shape, level), motion, e_mean, wstd(energy, e_mean), e_motion,
                      active.mean(-1)], 1)


@dataclass
class EmotionStatistics:
    """A logistic regression on `clip_statistics`, z-scored: its log-probability's gradient is
    the direction a clip's statistics must move to sound more like an emotion."""

    emotions: list
    mean: list
    std: list
    weight: list  # (n_emotions, D)
    bias: list

    @classmethod
    def fit(cls, mels, labels, emotions, C: float = 0.1) -> "EmotionStatistics":
        """`mels` raw log-mels of any lengths, `labels` their emotion names (two or more of
        `emotions`; the model steers toward those it saw)."""
        from sklearn.linear_model import LogisticRegression

        X = np.stack([clip_statistics(torch.as_tensor(m, dtype=torch.float32)[None])[0].numpy() for m in mels])
        mean, std = X.mean(0), X.std(0) + 1e-6
        lr = LogisticRegression(C=C, max_iter=3000).fit((X - mean) / std, [list(emotions).index(e) for e in labels])
        weight, bias = lr.coef_, lr.intercept_
        if len(lr.classes_) == 2:  # sklearn keeps one row for two classes: the second's logit against 0
            weight, bias = np.stack([np.zeros_like(weight[0]), weight[0]]), np.array([0.0, bias[0]])
        seen = [emotions[int(c)] for c in lr.classes_]
        return cls(seen, mean.tolist(), std.tolist(), weight.tolist(), bias.tolist())

    def log_probs(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw log-mels (B, n_mels, T) -> (B, n_emotions) log-probabilities."""
        t = lambda v: torch.tensor(v, dtype=raw.dtype)  # noqa: E731
        x = (clip_statistics(raw) - t(self.mean)) / t(self.std)
        return (x @ t(self.weight).T + t(self.bias)).log_softmax(-1)

    def direction(self, x: torch.Tensor, targets, to_raw=lambda x: x) -> torch.Tensor:
        """Unit-RMS gradient of log p(target) with respect to each mel of x (B, n_mels, T), which
        `to_raw` (differentiable) turns into raw log-mels: where to move x."""
        with torch.inference_mode(False), torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            unseen = sorted(set(targets) - set(self.emotions))
            if unseen:
                raise ValueError(f"The steering model never saw {', '.join(unseen)}.")
            idx = torch.tensor([self.emotions.index(e) for e in targets])
            grad, = torch.autograd.grad(self.log_probs(to_raw(x))[torch.arange(len(idx)), idx].sum(), x)
        return grad / (grad.pow(2).mean(dim=(1, 2), keepdim=True).sqrt() + 1e-8)

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path) -> "EmotionStatistics":
        return cls(**json.loads(Path(path).read_text()))
