"""Figures people read: mels with seconds and Hz on the axes (app, CLI, training reports)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: the app and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .mel import MelConfig, mel_band_centres  # noqa: E402


def save_figure(fig, path, dpi: int = 110) -> None:
    """Write and close: scripts that run in-process many times (the augmentation study trains
    dozens of classifiers) would otherwise keep every figure alive."""
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_mels(mels, titles, cfg: MelConfig, vmin=None, vmax=None):
    """Side-by-side log-mels (each (n_mels, T), made with `cfg`) on one colour scale; returns
    the Figure."""
    mels = [np.asarray(m) for m in mels]
    vmin = min(m.min() for m in mels) if vmin is None else vmin
    vmax = max(m.max() for m in mels) if vmax is None else vmax
    fig, axes = plt.subplots(1, len(mels), figsize=(5.5 * len(mels), 3.2), squeeze=False,
                             constrained_layout=True)
    freqs = mel_band_centres(cfg).numpy()
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


def plot_mel(mel, cfg: MelConfig, title: str = "log-mel spectrogram"):
    return plot_mels([mel], [title], cfg)


def plot_confusion(cm, labels, title: str = "confusion matrix (rows: true)"):
    """Row-normalised confusion matrix with counts; returns the Figure."""
    cm = np.asarray(cm, dtype=float)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(labels), 0.8 + 0.7 * len(labels)),
                           constrained_layout=True)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{rates[i, j]:.0%}\n{int(cm[i, j])}", ha="center", va="center",
                    fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig


def plot_curves(history: list[dict], keys, title: str = "training"):
    """Lines of `history[i][key]` against `history[i]['epoch']`; returns the Figure."""
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    for key in keys:
        points = [(h["epoch"], h[key]) for h in history if key in h]
        if points:
            ax.plot(*zip(*points), marker=".", label=key)
    ax.set_xlabel("epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def running_mean(values, window: int = 50) -> np.ndarray:
    """`window`-step means of a per-step series; the raw series while it is shorter."""
    values = np.asarray(values, dtype=float)
    return np.convolve(values, np.ones(window) / window, mode="valid") if len(values) >= window else values


def plot_losses(series: dict, ylabel: str, window: int = 50):
    """Per-step training losses as running means, one line per entry of `series`; returns the Figure."""
    fig, ax = plt.subplots(figsize=(6, 3.2), constrained_layout=True)
    for name, losses in series.items():
        ax.plot(running_mean(losses, window), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend()
    return fig


def plot_mel_grid(rows, row_titles, col_titles, cfg: MelConfig, title: str = ""):
    """rows[i][j]: (n_mels, T) raw log-mel; one shared colour scale. Returns the Figure."""
    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 1.9 * n_rows), squeeze=False,
                             constrained_layout=True)
    vmin, vmax = cfg.silence, max(float(np.max(m)) for row in rows for m in row)
    for i, row in enumerate(rows):
        for j, mel in enumerate(row):
            ax = axes[i][j]
            seconds = mel.shape[1] / cfg.frames_per_second
            ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                      extent=(0, seconds, 0, cfg.n_mels))
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_titles[j])
            if j == 0:
                ax.set_ylabel(row_titles[i])
            if i == n_rows - 1:
                ax.set_xlabel("s")
    if title:
        fig.suptitle(title)
    return fig
