"""Pool augmentation studies run on different folds into one comparison over all their test speakers.

    python train/augment_pool.py --studies results/augment_60epochs_5seeds results/augment_60epochs_fold1 \
        --out results/augment_pooled

Each study (train/augment_study.py, its own fold and generator) keeps every test clip's
correctness per seed; pooled, a condition's UA is taken over the union of the folds' test clips,
per seed (the seeds all studies ran), and the paired bootstrap resamples those clips. More
speakers than one fold: a gain that holds on speakers not used to choose the setting is the
evidence that counts. Studies of the same fold are merged first (they must share test clips
and epochs): a condition run later into its own folder joins the others; seeds run later
(`augment_study.py --report-dir`) join the seeds of the conditions both ran. Writes OUT/study.json (pooled
and per fold), OUT/study.png, OUT/forest.png (when the studies share real + SpecAugment: each
condition's gain over it with its 95 % CI, per fold and pooled, beside the goal's +3 points)
and prints the study table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augment_study import BASELINE, plot, summarize, table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emodiff.training import save_json  # noqa: E402


GOAL = 0.03  # the target: +3 UA points over real + SpecAugment on each corpus


def merge_folds(studies: list[dict]) -> list[dict]:
    """One study per fold. Studies of a fold with the same seeds unite their conditions (the
    first study's entry wins where two have the same condition, as for the same runs gathered
    twice); studies of a fold with other seeds (more seeds run later, augment_study.py
    --report-dir) add their seeds to the conditions all of them ran."""
    merged: dict[int, dict[tuple, dict]] = {}
    for s in studies:
        group = merged.setdefault(s["fold"], {})
        first = next(iter(group.values()), s)
        if (first["per_clip"]["clips"], first["epochs"]) != (s["per_clip"]["clips"], s["epochs"]):
            raise SystemExit(f"Two studies of fold {s['fold']} differ in test clips or epochs.")
        m = group.setdefault(tuple(s["seeds"]),
                             {**s, "per_clip": {**s["per_clip"], "correct": dict(s["per_clip"]["correct"])}})
        for cond, runs in s["per_clip"]["correct"].items():
            m["per_clip"]["correct"].setdefault(cond, runs)
    folds = []
    for fold, group in merged.items():
        parts = list(group.values())
        seeds = [seed for part in parts for seed in part["seeds"]]
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"Studies of fold {fold} share some seeds but not all: which runs count is unclear.")
        conds = [c for c in parts[0]["per_clip"]["correct"] if all(c in part["per_clip"]["correct"] for part in parts)]
        folds.append({**parts[0], "seeds": seeds, "per_clip": {**parts[0]["per_clip"], "correct": {
            c: [run for part in parts for run in part["per_clip"]["correct"][c]] for c in conds}}})
    return folds


def pool(studies: list[dict], seeds: list[int] | None = None) -> tuple[dict, np.ndarray, np.ndarray, list[int]]:
    """-> (condition -> per-seed correct flags over all studies' clips, labels, corpora, seeds)
    for the conditions and seeds (`seeds`, or all those) every study has."""
    speakers = [set(s["test_speakers"]) for s in studies]
    if sum(map(len, speakers)) != len(set().union(*speakers)):
        raise SystemExit("The studies share test speakers: pool studies of different folds.")
    seeds = seeds or sorted(set.intersection(*(set(s["seeds"]) for s in studies)))
    conds = [c for c in studies[0]["per_clip"]["correct"] if all(c in s["per_clip"]["correct"] for s in studies)]
    if not seeds or not conds:
        raise SystemExit("The studies have no seed or no condition in common.")
    correct = {c: [np.concatenate([np.array(s["per_clip"]["correct"][c][s["seeds"].index(seed)], bool)
                                   for s in studies]) for seed in seeds] for c in conds}
    y = np.concatenate([s["per_clip"]["labels"] for s in studies])
    corpora = np.concatenate([s["per_clip"]["corpora"] for s in studies])
    return correct, y, corpora, seeds


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=Path, nargs="+", required=True, help="augment_study.py output folders")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    studies = [json.loads((folder / "study.json").read_text()) for folder in args.studies]
    missing = [str(f) for f, s in zip(args.studies, studies) if "per_clip" not in s]
    if missing:
        raise SystemExit(f"No per-clip results in {missing}: gather them again with augment_study.py.")
    studies = merge_folds(studies)
    correct, y, corpora, seeds = pool(studies)
    summary = summarize(correct, y, corpora)
    per_fold = {s["fold"]: summarize(*pool([s], seeds)[:3]) for s in studies}  # same seeds as the pool
    report = {"studies": [str(f) for f in args.studies], "folds": [s["fold"] for s in studies], "seeds": seeds,
              "test_speakers": sorted(sp for s in studies for sp in s["test_speakers"]),
              "n_clips": {c: int(np.sum(corpora == c)) for c in ("emodb", "ravdess")}, "summary": summary,
              "per_fold": per_fold}
    args.out.mkdir(parents=True, exist_ok=True)
    save_json(report, args.out / "study.json")
    plot(summary, args.out / "study.png")
    if BASELINE in summary:
        forest(per_fold, summary, args.out / "forest.png")
    print(f"folds {report['folds']}, seeds {seeds}, {len(y)} test clips of {len(report['test_speakers'])} speakers")
    print(table(summary))
    return report


def forest(per_fold: dict, pooled: dict, path: Path) -> None:
    """Each condition's UA gain over real + SpecAugment with its 95 % CI, one row per fold and
    one pooled (one row when a single fold's seeds were pooled), a panel per corpus: whether a
    gain holds fold by fold, and where the goal lies."""
    import matplotlib.pyplot as plt

    from emodiff.plotting import save_figure

    rows = [(f"fold {f}", s) for f, s in per_fold.items()]
    rows = rows + [("pooled", pooled)] if len(rows) > 1 else rows
    conds = [c for c in pooled if c != BASELINE]
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
        ax.axvline(GOAL * 100, color="tab:green", ls="--", lw=0.8, label="goal (+3)")
        ax.set_title(title)
        ax.set_xlabel(f"Δ UA vs {BASELINE}, points (95 % CI)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), [name for name, _ in rows])
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(conds) + 1, fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
