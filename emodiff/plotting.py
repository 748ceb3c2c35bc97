"""Figures people read: mels with seconds and Hz on the axes (app, CLI, training reports)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: the app and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .audio import MelConfig  # noqa: E402


def mel_band_edges_hz(cfg: MelConfig) -> np.ndarray:
    import librosa

    return librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]


def plot_mels(mels, titles, cfg: MelConfig = MelConfig(), vmin=None, vmax=None):
    """Side-by-side log-mels (each (n_mels, T)) on one colour scale; returns the Figure."""
    mels = [np.asarray(m) for m in mels]
    vmin = min(m.min() for m in mels) if vmin is None else vmin
    vmax = max(m.max() for m in mels) if vmax is None else vmax
    fig, axes = plt.subplots(1, len(mels), figsize=(5.5 * len(mels), 3.2), squeeze=False,
                             constrained_layout=True)
    freqs = mel_band_edges_hz(cfg)
    ticks = [i for i in range(0, cfg.n_mels, 16)]
    for ax, mel, title in zip(axes[0], mels, titles):
        seconds = mel.shape[1] / cfg.frames_per_second
        image = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                          extent=(0, seconds, -0.5, cfg.n_mels - 0.5), interpolation="nearest")
        ax.set_yticks(ticks, [f"{freqs[i]:.0f}" for i in ticks])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz, mel scale)")
        ax.set_title(title)
    fig.colorbar(image, ax=axes[0].tolist(), label="log magnitude (nats)")
    return fig


def plot_mel(mel, title: str = "log-mel spectrogram", cfg: MelConfig = MelConfig()):
    return plot_mels([mel], [title], cfg)
