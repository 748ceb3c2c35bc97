"""A speaker encoder's layer statistics: emotion features learnt from thousands of voices.

Resemblyzer's voice encoder (GE2E, Wan et al. 2018; a 3-layer LSTM over 40-band mels, trained
to tell thousands of speakers apart) learnt what varies between voices from far more speech
than the ~1,200 emotion clips here. Its final embedding keeps who speaks; its layers on the way
also keep how the voice is used (effort, pitch movement, breathiness). The mean and spread over
a clip of each layer's outputs, into a logistic regression, recognise emotion on unseen speakers
better than openSMILE's 6,373 statistics and err on other clips, so the two vote well together
(README, "Recognition on unseen speakers"). Used as the `voice_encoder` feature set of
`emodiff.functionals`.

The weights (Apache-2.0, Resemble AI) are converted once from the resemblyzer package into
`checkpoints/voice_encoder/` by `train/convert_voice_encoder.py`; nothing is
downloaded, and resemblyzer is not needed to use them.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .checkpoint import CheckpointError, load_safetensors, read_config, save_safetensors, write_config

MODEL_TYPE = "emodiff-voice-encoder"
FOLDER = Path(__file__).resolve().parents[1] / "checkpoints" / "voice_encoder"


@dataclass(frozen=True)
class VoiceEncoderConfig:
    """Resemblyzer's front end (hparams.py): what the weights were trained on."""

    sample_rate: int = 16000
    n_fft: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 40
    hidden: int = 256
    layers: int = 3
    target_dbfs: float = -30.0  # quiet clips are raised to this RMS level, loud ones left alone


class VoiceEncoder(nn.Module):
    """The encoder's LSTM, one module per layer so that every layer's outputs can be read."""

    def __init__(self, cfg: VoiceEncoderConfig = VoiceEncoderConfig()):
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.ModuleList(nn.LSTM(cfg.n_mels if i == 0 else cfg.hidden, cfg.hidden, batch_first=True)
                                  for i in range(cfg.layers))

    def mel(self, samples: np.ndarray) -> torch.Tensor:
        """Mono float32 at `cfg.sample_rate` -> (T, n_mels) power mel (not log: as trained)."""
        import librosa

        c = self.cfg
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
        gain = 10 ** ((c.target_dbfs - 20 * np.log10(max(rms, 1e-9))) / 20)
        samples = samples * max(gain, 1.0)
        mel = librosa.feature.melspectrogram(y=samples.astype(np.float32), sr=c.sample_rate, n_fft=c.n_fft,
                                             hop_length=c.hop_length, n_mels=c.n_mels)
        return torch.from_numpy(mel.T.astype(np.float32))

    @torch.inference_mode()
    def statistics(self, samples: np.ndarray) -> np.ndarray:
        """Mono float32 at `cfg.sample_rate` -> (2 * layers * hidden,) float32: each layer's
        mean over the clip, then its standard deviation, layer by layer."""
        x, out = self.mel(samples)[None], []
        # One thread: a recurrence over a few hundred frames ran faster on one than on two (40 vs
        # 65 ms p50 for 3 s); the setting is the calling thread's own (OpenMP), restored after.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for layer in self.lstm:
                x, _ = layer(x)
                out += [x[0].mean(0), x[0].std(0, correction=0)]
        finally:
            torch.set_num_threads(threads)
        return torch.cat(out).numpy()

    def save_pretrained(self, path, metadata: dict) -> None:
        path = write_config(path, MODEL_TYPE, asdict(self.cfg), metadata)
        save_safetensors(self.state_dict(), path / "model.safetensors", fp16=True)

    @classmethod
    def from_pretrained(cls, path=FOLDER) -> "VoiceEncoder":
        raw, _ = read_config(path, "voice encoder", MODEL_TYPE)
        model = cls(VoiceEncoderConfig(**raw))
        model.load_state_dict(load_safetensors(Path(path) / "model.safetensors", model))
        return model.eval()


@functools.lru_cache(maxsize=1)
def shipped() -> VoiceEncoder:
    """The converted encoder in checkpoints/, loaded once per process."""
    return VoiceEncoder.from_pretrained(FOLDER)


@functools.lru_cache(maxsize=4)
def weights_digest(path=FOLDER) -> str:
    """Names the features an encoder makes: a feature cache must not outlive its weights."""
    weights = Path(path) / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"The voice encoder's weights are missing ({weights}): the voice-encoder models "
                              "need the repository's checkpoints/voice_encoder/.")
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
