"""Keep the words while the emotion is redrawn: at every sampling step, the clean estimate's
spectral envelope is replaced by the source's, frame by frame (after ILVR, Choi et al. 2021,
which holds a reference's low frequencies through sampling; here the "low" part is the low
quefrencies of each frame's log-mel).

Why these coefficients: across a frame's mel bands, the cepstrum's coefficients 2..15 trace the
envelope, the formants that make the phones (and much of the voice); coefficient 0 is the
frame's level and 1 its tilt, both carriers of emotion, and the high ones the harmonics, the
pitch. Held, the envelope keeps what is said and its timing; left free, level, tilt and pitch
follow the target emotion. So Enhance may start from pure noise (strength 1) and still say
the source's words: partial noising keeps the words but also the emotion.
"""
from __future__ import annotations

import math

import torch

ENVELOPE = (2, 16)  # cepstral coefficients held: [lo, hi)


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II as an (n, n) matrix: c = D @ x, x = D.T @ c."""
    k, i = torch.arange(n)[:, None].double(), torch.arange(n)[None].double()
    d = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d.float()


class EnvelopeLock:
    """Replace coefficients `band` of each frame's cepstrum by those of `source`."""

    def __init__(self, source: torch.Tensor, band: tuple[int, int] = ENVELOPE):
        """source: raw log-mels (B, n_mels, T), the length the sampler runs at."""
        d = dct_matrix(source.shape[-2])
        keep = torch.zeros(len(d))
        keep[band[0]:band[1]] = 1.0
        self.projection = d.T @ torch.diag(keep) @ d  # onto the held coefficients
        self.held = self.projection @ source.float()

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        """raw log-mels (B, n_mels, T) -> the same with the source's envelope."""
        return raw - self.projection @ raw + self.held
