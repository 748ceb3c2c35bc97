"""Emotion from whole-clip statistics and a logistic regression: openSMILE's ComParE 2016
functionals (6,373 statistics of loudness, pitch, voice quality, MFCCs and spectral shape over
the clip), or a speaker encoder's layers averaged over the clip (`emodiff.voice_encoder`).

Why beside the CNN: with ~1,000 training clips, a linear model on these hand-designed
statistics generalises to new speakers better than a network that learns its features from
log-mels (README, "Acoustic functionals"), and it errs on other clips, so the two vote well
together. A speaker-normalised model z-scores every statistic within the speaker's clips
(labels unused), which removes most of what is constant for a voice; like the speaker-
normalised CNN it needs several clips of the speaker, spanning their range.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .audio import load_audio, resample
from .checkpoint import (CheckpointError, load_safetensors, model_folder, read_config, save_npz, save_safetensors,
                         write_config)
from .data import DEFAULT_CACHE, EMOTIONS, file_digest
from .mel import MelConfig
from .voice_encoder import shipped as voice_encoder, weights_digest

MODEL_TYPE = "emodiff-functionals-lr"
# z-scores are clipped here, in training and use alike: a statistic that barely varied in
# training (z of 10^4 on a synthetic tone) would otherwise decide alone, with certainty.
Z_CLIP = 5.0
VOICE_ENCODER = "voice_encoder"  # the feature set of the speaker encoder's statistics


@dataclass
class FunctionalsConfig:
    emotions: tuple = EMOTIONS
    feature_set: str = "ComParE_2016"  # an opensmile.FeatureSet name (eGeMAPSv02: the small one), or VOICE_ENCODER
    # Leading and trailing silence below this many dB under the peak is cut first: its length is
    # an accident of the recording, and it dilutes every statistic.
    trim_db: float = 40.0
    sample_rate: int = MelConfig.sample_rate  # a new model analyses clips at the rate the CNNs read
    speaker_norm: bool = False
    c: float = 0.01  # inverse L2 strength; train/cross_validate_functionals.py picks it on training speakers
    temperature: float = 1.0  # logits / this before the softmax: calibration (train/calibrate.py)

    def key(self) -> str:
        """What the features (not the model) depend on: names the feature cache."""
        encoder = [weights_digest()] if self.feature_set == VOICE_ENCODER else []
        return json.dumps([self.feature_set, self.trim_db, self.sample_rate, *encoder])

    def to_dict(self) -> dict:
        return {**asdict(self), "emotions": list(self.emotions)}

    @classmethod
    def from_dict(cls, d: dict) -> "FunctionalsConfig":
        return cls(**{**d, "emotions": tuple(d["emotions"])})


@functools.lru_cache(maxsize=2)
def _smile(feature_set: str):
    import opensmile  # imported here: only this model needs it

    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                           feature_level=opensmile.FeatureLevel.Functionals)


def functionals(samples: np.ndarray, cfg: FunctionalsConfig) -> np.ndarray:
    """Mono float32 at `cfg.sample_rate` -> (D,) float32 statistics of its speech."""
    import librosa

    samples = np.asarray(samples, dtype=np.float32)
    speech, _ = librosa.effects.trim(samples, top_db=cfg.trim_db)
    if len(speech) < cfg.sample_rate // 10:  # nothing above the threshold: keep the clip whole
        speech = samples
    if cfg.feature_set == VOICE_ENCODER:
        encoder = voice_encoder()
        return encoder.statistics(resample(speech, cfg.sample_rate, encoder.cfg.sample_rate))
    return _smile(cfg.feature_set).process_signal(speech, cfg.sample_rate).to_numpy()[0].astype(np.float32)


def clip_functionals(paths, cfg: FunctionalsConfig, cache_dir=DEFAULT_CACHE, progress: bool = False) -> np.ndarray:
    """(len(paths), D) statistics of audio files, computed once per file content and feature
    configuration and kept in one .npz under `cache_dir`."""
    from tqdm import tqdm

    cache = Path(cache_dir) / f"functionals-{hashlib.sha256(cfg.key().encode()).hexdigest()[:12]}.npz"
    known = dict(np.load(cache)) if cache.is_file() else {}
    digests = [file_digest(p) for p in paths]
    missing = [(p, d) for p, d in zip(paths, digests) if d not in known]
    for p, d in tqdm(missing, disable=not progress, desc="functionals"):
        known[d] = functionals(load_audio(p, sample_rate=cfg.sample_rate, max_seconds=600).samples, cfg)
    if missing:
        save_npz(cache, **known)
    return np.stack([known[d] for d in digests])


def speaker_zscore(features: np.ndarray, speakers) -> np.ndarray:
    """Each statistic z-scored within each speaker's clips (labels unused)."""
    features, speakers = np.asarray(features, dtype=np.float64), np.asarray(speakers)
    out = np.empty_like(features)
    for s in np.unique(speakers):
        rows = speakers == s
        if rows.sum() < 2:
            raise ValueError(f"Speaker normalisation needs at least two clips of a speaker; {s} has one.")
        x = features[rows]
        out[rows] = (x - x.mean(0)) / (x.std(0) + 1e-8)
    return out.astype(np.float32)


