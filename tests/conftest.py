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
