"""Fuzz the loader: thousands of random and mutated byte strings; nothing but AudioError
may escape, and whatever loads is valid audio."""
import numpy as np
import pytest

from emodiff.audio import AudioError, load_audio

from .conftest import SR, encode, tone

SEEDS = {f"{fmt}-{sub}": encode(tone(0.5, 16000), 16000, fmt, sub) for fmt, sub in
         [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")]}


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:  # flip random bytes (headers included)
        for i in rng.integers(0, len(b), rng.integers(1, 20)):
            b[i] = rng.integers(256)
    elif kind == 1:  # truncate anywhere
        b = b[: rng.integers(0, len(b))]
    elif kind == 2:  # overwrite the header region
        n = int(rng.integers(1, 64))
        b[:n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif kind == 3:  # splice two files
        other = SEEDS[list(SEEDS)[rng.integers(len(SEEDS))]]
        cut = int(rng.integers(0, min(len(b), len(other))))
        b = b[:cut] + other[cut:]
    else:  # insert junk
        pos = int(rng.integers(0, len(b)))
        b[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 500)), dtype=np.uint8).tobytes()
    return bytes(b)


def check(data: bytes) -> None:
    try:
        audio = load_audio(data, sample_rate=SR)
    except AudioError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all()
    assert np.abs(audio.samples).max() <= 1.0 and audio.seconds >= 0.25


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_mutated_files(fmt):
    rng = np.random.default_rng(list(SEEDS).index(fmt))
    for _ in range(600):
        check(mutate(SEEDS[fmt], rng))


def test_random_bytes():
    rng = np.random.default_rng(99)
    for _ in range(600):
        n = int(rng.choice([0, 1, 4, 12, 44, 100, 1000, 5000]))
        prefix = [b"", b"RIFF", b"fLaC", b"OggS", b"ID3", b"RIFF\x00\x00\x00\x00WAVEfmt "][rng.integers(6)]
        check(prefix + rng.integers(0, 256, n, dtype=np.uint8).tobytes())
