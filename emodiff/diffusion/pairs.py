"""Same-sentence pairs for a conversion network: the corpora record each speaker saying one
sentence in several emotions, so a clip of one emotion can learn to become the same
speaker's take of another, words and voice given.

The two takes differ in timing, so the source is aligned to the target by dynamic time
warping on its MFCCs (the mel's cepstrum without its level, each coefficient standardised
over the clip: the words, less the voice and the emotion); the network then sees the source
frame by frame beside the target it learns to make.
"""
from __future__ import annotations

from collections import defaultdict

import librosa
import numpy as np
import torch

from ..data import random_crop
from .envelope import dct_matrix
from .training import ClipBatcher
from .unet import MelDenoiser


def sentence_partners(records) -> list[list[int]]:
    """For each clip, the indices of the other clips of its speaker saying its sentence."""
    groups = defaultdict(list)
    for i, r in enumerate(records):
        groups[(r.speaker, r.text)].append(i)
    return [[j for j in groups[(r.speaker, r.text)] if j != i] for i, r in enumerate(records)]


def content_features(mel: np.ndarray, n: int = 13) -> np.ndarray:
    """(n_mels, T) log-mel -> (n, T): cepstral coefficients 1..n, standardised per clip."""
    c = (dct_matrix(mel.shape[0])[1:n + 1] @ torch.from_numpy(mel).float()).numpy()
    return (c - c.mean(1, keepdims=True)) / (c.std(1, keepdims=True) + 1e-5)


def align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each frame of `target`, the index of the `source` frame DTW pairs it with (the
    first, where several are)."""
    _, path = librosa.sequence.dtw(content_features(source), content_features(target))
    index = np.empty(target.shape[1], dtype=np.int64)
    for i, j in path:  # the path runs from the end back to the start: the last write is the first pair
        index[j] = i
    return index


def with_source_input(unet: MelDenoiser) -> MelDenoiser:
    """A copy of a trained generator that also reads a source mel through a zero-initialised
    input: it starts as the generator and learns what the source adds. A network that reads
    one already is returned as it is (training goes on)."""
    if unet.config.source_channels:
        return unet
    config = {k: v for k, v in unet.config.items() if k != "_use_default_values"}  # else defaults win
    new = MelDenoiser.from_config({**config, "source_channels": config["n_mels"]})
    missing, unexpected = new.load_state_dict(unet.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("source_in.") for k in missing), (missing, unexpected)
    return new


class PairBatcher(ClipBatcher):
    """Training batches for conversion: each sampled clip is a *target*; its source is another
    take of the same speaker and sentence (any emotion, its own included: the "clearer" sense
    has same-emotion pairs), warped onto the target's frames. The style reference is a crop of
    the source, as in use, where the clip being converted gives the voice."""

    def __init__(self, train, mels, normalizer, frames: int, seed: int, null_emotion: int, **kwargs):
        super().__init__(train, mels, normalizer, frames, seed, null_emotion, **kwargs)
        self.partners = sentence_partners(train)
        self.alignments = {}

    def example(self, i, rng):
        """(target crop, the source's index, the source warped onto the target's frames and
        cropped with it), the crops normalised, each (n_mels, frames)."""
        j = int(rng.choice(self.partners[i] or [i]))  # a clip without one is its own source
        target, source = self.mels[self.train[i].path], self.mels[self.train[j].path]
        if (j, i) not in self.alignments:
            self.alignments[(j, i)] = align(source, target)
        warped = source[:, self.alignments[(j, i)]]
        both = random_crop(np.concatenate([target, warped]), self.frames, rng, self.norm.mel_config.silence)[0]
        n = target.shape[0]
        return self.norm.normalize(torch.from_numpy(both[:n])), j, self.norm.normalize(torch.from_numpy(both[n:]))