class LinearHead(nn.Module):
    """z-score with the training statistics, then a linear layer: the fitted logistic
    regression as tensors, so it saves and loads like every other model here."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A statistic openSMILE could not compute (NaN) sits at the training mean.
        return self.linear(torch.nan_to_num((x - self.mean) / self.scale).clamp(-Z_CLIP, Z_CLIP))


class FunctionalsClassifier:
    """A fitted functionals model. Saved as a folder: config.json, model.safetensors (fp32:
    the feature means span orders of magnitude fp16 cannot hold)."""

    def __init__(self, cfg: FunctionalsConfig, model: LinearHead, metadata: dict | None = None):
        self.cfg, self.model, self.metadata = cfg, model.eval(), metadata or {}

    @property
    def emotions(self) -> tuple:
        return self.cfg.emotions

    @classmethod
    def fit(cls, cfg: FunctionalsConfig, features: np.ndarray, labels, speakers=None,
            metadata: dict | None = None) -> "FunctionalsClassifier":
        """`labels`: emotion names; `speakers`: one per clip, needed when `cfg.speaker_norm`."""
        from sklearn.linear_model import LogisticRegression

        x = cls._prepare(cfg, features, speakers)
        mean, scale = np.nanmean(x, 0), np.nanstd(x, 0)
        scale[~(scale > 1e-8)] = 1.0  # constant statistics (e.g. all zero) pass through
        z = np.clip(np.nan_to_num((x - mean) / scale), -Z_CLIP, Z_CLIP)
        y = np.array([cfg.emotions.index(e) for e in labels])
        lr = LogisticRegression(C=cfg.c, max_iter=3000).fit(z, y)
        if list(lr.classes_) != list(range(len(cfg.emotions))):
            raise ValueError("Every emotion needs training clips.")
        head = LinearHead(x.shape[1], len(cfg.emotions))
        with torch.no_grad():
            head.mean.copy_(torch.from_numpy(mean)), head.scale.copy_(torch.from_numpy(scale))
            head.linear.weight.copy_(torch.from_numpy(lr.coef_))
            head.linear.bias.copy_(torch.from_numpy(lr.intercept_))
        encoder = {"voice_encoder": weights_digest()} if cfg.feature_set == VOICE_ENCODER else {}
        return cls(cfg, head, {**(metadata or {}), **encoder})

    @staticmethod
    def _prepare(cfg: FunctionalsConfig, features, speakers) -> np.ndarray:
        if not cfg.speaker_norm:
            return np.asarray(features, dtype=np.float32)
        if speakers is None:
            raise ValueError("This model normalises by speaker: it needs several clips of each speaker.")
        return speaker_zscore(features, speakers)

    @torch.inference_mode()
    def logits(self, features: np.ndarray, speakers=None) -> torch.Tensor:
        """(N, D) statistics -> (N, n_classes) logits. `speakers` (one per clip) is needed by a
        speaker-normalised model, with at least two clips of each speaker."""
        return self.model(torch.from_numpy(self._prepare(self.cfg, features, speakers)))

    def probabilities(self, features: np.ndarray, speakers=None) -> np.ndarray:
        """(N, D) statistics -> (N, n_classes) calibrated probabilities (see `logits`)."""
        return (self.logits(features, speakers) / self.cfg.temperature).softmax(-1).numpy()

    def features(self, audios) -> np.ndarray:
        """Clips (anything `load_audio` takes, or loaded `Audio`s) -> (N, D) statistics."""
        return np.stack([functionals(self._samples(a), self.cfg) for a in audios])

    def _samples(self, audio) -> np.ndarray:
        """Mono samples at this model's rate, from a source or an `Audio` decoded at any rate."""
        rate = self.cfg.sample_rate
        if not hasattr(audio, "samples"):
            return load_audio(audio, sample_rate=rate, crop=True).samples
        return audio.samples if audio.sample_rate == rate else resample(audio.samples, audio.sample_rate, rate)

    def confidences(self, features: np.ndarray, one_speaker: bool) -> list[dict[str, float]]:
        """(N, D) statistics -> each clip's {emotion: probability}; `one_speaker`: the clips are
        one speaker's, which a speaker-normalised model needs (two at least), else each stands alone."""
        if self.cfg.speaker_norm and one_speaker and len(features) < 2:
            raise ValueError("This model compares clips of one speaker: give it at least two (better, a dozen).")
        probs = self.probabilities(features, ["speaker"] * len(features) if one_speaker else None)
        return [dict(zip(self.emotions, map(float, p))) for p in probs]

    def predict(self, audio) -> dict[str, float]:
        """Anything `load_audio` takes (or a loaded `Audio`) -> {emotion: probability}."""
        return self.confidences(self.features([audio]), one_speaker=False)[0]

    def predict_speaker(self, audios) -> list[dict[str, float]]:
        """Several clips of one speaker -> each clip's {emotion: probability}."""
        return self.confidences(self.features(list(audios)), one_speaker=True)

    def save_pretrained(self, path) -> None:
        path = write_config(path, MODEL_TYPE, {**self.cfg.to_dict(), "dim": self.model.mean.numel()},
                            self.metadata)
        save_safetensors(self.model.state_dict(), path / "model.safetensors", fp16=False)

    @classmethod
    def from_pretrained(cls, path) -> "FunctionalsClassifier":
        """A saved folder, or a Hub repo id (`checkpoint.model_folder`)."""
        path = model_folder(path)
        raw, metadata = read_config(path, "functionals model", MODEL_TYPE)
        dim = raw.pop("dim")
        cfg = FunctionalsConfig.from_dict(raw)
        head = LinearHead(dim, len(cfg.emotions))
        head.load_state_dict(load_safetensors(path / "model.safetensors", head))
        if cfg.feature_set == VOICE_ENCODER and metadata.get("voice_encoder") != weights_digest():
            raise CheckpointError(f"{path} was fitted on another voice encoder's statistics than "
                                  "checkpoints/voice_encoder/ makes; it was not loaded.")
        return cls(cfg, head, metadata)
