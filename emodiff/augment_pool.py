"""Pooling augmentation studies of different folds into one comparison over all their test
speakers: a gain that holds on speakers not used to choose the setting is the evidence that counts.

Each study (`augment_study.run_study`, its own fold and generator) keeps every test clip's
correctness per seed; pooled, a condition's UA is taken over the union of the folds' test
clips, per seed (the seeds all studies ran), and the paired bootstrap resamples their speakers.
Studies of the same fold are merged first (they must share test clips and epochs): a
condition run later into its own folder joins the others; seeds run later join the seeds of
the conditions both ran.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .augment_study import BASELINE, GOAL, summarize
from .reports import plot_forest, plot_study
from .training import save_json


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
            raise ValueError(f"Two studies of fold {s['fold']} differ in test clips or epochs.")
        m = group.setdefault(tuple(s["seeds"]),
                             {**s, "per_clip": {**s["per_clip"], "correct": dict(s["per_clip"]["correct"])}})
        for cond, runs in s["per_clip"]["correct"].items():
            m["per_clip"]["correct"].setdefault(cond, runs)
    folds = []
    for fold, group in merged.items():
        parts = list(group.values())
        seeds = [seed for part in parts for seed in part["seeds"]]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"Studies of fold {fold} share some seeds but not all: which runs count is unclear.")
        conds = [c for c in parts[0]["per_clip"]["correct"] if all(c in part["per_clip"]["correct"] for part in parts)]
        folds.append({**parts[0], "seeds": seeds, "per_clip": {**parts[0]["per_clip"], "correct": {
            c: [run for part in parts for run in part["per_clip"]["correct"][c]] for c in conds}}})
    return folds


def pool(studies: list[dict], seeds: list[int] | None = None) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray,
                                                                    list[int]]:
    """-> (condition -> per-seed correct flags over all studies' clips, labels, corpora,
    speakers, seeds) for the conditions and seeds (`seeds`, or all those) every study has."""
    speakers = [set(s["test_speakers"]) for s in studies]
    if sum(map(len, speakers)) != len(set().union(*speakers)):
        raise ValueError("The studies share test speakers: pool studies of different folds.")
    seeds = seeds or sorted(set.intersection(*(set(s["seeds"]) for s in studies)))
    conds = [c for c in studies[0]["per_clip"]["correct"] if all(c in s["per_clip"]["correct"] for s in studies)]
    if not seeds or not conds:
        raise ValueError("The studies have no seed or no condition in common.")
    correct = {c: [np.concatenate([np.array(s["per_clip"]["correct"][c][s["seeds"].index(seed)], bool)
                                   for s in studies]) for seed in seeds] for c in conds}
    y = np.concatenate([s["per_clip"]["labels"] for s in studies])
    corpora = np.concatenate([s["per_clip"]["corpora"] for s in studies])
    speakers = np.concatenate([s["per_clip"]["speakers"] for s in studies])
    return correct, y, corpora, speakers, seeds


def pool_report(studies: list[dict], names: list[str]) -> dict:
    """The pooled study (`names`: where each study came from): per condition and corpus over
    all folds' test clips, and per fold on the same seeds."""
    missing = [n for n, s in zip(names, studies) if "speakers" not in s.get("per_clip", {})]
    if missing:
        raise ValueError(f"No per-clip results in {missing}: gather them again with the study.")
    studies = merge_folds(studies)
    correct, y, corpora, speakers, seeds = pool(studies)
    return {"studies": names, "folds": [s["fold"] for s in studies], "seeds": seeds,
            "test_speakers": sorted(sp for s in studies for sp in s["test_speakers"]),
            "n_clips": {c: int(np.sum(corpora == c)) for c in ("emodb", "ravdess")},
            "summary": summarize(correct, y, corpora, speakers), "ci_resamples": "speakers",
            "per_fold": {s["fold"]: summarize(*pool([s], seeds)[:4]) for s in studies}}  # same seeds as the pool


def save_pool(report: dict, out: Path) -> None:
    """OUT/study.json, OUT/study.png and (when the studies share real + SpecAugment) OUT/forest.png:
    each condition's gain over it with its 95 % CI, per fold and pooled, beside the goal."""
    out.mkdir(parents=True, exist_ok=True)
    save_json(report, out / "study.json")
    plot_study(report["summary"], out / "study.png")
    if BASELINE in report["summary"]:
        plot_forest(report["per_fold"], report["summary"], out / "forest.png", BASELINE, GOAL)
