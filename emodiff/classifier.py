"""Speech-emotion classifier: a ResNet on normalised log-mels, and its emotion embedding.

ResNet-50 (bottleneck blocks [3, 4, 6, 3], one input channel, from scratch) is the paper's
model. `ClassifierConfig.small()` is a narrower, shallower ResNet of the same family that
trains in minutes on a CPU. Either way the globally pooled penultimate vector is the
*emotion embedding* that conditions the diffusion model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import load_safetensors, model_folder, read_config, save_safetensors, write_config
from .data import EMOTIONS, average_spectrum, sliding_windows, trim_silence
from .mel import MelConfig, MelNormalizer, mel_of

MODEL_TYPE = "emodiff-resnet-ser"


@dataclass
class ClassifierConfig:
    emotions: tuple = EMOTIONS
    layers: tuple = (3, 4, 6, 3)  # bottleneck blocks per stage; (3, 4, 6, 3) = ResNet-50
    width: int = 64  # channels of the first stage (x4 after each bottleneck expansion)
    dropout: float = 0.3
    crop_frames: int = 160  # ~1.9 s windows; long clips are scored by sliding windows
    # Subtract each clip's own mean log-mel per band before the global z-score: removes the
    # average spectrum of the voice and the microphone, which differ between speakers.
    utterance_norm: bool = False
    # Subtract the *speaker's* average log-mel instead (the mean of their clips' means, from
    # unlabelled clips): removes voice and microphone like utterance_norm, but keeps how a clip
    # differs from the same speaker's other clips (an angry clip stays louder than their
    # neutral ones). Needs several clips per speaker; a lone clip falls back to its own mean,
    # which measured far less accurate (README, "Recognition on unseen speakers").
    speaker_norm: bool = False
    # Logits are divided by this before the softmax, so that a shown "80 %" is right about 80 %
    # of the time on unseen speakers; fitted on held-out speakers' predictions (train/calibrate.py).
    temperature: float = 1.0
    mel: MelConfig = field(default_factory=MelConfig)

    @classmethod
    def resnet50(cls, **kw) -> "ClassifierConfig":
        return cls(**kw)

    @classmethod
    def small(cls, **kw) -> "ClassifierConfig":
        """~1.2 M parameters: [1, 1, 1, 1] bottlenecks, width 24."""
        return cls(**{"layers": (1, 1, 1, 1), "width": 24, **kw})

    def prepare(self, mel: np.ndarray, speaker_mean: np.ndarray | None = None) -> np.ndarray:
        """Raw log-mel (n_mels, T) as the network's normaliser expects it. `speaker_mean`
        ((n_mels,), see `data.speaker_means`) is used only by speaker-normalised models."""
        mel = np.asarray(mel, dtype=np.float32)
        if self.utterance_norm or (self.speaker_norm and speaker_mean is None):
            return mel - mel.mean(axis=1, keepdims=True)
        if self.speaker_norm:
            return mel - np.asarray(speaker_mean, dtype=np.float32)[:, None]
        return mel

    @property
    def embedding_dim(self) -> int:
        return self.width * 8 * Bottleneck.expansion

    def to_dict(self) -> dict:
        d = asdict(self)
        d["emotions"], d["layers"] = list(self.emotions), list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        d = dict(d)
        d["mel"] = MelConfig.from_dict(d["mel"])
        d["emotions"], d["layers"] = tuple(d["emotions"]), tuple(d["layers"])
        return cls(**d)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here, as in torchvision's ResNet v1.5) -> 1x1 expand."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        nn.init.zeros_(self.body[-1].weight)  # each block starts as identity: stable from scratch
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


class ResNetSER(nn.Module):
    """(B, n_mels, T) normalised log-mel -> logits (B, n_classes); `embed` gives (B, D)."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.stem = nn.Sequential(nn.Conv2d(1, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], w
        for i, n in enumerate(cfg.layers):
            width = w * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(c_in, width, stride=2 if (j == 0 and i > 0) else 1))
                c_in = width * Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c_in, len(cfg.emotions))

    def embed(self, mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Emotion embedding: feature maps averaged over frequency and the unpadded time."""
        x = self.stages(self.stem(mel.unsqueeze(1)))  # (B, C, F', T')
        x = x.mean(dim=2)  # (B, C, T')
        if mask is None:
            return x.mean(dim=2)
        # Downsample the frame mask to T' (a pooled frame is valid if any input frame was).
        m = F.adaptive_max_pool1d(mask[:, None].float(), x.shape[-1])  # (B, 1, T')
        return (x * m).sum(-1) / m.sum(-1).clamp(min=1)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.dropout(self.embed(mel, mask)))


class EmotionClassifier:
    """A trained classifier with everything it needs: network, normaliser, labels, mel config.

    Saved as a folder: config.json, model.safetensors (fp16), normalizer.json.
    """

    def __init__(self, cfg: ClassifierConfig, normalizer: MelNormalizer,
                 model: ResNetSER | None = None, metadata: dict | None = None):
        if normalizer.mel_config != cfg.mel:
            raise ValueError("The normaliser was fitted on a different mel configuration.")
        self.cfg = cfg
        self.normalizer = normalizer
        self.model = (model or ResNetSER(cfg)).eval()
        self.metadata = metadata or {}

    @property
    def emotions(self) -> tuple:
        return self.cfg.emotions

    @property
    def mel_config(self) -> MelConfig:
        return self.cfg.mel

    # ---- persistence ----
    def save_pretrained(self, path, fp16: bool = True) -> None:
        path = write_config(path, MODEL_TYPE, self.cfg.to_dict(), self.metadata)
        self.normalizer.save(path / "normalizer.json")
        save_safetensors(self.model.state_dict(), path / "model.safetensors", fp16=fp16)

    @classmethod
    def from_pretrained(cls, path, device: str = "cpu") -> "EmotionClassifier":
        """A saved folder, or a Hub repo id (`checkpoint.model_folder`)."""
        path = model_folder(path)
        raw, metadata = read_config(path, "classifier", MODEL_TYPE)
        cfg = ClassifierConfig.from_dict(raw)
        model = ResNetSER(cfg)
        model.load_state_dict(load_safetensors(path / "model.safetensors", model))
        return cls(cfg, MelNormalizer.load(path / "normalizer.json"), model.to(device), metadata)

    # ---- inference ----
    def windows(self, mel: torch.Tensor, speaker_mean=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw log-mel (n_mels, T) -> normalised sliding windows and masks."""
        crops, masks = sliding_windows(self.cfg.prepare(mel, speaker_mean), self.cfg.crop_frames,
                                       self.cfg.mel.silence)
        crops = self.normalizer.normalize(torch.from_numpy(crops))
        return crops, torch.from_numpy(masks)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def window_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Windows' logits -> their calibrated probabilities (`ClassifierConfig.temperature`)."""
        return (logits / self.cfg.temperature).softmax(-1)

    @torch.inference_mode()
    def mel_probabilities(self, mel, speaker_mean=None) -> torch.Tensor:
        """Raw log-mel (n_mels, T) -> (n_classes,) probabilities, averaged over windows."""
        crops, masks = self.windows(mel, speaker_mean)
        return self.window_probabilities(self.model(crops.to(self.device), masks.to(self.device))).mean(0).cpu()

    @torch.inference_mode()
    def mel_embedding(self, mel) -> torch.Tensor:
        """Raw log-mel (n_mels, T) -> (D,) emotion embedding, averaged over windows."""
        crops, masks = self.windows(mel)
        return self.model.embed(crops.to(self.device), masks.to(self.device)).mean(0).cpu()

    def confidences(self, mel, speaker_mean=None) -> dict[str, float]:
        """Raw log-mel (n_mels, T) -> {emotion: probability}."""
        return {e: float(p) for e, p in zip(self.emotions, self.mel_probabilities(mel, speaker_mean))}

    def mel(self, audio) -> torch.Tensor:
        """Anything `load_audio` takes (or an `Audio`, resampled if need be) -> the raw log-mel
        (n_mels, T) this model reads, with its own saved mel config."""
        return mel_of(audio, self.cfg.mel)

    def predict(self, audio) -> dict[str, float]:
        """Anything `load_audio` takes (or a loaded `Audio`) -> {emotion: probability}."""
        return self.confidences(self.mel(audio))

    def predict_speaker(self, audios) -> list[dict[str, float]]:
        """Several clips of one speaker -> each clip's {emotion: probability}. A speaker-normalised
        model takes the speaker's average spectrum from all of them (speech frames only, as in
        training), so they should span the speaker's range, not one emotion."""
        mels = [self.mel(a) for a in audios]
        ref = speaker_reference(mels) if self.cfg.speaker_norm else None
        return [self.confidences(m, ref) for m in mels]

    def embed(self, audio) -> np.ndarray:
        return self.mel_embedding(self.mel(audio)).numpy()


def speaker_reference(mels) -> np.ndarray:
    """A speaker's average spectrum from several of their clips' raw log-mels (torch), speech
    frames only, as in training."""
    return average_spectrum([trim_silence(m.numpy()) for m in mels])

