"""The denoiser: a 1-D UNet over time with the mel bands as channels (the paper's Table 4),
ResNet blocks, a sinusoidal time embedding, linear attention, and three conditions —
emotion label, the classifier's emotion embedding, and a mel-style vector.

Why 1-D: a mel's bands are not translation-invariant the way image rows are, and treating
them as channels makes each step ~40x cheaper than a 2-D UNet of similar capacity on a CPU.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from .style import MelStyleEncoder


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids of the diffusion step, (B,) -> (B, dim) (DDPM, Ho et al. 2020)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


def _groups(channels: int) -> int:
    return math.gcd(32, channels)


class ResBlock1D(nn.Module):
    """GroupNorm-SiLU-Conv twice; the condition enters as FiLM (scale, shift) in between."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(cond_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, cond):  # x (B, C, T), cond (B, cond_dim)
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(cond))[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.dropout(F.silu(h)))


class LinearAttention1D(nn.Module):
    """Linear attention (Katharopoulos et al. 2020; lucidrains' form): softmax over features
    for queries and over time for keys, so cost grows linearly with the number of frames."""

    def __init__(self, channels: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        self.norm = nn.GroupNorm(1, channels)
        self.qkv = nn.Conv1d(channels, 3 * heads * dim_head, 1, bias=False)
        self.out = nn.Conv1d(heads * dim_head, channels, 1)

    def forward(self, x):  # (B, C, T)
        B, _, T = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, -1, T).unbind(1)  # (B, h, d, T)
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)  # (B, h, d, d)
        out = torch.einsum("bhde,bhdn->bhen", context, q).reshape(B, -1, T)
        return x + self.out(out)


class Attention1D(nn.Module):
    """Full softmax self-attention over time, used only at the coarsest resolution."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        h = self.norm(x).transpose(1, 2)
        return x + self.attn(h, h, h, need_weights=False)[0].transpose(1, 2)


class MelDenoiser(ModelMixin, ConfigMixin):
    """Predicts the noise (or v) in a normalised mel x_t (B, n_mels, T), T divisible by
    2 ** (len(channels) - 1), given the step t and the conditions.

    `n_mels` has no default: it is the pipeline normaliser's `mel_config.n_mels`, saved in this
    network's config and checked against it when the pipeline loads.

    Conditions (each may be dropped for classifier-free guidance):
      emotion:      (B,) label index; `n_emotions` means "no emotion" (the null token).
      emotion_vec:  (B, emotion_vec_dim) classifier embedding, zeros when dropped.
      style:        (B, style_dim) from `style_encoder(reference)`; None -> learned null style.
      source:       (B, n_mels, T) normalised mel of the clip being converted, frame-aligned
                    with x, for a conversion network (`source_channels` = n_mels); none when
                    None. It enters beside x at the input, so the words and timing need not be
                    kept by partial noising: the network reads them.
    """

    @register_to_config
    def __init__(self, n_mels: int, channels: tuple = (128, 256, 512), blocks_per_level: int = 2,
                 n_emotions: int = 6, emotion_vec_dim: int = 0, style_dim: int = 128,
                 cond_dim: int = 256, dropout: float = 0.0, emotions: tuple = (),
                 crop_frames: int = 256, source_channels: int = 0):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.emotion_embedding = nn.Embedding(n_emotions + 1, cond_dim)  # last row: null
        self.emotion_proj = nn.Linear(emotion_vec_dim, cond_dim) if emotion_vec_dim else None
        self.style_encoder = MelStyleEncoder(n_mels, style_dim)
        self.null_style = nn.Parameter(torch.zeros(style_dim))
        self.style_proj = nn.Linear(style_dim, cond_dim)
        # Per-emotion mean classifier embeddings: the emotion vector when no clip gives one.
        self.register_buffer("emotion_centroids", torch.zeros(n_emotions, max(emotion_vec_dim, 1)))

        self.conv_in = nn.Conv1d(n_mels, channels[0], 3, padding=1)
        # A conversion network's source enters through its own zero-initialised convolution
        # (as ControlNet's zero convolutions): a generator given one starts out unchanged.
        self.source_in = nn.Conv1d(source_channels, channels[0], 3, padding=1) if source_channels else None
        if self.source_in is not None:
            nn.init.zeros_(self.source_in.weight)
            nn.init.zeros_(self.source_in.bias)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        skips, c = [channels[0]], channels[0]
        for i, ch in enumerate(channels):
            for _ in range(blocks_per_level):
                self.down.append(nn.ModuleList([ResBlock1D(c, ch, cond_dim, dropout), LinearAttention1D(ch)]))
                c = ch
                skips.append(c)
            if i < len(channels) - 1:
                self.down.append(nn.Conv1d(c, c, 4, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock1D(c, c, cond_dim, dropout), Attention1D(c),
                                  ResBlock1D(c, c, cond_dim, dropout)])
        for i, ch in reversed(list(enumerate(channels))):
            for _ in range(blocks_per_level + 1):
                self.up.append(nn.ModuleList([ResBlock1D(c + skips.pop(), ch, cond_dim, dropout),
                                              LinearAttention1D(ch)]))
                c = ch
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv1d(c, c, 3, padding=1)))
        self.norm_out = nn.GroupNorm(_groups(c), c)
        self.conv_out = nn.Conv1d(c, n_mels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def null_emotion(self) -> int:
        return self.config.n_emotions

    def condition(self, t, emotion, emotion_vec=None, style=None) -> torch.Tensor:
        """(B, cond_dim): time + emotion label + emotion vector + style."""
        B = emotion.shape[0]
        cond = self.time_mlp(timestep_embedding(t.expand(B) if t.dim() == 0 else t, self.config.cond_dim))
        cond = cond + self.emotion_embedding(emotion)
        if self.emotion_proj is not None and emotion_vec is not None:
            cond = cond + self.emotion_proj(emotion_vec)
        if style is None:
            style = self.null_style.expand(B, -1)
        return cond + self.style_proj(style)

    def forward(self, x, t, emotion, emotion_vec=None, style=None, reference=None,
                reference_mask=None, drop_style=None, source=None):
        """x (B, n_mels, T), t (B,) or (), emotion (B,). The style is either given as a vector
        or encoded here from `reference` (B, n_mels, T_ref), with rows in `drop_style` (B,)
        replaced by the null style (training, classifier-free guidance)."""
        if reference is not None:
            style = self.style_encoder(reference, reference_mask)
            if drop_style is not None:
                style = torch.where(drop_style[:, None], self.null_style.expand_as(style), style)
        cond = self.condition(t, emotion, emotion_vec, style)
        h = self.conv_in(x)
        if self.source_in is not None and source is not None:
            h = h + self.source_in(source.to(x))
        hs = [h]
        for layer in self.down:
            if isinstance(layer, nn.ModuleList):
                h = layer[1](layer[0](h, cond))
            else:
                h = layer(h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, cond)), cond)
        for layer in self.up:
            if isinstance(layer, nn.ModuleList):
                h = layer[1](layer[0](torch.cat([h, hs.pop()], dim=1), cond))
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))
