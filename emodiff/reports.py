"""Tables and figures of results: the markdown tables the scripts print and the plots they
save beside their JSON. Mels have their own figures in `plotting.py`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .plotting import plot_mel_grid, plt, save_figure


def cv_table(summary: dict) -> str:
    """Cross-validation summary (`stats.summarize_runs`) as markdown: UA with its t interval
    over the folds (where there are several), the spread over runs beside it."""
    lines = ["| protocol | corpus | UA [95 % t interval over folds] | UA std over runs | WA (mean ± std) | runs |",
             "|---|---|---|---|---|---|"]
    for key, s in summary.items():
        protocol, corpus = key.split("/")
        label = {"speaker": "speaker-independent 5-fold",
                 "speaker-single-clip": "speaker-independent 5-fold, one clip at a time",
                 "random": "random 8:2 (speakers mixed)"}.get(protocol, protocol)
        ci = s.get("ua_ci95_t")
        interval = f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else ""
        lines.append(f"| {label} | {corpus} | {s['ua_mean']:.1%}{interval} | {s['ua_std']:.1%} | "
                     f"{s['wa_mean']:.1%} ± {s['wa_std']:.1%} | {s['n_runs']} |")
    return "\n".join(lines)


def paired_lines(diffs: dict, against: str) -> str:
    """`stats.paired_runs` as one line per corpus: the mean difference, how many runs it helped,
    the per-fold differences and the Wilcoxon p over folds."""
    return "\n".join(
        f"vs {against}, {corpus}: UA {d['mean']:+.1%} over {d['n']} paired runs (better in {d['better']}, worse in "
        f"{d['worse']}); folds {' '.join(f'{x:+.1%}' for x in d['fold_diffs'])}, Wilcoxon p = {d['wilcoxon_p']:.3f}"
        for corpus, d in diffs.items())


def study_table(summary: dict) -> str:
    """Augmentation study summary (`augment_study.summarize`) as markdown."""
    lines = ["| condition | EmoDB UA | RAVDESS UA | all UA | all WA | Δ UA vs real+SpecAugment (95% CI), "
             "EmoDB / RAVDESS / all | Δ UA vs the same without its last addition (generated data, mixup, VTLP, "
             "fading, style mixing, new voices, DDPM, enhancing), EmoDB / RAVDESS / all |",
             "|---|---|---|---|---|---|---|"]

    def pct(s, corpus):
        return f"{s[corpus]['ua_mean']:.1%} ± {s[corpus]['ua_std']:.1%}"

    def deltas(s, key, ci):
        if key not in s["all"]:
            return "–"
        return " / ".join(f"{s[c][key]:+.1%} [{ci(s[c])[0]:+.1%}, {ci(s[c])[1]:+.1%}]"
                          for c in ("emodb", "ravdess", "all"))

    for cond, s in summary.items():
        a = s["all"]
        vs_specaug = deltas(s, "ua_diff_vs_specaug", lambda e: (e["ci_low"], e["ci_high"]))
        vs_own = deltas(s, "ua_diff_vs_own", lambda e: e["own_ci"])
        vs_own += f" (vs {a['own_reference']})" if "own_reference" in a else ""
        lines.append(f"| {cond} | {pct(s, 'emodb')} | {pct(s, 'ravdess')} | {pct(s, 'all')} | "
                     f"{a['wa_mean']:.1%} ± {a['wa_std']:.1%} | {vs_specaug} | {vs_own} |")
    return "\n".join(lines)


def plot_study(summary: dict, path: Path) -> None:
    """UA per condition and corpus, mean ± std over seeds."""
    conds = list(summary)
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    width = 0.38
    for k, corpus in enumerate(("emodb", "ravdess")):
        means = [summary[c][corpus]["ua_mean"] for c in conds]
        stds = [summary[c][corpus]["ua_std"] for c in conds]
        ax.bar(np.arange(len(conds)) + (k - 0.5) * width, means, width, yerr=stds, capsize=3, label=corpus)
    ax.set_xticks(range(len(conds)), conds, rotation=20, ha="right")
    ax.set_ylabel("UA, unseen speakers\n(mean ± std over seeds)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def plot_forest(per_fold: dict, pooled: dict, path: Path, baseline: str, goal: float) -> None:
    """Each condition's UA gain over `baseline` with its 95 % CI, one row per fold and one
    pooled (one row when a single fold's seeds were pooled), a panel per corpus: whether a
    gain holds fold by fold, and where the `goal` lies."""
    rows = [(f"fold {f}", s) for f, s in per_fold.items()]
    rows = rows + [("pooled", pooled)] if len(rows) > 1 else rows
    conds = [c for c in pooled if c != baseline]
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.5 * len(rows) * len(conds) + 1.4), sharey=True,
                             constrained_layout=True)
    for ax, (corpus, title) in zip(axes, (("emodb", "EmoDB"), ("ravdess", "RAVDESS"))):
        for k, cond in enumerate(conds):
            ypos = np.arange(len(rows)) + (k - (len(conds) - 1) / 2) * 0.8 / len(conds)
            e = [s[cond][corpus] for _, s in rows]
            d = np.array([x["ua_diff_vs_specaug"] for x in e]) * 100
            err = np.abs(np.array([[x["ci_low"], x["ci_high"]] for x in e]).T * 100 - d)
            ax.errorbar(d, ypos, xerr=err, fmt="o", capsize=3, label=cond)
        ax.axvline(0, color="k", lw=0.8)
        ax.axvline(goal * 100, color="tab:green", ls="--", lw=0.8, label=f"goal (+{goal * 100:g})")
        ax.set_title(title)
        ax.set_xlabel(f"Δ UA vs {baseline}, points (95 % CI)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), [name for name, _ in rows])
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(conds) + 1, fontsize=8)
    save_figure(fig, path)


def plot_generation_grid(fake, n: int, real_mels, real_emotions, emotions, mel_config, path: Path) -> None:
    """Real unseen-speaker mels (top) and generated ones (bottom), one column per emotion;
    `fake` holds n mels per emotion, in `emotions` order."""
    real = [next(m for m, e in zip(real_mels, real_emotions) if e == target)[:, :fake.shape[-1]]
            for target in emotions]
    save_figure(plot_mel_grid([real, [fake[k * n] for k in range(len(emotions))]],
                              ["real (unseen speaker)", "generated"], list(emotions), mel_config), path, dpi=100)


def plot_enhancement(enh: dict, path: Path) -> None:
    """The judge's probability of the target before and after enhancement, and the mel L1 to
    the source, against strength."""
    s = [float(k) for k in enh]
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    ax.plot(s, [enh[k]["p_target_after"] for k in enh], "o-", label="P(target) after")
    ax.plot(s, [enh[k]["p_target_before"] for k in enh], "--", label="P(target) before")
    ax2 = ax.twinx()
    ax2.plot(s, [enh[k]["mel_l1"] for k in enh], "s-", color="gray", label="mel L1 to source")
    ax.set_xlabel("strength")
    ax.set_ylabel("judge probability of target")
    ax2.set_ylabel("mel L1 (nats)")
    fig.legend(loc="upper left")
    save_figure(fig, path)
