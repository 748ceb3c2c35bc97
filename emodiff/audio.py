"""Wave in, log-mel out: the one audio front end every other part of EmoDiff uses.

`load_audio` turns whatever a user hands us (a path, raw bytes, Gradio's `(rate, array)`
tuple) into mono float32 at 22,050 Hz, or raises `AudioError` with a sentence a person can
act on. `mel_spectrogram` is the single wave -> log-mel definition: the one the pretrained
HiFi-GAN universal vocoder was trained on, so any mel we make or generate can be heard.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
import torch

SAMPLE_RATE = 22050
MIN_SECONDS = 0.25
MAX_SECONDS = 30.0
# Peak below -80 dBFS: nothing a microphone picks up in a room is that quiet.
SILENCE_PEAK = 1e-4
SUPPORTED = "WAV, FLAC, OGG or MP3"

AudioSource = Union[str, Path, bytes, bytearray, tuple]


class AudioError(ValueError):
    """Input audio we cannot use; `str(err)` is a sentence meant for the user."""


@dataclass(frozen=True)
class Audio:
    """Decoded audio, mono float32 at `sample_rate`."""

    samples: np.ndarray  # (N,) float32 in [-1, 1]
    sample_rate: int
    source_rate: int
    channels: int
    cropped_from: float | None = None  # original length in seconds when cropped

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def notice(self) -> str | None:
        if self.cropped_from is None:
            return None
        return (f"The recording is {self.cropped_from:.1f} s long; only the first "
                f"{self.seconds:.1f} s were used.")


def load_audio(source: AudioSource, *, sample_rate: int = SAMPLE_RATE,
               max_seconds: float = MAX_SECONDS, crop: bool = False) -> Audio:
    """Decode, downmix and resample `source`; validate it for speech-emotion use.

    Args:
        source: a file path, the file's bytes, or a `(rate, array)` tuple as Gradio gives
            (array `(N,)` or `(N, channels)`, integer PCM or float).
        sample_rate: output rate in Hz.
        max_seconds: longest input accepted.
        crop: if True, longer input is cut to `max_seconds` (see `Audio.notice`) instead of
            rejected. Only the kept part is decoded, so huge files cost little.
    Raises:
        AudioError: empty, unreadable, corrupt, truncated, too short or long, silent, or
            non-finite input.
    """
    if isinstance(source, tuple):
        if len(source) != 2:
            raise AudioError("Expected audio as (sample_rate, samples).")
        rate, array = source
        samples, channels = _to_mono(_as_float(np.asarray(array)))
        rate = int(rate)
        if rate <= 0:
            raise AudioError("The audio has an invalid sample rate.")
        cropped_from = _check_length(len(samples) / rate, max_seconds, crop)
        if cropped_from is not None:
            samples = samples[: int(max_seconds * rate)]
    else:
        data = _read_bytes(source)
        samples, rate, channels, cropped_from = _decode(data, max_seconds, crop)
    return _finish(samples, rate, channels, sample_rate, cropped_from)


def load_clips(paths, **kw) -> tuple[dict[str, Audio], dict[str, str]]:
    """Several files through `load_audio(**kw)`: ({path: Audio} for those that load,
    {path: reason} for those that do not), so one bad file never loses the others."""
    loaded, failed = {}, {}
    for path in paths:
        try:
            loaded[str(path)] = load_audio(path, **kw)
        except AudioError as e:
            failed[str(path)] = str(e)
    return loaded, failed


def _read_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"No audio file found at {path.name!r}.")
    return path.read_bytes()


def _decode(data: bytes, max_seconds: float, crop: bool):
    if len(data) == 0:
        raise AudioError("The file is empty (0 bytes).")
    _check_riff(data)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate, channels, frames = f.samplerate, f.channels, f.frames
            if frames <= 0:
                raise AudioError("The file contains no audio samples.")
            cropped_from = _check_length(frames / rate, max_seconds, crop)
            wanted = frames if cropped_from is None else int(max_seconds * rate)
            array = f.read(wanted, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        text = str(e).lower()
        if "format not recognised" in text or "unknown format" in text:
            raise AudioError(f"This file is not audio we can read; please use {SUPPORTED}.") from e
        raise AudioError("The audio file is corrupt or truncated and cannot be decoded.") from e
    # A cut-off FLAC/OGG/MP3 decodes fewer frames than its header promised.
    if len(array) < 0.98 * wanted - 1:
        raise AudioError("The audio file is truncated: it ends before its header says it should.")
    samples, _ = _to_mono(array)
    return samples, rate, channels, cropped_from


def _check_riff(data: bytes) -> None:
    """libsndfile silently reads a cut-off WAV as a shorter one; catch that here."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"data":
            if pos + 8 + size > len(data) and size != 0xFFFFFFFF:  # 0xFFFFFFFF: streamed WAV
                raise AudioError("The WAV file is truncated: it ends before its header says it should.")
            return
        pos += 8 + size + (size & 1)
    raise AudioError("The WAV file is corrupt: it has no audio data chunk.")


