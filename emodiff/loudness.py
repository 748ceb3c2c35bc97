"""Loudness as people hear it (ITU-R BS.1770 integrated loudness, LUFS, via pyloudnorm), and
setting a clip to a level: generated and enhanced audio must neither whisper nor shout, and
clips compared side by side must differ in what they say, not in how loud they are.
"""
from __future__ import annotations

import numpy as np

TARGET_LUFS = -23.0  # EBU R 128's programme level: the standard level of what is generated
PEAK = 0.99  # never scale a clip past this sample peak (it would clip)
MIN_SECONDS = 0.4  # BS.1770's gating block; shorter clips are measured by RMS


def loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness of mono `samples` in LUFS; -inf for silence. Clips shorter than
    one gating block fall back to RMS in dBFS, the unweighted cousin of the same measure."""
    import pyloudnorm

    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) >= MIN_SECONDS * rate:
        value = float(pyloudnorm.Meter(rate).integrated_loudness(samples))
        if np.isfinite(value):
            return value
    rms = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
    return 20 * np.log10(rms) - 0.691 if rms > 0 else float("-inf")


def set_loudness(samples: np.ndarray, rate: int, target: float = TARGET_LUFS) -> tuple[np.ndarray, float, float]:
    """`samples` scaled to `target` LUFS, as far as the peak allows (PEAK): returns (scaled
    float32 samples, the loudness it had, the loudness reached). Silence is returned as it is."""
    samples = np.asarray(samples, dtype=np.float32)
    current = loudness(samples, rate)
    if not np.isfinite(current):
        return samples, current, current
    gain = 10 ** ((target - current) / 20)
    peak = float(np.max(np.abs(samples)))
    gain = min(gain, PEAK / peak) if peak > 0 else gain
    return (samples * gain).astype(np.float32), current, current + 20 * np.log10(gain)
