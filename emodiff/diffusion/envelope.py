"""Keep the words while the emotion is redrawn: at every sampling step, the clean estimate's
spectral envelope is replaced by the source's, frame by frame (after ILVR, Choi et al. 2021,
which holds a reference's low frequencies through sampling; here the "low" part is the low
quefrencies of each frame's log-mel).

Why these coefficients: across a frame's mel bands, the cepstrum's coefficients 2..15 trace the
envelope, the formants that make the phones (and much of the voice); coefficient 0 is the
frame's level, 1 its tilt, and the high ones the harmonics, the pitch. Held, the envelope
(and the level's course over time: where the pauses are) keeps what is said and its timing;
left free, the tilt, the pitch and the mean level follow the target emotion. So Enhance may
start from pure noise (strength 1) and still say the source's words: partial noising keeps
the words but also the emotion.
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
    """Replace coefficients `band` of each frame's cepstrum by those of `source`, and the course
    of its level over time (coefficient 0 less its mean): without it the sampler moved speech
    into the source's pauses (the level's correlation with the source's fell to 0.27, held:
    0.94). The mean level stays free: the app sets the loudness afterwards anyway."""

    def __init__(self, source: torch.Tensor, band: tuple[int, int] = ENVELOPE):
        """source: raw log-mels (B, n_mels, T), the length the sampler runs at."""
        d = dct_matrix(source.shape[-2])
        keep = torch.zeros(len(d))
        keep[band[0]:band[1]] = 1.0
        self.projection = d.T @ torch.diag(keep) @ d  # onto the held coefficients
        self.level = d[:1].T @ d[:1]  # onto coefficient 0
        self.held = self.projection @ source.float() + self._course(source.float())

    def _course(self, raw: torch.Tensor) -> torch.Tensor:
        level = self.level @ raw
        return level - level.mean(-1, keepdim=True)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        """raw log-mels (B, n_mels, T) -> the same with the source's envelope and level course."""
        return raw - self.projection @ raw - self._course(raw) + self.held