def _as_float(array: np.ndarray) -> np.ndarray:
    if array.size == 0:
        raise AudioError("The recording contains no audio samples.")
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        scale = max(abs(info.min), info.max)
        if info.min == 0:  # unsigned PCM (8-bit WAV) is centred on mid-range
            return (array.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        return array.astype(np.float32) / scale
    if not np.issubdtype(array.dtype, np.floating):
        raise AudioError("The audio samples are not numbers.")
    return array.astype(np.float32)


def _to_mono(array: np.ndarray) -> tuple[np.ndarray, int]:
    """(N,), (N, C) or (C, N) with C <= 8 -> (N,) mean over channels."""
    if array.ndim == 1:
        return array, 1
    if array.ndim != 2:
        raise AudioError("Audio must be one- or two-dimensional (samples x channels).")
    if array.shape[0] <= 8 < array.shape[1]:
        array = array.T
    with np.errstate(invalid="ignore", over="ignore"):  # inf/NaN input is rejected just after
        return array.mean(axis=1, dtype=np.float32), array.shape[1]


def _check_length(seconds: float, max_seconds: float, crop: bool) -> float | None:
    """Returns the original length when the input will be cropped, else None."""
    if seconds > max_seconds:
        if crop:
            return seconds
        raise AudioError(f"The recording is {seconds:.1f} s long; the limit is {max_seconds:.0f} s. "
                         "Please trim it.")
    return None


def _finish(samples, rate, channels, sample_rate, cropped_from) -> Audio:
    if len(samples) == 0:
        raise AudioError("The recording contains no audio samples.")
    if not np.all(np.isfinite(samples)):
        raise AudioError("The audio contains invalid values (NaN or infinity).")
    seconds = len(samples) / rate
    if seconds < MIN_SECONDS:
        raise AudioError(f"The recording is {seconds:.2f} s long; at least {MIN_SECONDS} s of "
                         "speech is needed.")
    if np.max(np.abs(samples)) < SILENCE_PEAK:
        raise AudioError("The recording is silent; please check the microphone.")
    # Float files may exceed full scale (or hold absurd values, 1e38, that overflow a
    # resampler): clip first, as any playback would, and again after resampling's overshoot.
    samples = np.clip(samples, -1.0, 1.0)
    if rate != sample_rate:
        samples = resample(samples, rate, sample_rate)
    samples = np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)
    return Audio(samples, sample_rate, rate, channels, cropped_from)


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """High-quality (soxr) resampling."""
    import soxr  # a librosa dependency; imported here to keep `import emodiff` light

    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32)


