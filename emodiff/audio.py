"""Audio in and out: decode, validate, resample, save. Nothing here knows about mels (`mel.py`).

`load_audio` turns whatever a user hands us (a path, raw bytes, Gradio's `(rate, array)`
tuple) into mono float32 at the rate a model asks for (its `MelConfig.sample_rate`), or raises
`AudioError` with a sentence a person can act on.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf

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


def load_audio(source: AudioSource, *, sample_rate: int, max_seconds: float = MAX_SECONDS,
               crop: bool = False) -> Audio:
    """Decode, downmix and resample `source`; validate it for speech-emotion use.

    Args:
        source: a file path, the file's bytes, or a `(rate, array)` tuple as Gradio gives
            (array `(N,)` or `(N, channels)`, integer PCM or float).
        sample_rate: output rate in Hz: the consuming model's `mel_config.sample_rate`.
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


def save_audio(path_or_file, samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV (the format every browser and player understands)."""
    sf.write(path_or_file, np.clip(samples, -1, 1), sample_rate, subtype="PCM_16", format="WAV")


# --------------------------------------------------------------------------------------
# Long recordings: read a block at a time, so memory stays bounded whatever the length.
# --------------------------------------------------------------------------------------

def audio_info(path) -> tuple[int, int]:
    """(sample rate, frames) of an audio file, or `AudioError` with a sentence for the user."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"No audio file found at {path.name!r}.")
    if path.stat().st_size == 0:
        raise AudioError("The file is empty (0 bytes).")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"This file is not audio we can read; please use {SUPPORTED}.") from e
    if info.frames <= 0:
        raise AudioError("The file contains no audio samples.")
    return info.samplerate, info.frames


def stream_audio(path, sample_rate: int, block_seconds: float = 30.0):
    """Mono float32 blocks of `path` at `sample_rate`, in order (the last one flushes the
    resampler): a long recording is never held whole in memory."""
    import soxr

    rate, _ = audio_info(path)
    stream = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(blocksize=int(block_seconds * rate), dtype="float32", always_2d=True):
                mono = np.nan_to_num(np.clip(_to_mono(block)[0], -1, 1))
                yield mono if stream is None else stream.resample_chunk(mono)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError("The audio file is corrupt or truncated and cannot be decoded.") from e
    if stream is not None:
        yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def read_span(path, start: float, end: float, sample_rate: int) -> np.ndarray:
    """Mono float32 samples of `path` from `start` to `end` seconds, at `sample_rate`."""
    rate, frames = audio_info(path)
    first, last = max(0, int(start * rate)), min(frames, int(end * rate))
    with sf.SoundFile(str(path)) as f:
        f.seek(first)
        block = f.read(max(last - first, 0), dtype="float32", always_2d=True)
    samples = np.nan_to_num(np.clip(_to_mono(block)[0], -1, 1)) if len(block) else np.zeros(0, np.float32)
    return samples if rate == sample_rate or not len(samples) else resample(samples, rate, sample_rate)
