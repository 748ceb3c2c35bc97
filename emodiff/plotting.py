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


def plot_reliability(series: dict[str, dict], title: str = "reliability"):
    """Reliability diagrams, one panel per corpus: accuracy against mean confidence in each
    confidence bin (a dot's area: its clips), for each series {label: reports by corpus}
    (`evaluation.reports`); on the diagonal a model is as often right as it says. Returns the Figure."""
    corpora = [c for c in ("emodb", "ravdess", "all") if c in next(iter(series.values()))]
    fig, axes = plt.subplots(1, len(corpora), figsize=(3.4 * len(corpora), 3.4), constrained_layout=True,
                             squeeze=False)
    for ax, corpus in zip(axes[0], corpora):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        for label, by_corpus in series.items():
            bins = [b for b in by_corpus[corpus]["reliability"]["bins"] if b["n"]]
            line, = ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker=None,
                            label=f"{label}: ECE {by_corpus[corpus]['ece']:.1%}")
            ax.scatter([b["confidence"] for b in bins], [b["accuracy"] for b in bins], color=line.get_color(),
                       s=[8 + 200 * b["n"] / by_corpus[corpus]["n"] for b in bins], zorder=3)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top class)", title=corpus)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(title, fontsize=10)
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


def plot_mel_grid(rows, row_titles, col_titles, cfg: MelConfig, title: str = "", panel=(2.4, 1.9)):
    """rows[i][j]: (n_mels, T) raw log-mel; one shared colour scale; `panel`: inches per mel.
    Returns the Figure."""
    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel[0] * n_cols, panel[1] * n_rows), squeeze=False,
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


EMOTION_COLOURS = {"neutral": "#9e9e9e", "happy": "#f2b705", "sad": "#3b6fb6", "angry": "#d7301f",
                   "fear": "#7b3294", "disgust": "#4d9221"}


def plot_timeline(result, title: str = "", truth: list | None = None):
    """A long recording's emotion over time (`timeline.Timeline`): the waveform's envelope
    above; below, the windows' confidences as stacked areas and each segment's emotion as a
    coloured band, with the known layout's (`truth`: dicts of start, end, emotion) as a second
    band under the axis when given. Returns the Figure."""
    from .timeline import VAD_CHUNK, VAD_RATE

    fig, (wave_ax, ax) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True, constrained_layout=True,
                                      gridspec_kw={"height_ratios": [1, 2.2]})
    env = np.asarray(result.envelope)
    t = np.arange(len(env)) * VAD_CHUNK / VAD_RATE
    wave_ax.fill_between(t, -env, env, color="0.35", lw=0)
    wave_ax.set_yticks([])
    wave_ax.set_title(title or f"{result.seconds:.0f} s, {len(result.segments)} segments")
    if result.windows:  # each window's confidences stacked over its share of the speech, pauses left blank
        emotions = list(result.windows[0][2])
        edges = _window_edges(result.windows)
        bottom = np.zeros(len(edges))
        for e in emotions:
            heights = np.array([w[2][e] for w in result.windows])
            ax.bar([a for a, _ in edges], heights, width=[b - a for a, b in edges], bottom=bottom, align="edge",
                   color=EMOTION_COLOURS.get(e, "0.5"), alpha=0.8, label=e, linewidth=0)
            bottom += heights
    for s in result.segments:
        ax.axvspan(s.start, s.end, ymin=1.02, ymax=1.1, color=EMOTION_COLOURS.get(s.emotion, "0.5"), clip_on=False)
    for c in truth or []:
        ax.axvspan(c["start"], c["end"], ymin=-0.12, ymax=-0.04, color=EMOTION_COLOURS.get(c["emotion"], "0.5"),
                   clip_on=False)
    if truth:
        ax.text(-0.01, -0.08, "truth", ha="right", va="center", transform=ax.transAxes, fontsize=8)
        ax.text(-0.01, 1.06, "found", ha="right", va="center", transform=ax.transAxes, fontsize=8)
    ax.set_xlim(0, result.seconds)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("confidence")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig


def _window_edges(windows) -> list[tuple[float, float]]:
    """Where each window's bar goes: overlapping windows of one stretch of speech share it at the
    midpoints of their centres; a window alone spans itself."""
    edges = []
    for i, (start, end, _) in enumerate(windows):
        centre = (start + end) / 2
        before = windows[i - 1] if i and windows[i - 1][1] > start else None
        after = windows[i + 1] if i + 1 < len(windows) and windows[i + 1][0] < end else None
        left = (centre + (before[0] + before[1]) / 2) / 2 if before else start
        right = (centre + (after[0] + after[1]) / 2) / 2 if after else end
        edges.append((left, right))
    return edges


def plot_study(summary: dict):
    """A listening test's results with their 95 % intervals: per source, recognition and MOS
    (label); per comparison, how often the first was chosen (A/B); per condition, the MUSHRA
    score. Returns the Figure."""
    over = "95 % CI over annotators"
    panels = {"label": [("sources", "accuracy", "recognised (share; Wilson 95 % CI)", (0, 1)),
                        ("sources", "mos", f"MOS (1-5; {over})", (1, 5))],
              "ab": [("comparisons", "preferred", f"first chosen (share; {over})", (0, 1))],
              "mushra": [("conditions", "score", f"score (0-100; {over})", (0, 100))]}[summary["design"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False, constrained_layout=True)
    for ax, (group, key, label, limits) in zip(axes[0], panels):
        names = list(summary.get(group, {}))
        values = [summary[group][n][key] for n in names]
        ci = np.array([summary[group][n][f"{key}_ci95"] for n in names], float).reshape(-1, 2)
        ax.bar(range(len(names)), values, color="#4c72b0")
        ax.errorbar(range(len(names)), values, yerr=np.abs(ci.T - values), fmt="none", color="black", capsize=4)
        ax.set_xticks(range(len(names)), [f"{n}\n(n={summary[group][n]['n']})" for n in names], fontsize=8)
        ax.set_ylim(*limits)
        ax.set_ylabel(label)
        if summary["design"] == "ab":
            ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    excluded = len(summary["excluded"])
    fig.suptitle(f"{summary['design']} study: {summary['answers']} answers, {len(summary['annotators'])} annotators"
                 f"{f' ({excluded} excluded)' if excluded else ''}", fontsize=9)
    return fig
