import io

import numpy as np
import pytest
import soundfile as sf

from emodiff.data import DEFAULT_DATA_ROOT

DATA = DEFAULT_DATA_ROOT
EMODB_CLIP = DATA / "emodb" / "wav" / "03a01Fa.flac"  # speaker 03, happy
RAVDESS_CLIP = DATA / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"  # actor 01, angry, strong
SAMPLES = DATA / "samples"


@pytest.fixture(scope="session")
def data_root():
    if not DATA.is_dir():
        pytest.skip(f"corpora not found at {DATA}")
    return DATA


def tone(seconds=1.0, rate=22050, freq=220.0, amp=0.5, channels=1):
    """A harmonic tone with a little noise: speech-like enough for the front end."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6)) / 2
    x = (x + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def encode(samples, rate, fmt="WAV", subtype=None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def bad_and_odd_inputs() -> dict:
    """name -> (file bytes, suffix, phrase the user must see, or None when the clip is valid)."""
    truncated_flac = encode(tone(2.0, 16000), 16000, "FLAC")
    clipped = np.clip(tone(1.0) * 10, -1, 1)
    return {
        "empty": (b"", ".wav", "empty"),
        "one byte": (b"R", ".wav", "not audio"),
        "text renamed .wav": (b"just some notes\n" * 50, ".wav", "not audio"),
        "png": (b"\x89PNG\r\n\x1a\n" + bytes(500), ".png", "not audio"),
        "truncated wav": (encode(tone(1.0), 22050, "WAV", "PCM_16")[:6000], ".wav", "truncated"),
        "truncated flac": (truncated_flac[: len(truncated_flac) // 2], ".flac", "truncated"),
        "0.05 s": (encode(tone(0.05), 22050, "WAV", "PCM_16"), ".wav", "at least 0.25 s"),
        "all zeros": (encode(np.zeros(22050, np.float32), 22050, "WAV", "PCM_16"), ".wav", "silent"),
        "nan samples": (encode(np.full(22050, np.nan, np.float32), 22050, "WAV", "FLOAT"), ".wav", "NaN"),
        "10 minutes": (encode(tone(600.0, 8000), 8000, "WAV", "PCM_16"), ".wav", None),  # cropped to 30 s
        "8 kHz": (encode(tone(1.0, 8000), 8000, "WAV", "PCM_16"), ".wav", None),
        "44.1 kHz": (encode(tone(1.0, 44100), 44100, "WAV", "PCM_16"), ".wav", None),
        "48 kHz stereo": (encode(tone(1.0, 48000, channels=2), 48000, "WAV", "PCM_16"), ".wav", None),
        "24-bit": (encode(tone(1.0), 22050, "WAV", "PCM_24"), ".wav", None),
        "float32": (encode(tone(1.0), 22050, "WAV", "FLOAT"), ".wav", None),
        "mp3": (encode(tone(1.0, 44100), 44100, "MP3", "MPEG_LAYER_III"), ".mp3", None),
        "ogg": (encode(tone(1.0, 44100), 44100, "OGG", "VORBIS"), ".ogg", None),
        "full-scale clipping": (encode(clipped, 22050, "WAV", "PCM_16"), ".wav", None),
    }
