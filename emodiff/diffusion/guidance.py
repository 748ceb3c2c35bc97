"""Classifier-free guidance (Ho & Salimans 2022), both halves: in training a share of each
batch loses its conditions, so one network also learns the unconditional prediction; in
sampling the prediction is pushed from the unconditional one toward the conditional one.

Only the *emotion* is dropped for guidance; the style (the voice) stays in both branches, so
guidance pushes toward the emotion, not away from the speaker. The style is dropped in
training on its own, so the network can also generate without a reference.
"""
from __future__ import annotations

import numpy as np
import torch


def drop_conditions(emotion: torch.Tensor, vectors: torch.Tensor | None, null_emotion: int,
                    p_emotion: float, p_style: float, rng: np.random.Generator):
    """Training half. emotion (B,) labels, vectors (B, D) classifier embeddings or None.

    Returns (emotion with dropped rows set to `null_emotion`, vectors with dropped rows zeroed,
    drop_style (B,) bool: rows whose reference the UNet replaces by its learned null style).
    The emotion draws come before the style draws, one `rng.random(B)` each.
    """
    drop_emotion = torch.from_numpy(rng.random(len(emotion)) < p_emotion)
    drop_style = torch.from_numpy(rng.random(len(emotion)) < p_style)
    if vectors is not None:
        vectors = vectors * (~drop_emotion)[:, None]
    return torch.where(drop_emotion, null_emotion, emotion), vectors, drop_style


def guided_prediction(unet, x: torch.Tensor, t: torch.Tensor, emotions: torch.Tensor,
                      style: torch.Tensor | None, scale: float, source: torch.Tensor | None = None) -> torch.Tensor:
    """Sampling half: one network call on x (B, n_mels, T) twice over, with the emotion
    (label, and the emotion's centroid vector if the UNet takes one) and without it; style
    (B, style_dim) or None in both, as is a conversion network's `source`. Returns
    uncond + scale * (cond - uncond): scale 1 is the plain conditional model, larger scales
    exaggerate what the emotion changes."""
    e = torch.cat([emotions, torch.full_like(emotions, unet.null_emotion)])
    vec = None
    if unet.config.emotion_vec_dim:
        centroid = unet.emotion_centroids[emotions]
        vec = torch.cat([centroid, torch.zeros_like(centroid)])
    style2 = None if style is None else torch.cat([style, style])
    source2 = None if source is None else torch.cat([source, source])
    cond, uncond = unet(torch.cat([x, x]), t, e, vec, style2, source=source2).chunk(2)
    return uncond + scale * (cond - uncond)
