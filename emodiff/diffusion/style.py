"""Mel-style encoder: a reference mel -> one style vector (the paper's CNN + attention).

Convolutions read local timbre; self-attention relates frames across the clip; a learned
query then pools the frames into one vector, ignoring padded frames. One vector, not a
sequence, so the style can carry voice and recording character but not the words.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class MelStyleEncoder(nn.Module):
    """(B, n_mels, T) normalised reference mel (+ (B, T) mask) -> (B, style_dim)."""

    def __init__(self, n_mels: int, style_dim: int = 128, hidden: int = 128, heads: int = 2):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(n_mels, hidden, 5, padding=2), nn.GroupNorm(8, hidden), nn.SiLU(),
            nn.Conv1d(hidden, hidden, 5, padding=2), nn.GroupNorm(8, hidden), nn.SiLU())
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.query = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.pool = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.out = nn.Linear(hidden, style_dim)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        keep = torch.ones_like(mel[:, :1]) if mask is None else mask[:, None].to(mel.dtype)  # (B, 1, T)
        h = mel * keep
        for i in range(0, len(self.convs), 3):  # (conv, norm, SiLU) twice
            h = self.convs[i + 2](self.convs[i + 1](self.convs[i](h))) * keep  # padded frames stay 0
        h = h.transpose(1, 2)  # (B, T, hidden)
        pad = None if mask is None else ~mask.bool()  # True where padded
        h = h + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        pooled = self.pool(self.query.expand(len(h), -1, -1), h, h, key_padding_mask=pad,
                           need_weights=False)[0]  # (B, 1, hidden)
        return self.out(F.silu(pooled[:, 0]))