def save_audio(path_or_file, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM WAV (the format every browser and player understands)."""
    sf.write(path_or_file, np.clip(samples, -1, 1), sample_rate, subtype="PCM_16", format="WAV")


# --------------------------------------------------------------------------------------
# The mel
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MelConfig:
    """The HiFi-GAN universal vocoder's mel (hifi-gan `meldataset.mel_spectrogram`)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    log_clamp: float = 1e-5  # log(max(mel, 1e-5)): floor of -11.51 nats = silence

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def silence(self) -> float:
        return math.log(self.log_clamp)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MelConfig":
        return cls(**d)

    def key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


@functools.lru_cache(maxsize=16)
def mel_filterbank(cfg: MelConfig, device: str = "cpu") -> torch.Tensor:
    """Slaney-normalised mel filters, (n_mels, n_fft // 2 + 1); cached per (config, device)."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                             fmin=cfg.fmin, fmax=cfg.fmax)
    return torch.from_numpy(fb).to(device)


@functools.lru_cache(maxsize=16)
def mel_band_centres(cfg: MelConfig) -> torch.Tensor:
    """(n_mels,) centre frequency of each band in Hz, on the filterbank's own (Slaney) scale."""
    import librosa

    return torch.from_numpy(librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]).float()


@functools.lru_cache(maxsize=16)
def hann_window(win_length: int, device: str) -> torch.Tensor:
    return torch.hann_window(win_length, device=device)


def mel_spectrogram(wave, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Log-magnitude mel of `wave` (..., N) -> (..., n_mels, N // hop_length).

    Reflect-pads (n_fft - hop) / 2 on both sides and frames without centring, exactly as
    HiFi-GAN's training code does, so frame i covers samples around i * hop + hop / 2 and
    the vocoder returns n_frames * hop samples.
    """
    wave = torch.as_tensor(wave, dtype=torch.float32)
    lead = wave.shape[:-1]
    wave = wave.reshape(-1, wave.shape[-1])  # (B, N)
    pad = (cfg.n_fft - cfg.hop_length) // 2
    if wave.shape[-1] <= pad:
        raise AudioError("The audio is too short to analyse.")
    wave = torch.nn.functional.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    device = str(wave.device)
    spec = torch.stft(wave, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                      window=hann_window(cfg.win_length, device), center=False, normalized=False,
                      onesided=True, return_complex=True)
    magnitude = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)  # (B, F, T)
    mel = torch.matmul(mel_filterbank(cfg, device), magnitude)  # (B, n_mels, T)
    mel = torch.log(torch.clamp(mel, min=cfg.log_clamp))
    return mel.reshape(*lead, cfg.n_mels, mel.shape[-1])


class MelNormalizer:
    """Per-band z-score. Fitted on training speakers only and saved beside every model
    that consumes mels, so a model never sees statistics from the speakers it is tested on."""

    def __init__(self, mean, std, mel_config: MelConfig = MelConfig()):
        self.mean = torch.as_tensor(mean, dtype=torch.float32)  # (n_mels,)
        self.std = torch.as_tensor(std, dtype=torch.float32)
        self.mel_config = mel_config

    @classmethod
    def fit(cls, mels, mel_config: MelConfig = MelConfig()) -> "MelNormalizer":
        """`mels`: iterable of (n_mels, T) arrays; statistics over all their frames."""
        total = np.zeros(mel_config.n_mels)
        total_sq = np.zeros(mel_config.n_mels)
        count = 0
        for mel in mels:
            m = np.asarray(mel, dtype=np.float64)
            total += m.sum(axis=1)
            total_sq += np.square(m).sum(axis=1)
            count += m.shape[1]
        if count == 0:
            raise ValueError("Cannot fit a normaliser on no frames.")
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 1e-8))
        return cls(mean, std, mel_config)

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        """(..., n_mels, T) log-mel -> zero mean, unit variance per band."""
        return (mel - self.mean[:, None].to(mel)) / self.std[:, None].to(mel)

    def denormalize(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * self.std[:, None].to(mel) + self.mean[:, None].to(mel)

    def to_dict(self) -> dict:
        return {"mel_config": self.mel_config.to_dict(), "mean": self.mean.tolist(),
                "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "MelNormalizer":
        return cls(d["mean"], d["std"], MelConfig.from_dict(d["mel_config"]))

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path) -> "MelNormalizer":
        return cls.from_dict(json.loads(Path(path).read_text()))
