"""Calibrated confidences: one temperature per recipe divides a model's logits, so that the
"80 %" the app shows is right about 80 % of the time on speakers the model never heard
(temperature scaling, Guo et al. 2017: one number, so the ranking and the accuracy stay as they are).

The temperature is fitted on out-of-fold predictions: each cross-validation fold's models
scoring their own unseen speakers. A fold is calibrated with the *other* folds' predictions
only, so its test speakers never touch its temperature and the cross-validated ECE is honest;
a shipped model, trained on every speaker by the same recipe, takes the temperature fitted on
all folds' predictions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .data import speech_mels
from .evaluation import load_classifier, member_scorer, reports
from .stats import percentile_interval, resamples

Scorer = Callable[[float], np.ndarray]  # temperature -> (n_clips, n_classes) probabilities


def fit_temperature(scored: list[tuple[Scorer, np.ndarray]], bounds=(0.05, 20.0)) -> float:
    """The temperature minimising the mean negative log-likelihood of the labels `y` (class
    indices) under `scorer(t)`, over every (scorer, y) given."""
    from scipy.optimize import minimize_scalar

    n = sum(len(y) for _, y in scored)

    def nll(log_t: float) -> float:
        t = float(np.exp(log_t))
        return sum(-np.log(np.clip(s(t)[np.arange(len(y)), y], 1e-12, None)).sum() for s, y in scored) / n

    best = minimize_scalar(nll, bounds=tuple(np.log(bounds)), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(best.x))


def fold_temperatures(scored_by_fold: list[list[tuple[Scorer, np.ndarray]]]) -> tuple[list[float], float]:
    """Each fold's temperature, fitted on the other folds' (scorer, labels) only, and the one
    fitted on all folds (what a model trained on every speaker by the same recipe takes)."""
    per_fold = [fit_temperature([x for g, fold in enumerate(scored_by_fold) if g != f for x in fold])
                for f in range(len(scored_by_fold))]
    return per_fold, fit_temperature([x for fold in scored_by_fold for x in fold])


def ece_interval(probs, y, speakers, n: int = 1000, seed: int = 0) -> list[float]:
    """95 % interval of the expected calibration error, resampling speakers (`metrics.calibration`)."""
    from .metrics import calibration

    probs, y = np.asarray(probs), np.asarray(y)
    return list(percentile_interval([calibration(probs[i], y[i])["ece"]
                                     for i in resamples(len(y), speakers, n, seed)]))


def add_ece_intervals(report: dict, records, probs, emotions) -> None:
    """Give each corpus of `reports(emotions, records, probs)` its "ece_ci95" over speakers."""
    y = np.array([emotions.index(r.emotion) for r in records])
    corpora, spk = np.array([r.corpus for r in records]), np.array([r.speaker for r in records])
    for corpus, r in report.items():
        idx = (corpora == corpus) | (corpus == "all")
        r["ece_ci95"] = ece_interval(probs[idx], y[idx], spk[idx])


def set_temperature(folder, temperature: float) -> None:
    """Write `temperature` into a saved classifier's config.json (either kind of model)."""
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text())
    config["temperature"] = round(float(temperature), 4)
    path.write_text(json.dumps(config, indent=1))


def set_ensemble_temperature(file, name: str, temperature: float, fitted_on: list[str]) -> None:
    """Record ensemble `name`'s temperature (and the runs it was fitted on) in a release's
    ensembles.json, which `service.EmoDiff` reads."""
    path = Path(file)
    sets = json.loads(path.read_text()) if path.is_file() else {}
    sets[name] = {"temperature": round(float(temperature), 4), "fitted_on": fitted_on}
    path.write_text(json.dumps(sets, indent=1) + "\n")


@dataclass
class Fold:
    """One fold of a cross-validation run: its members (one per seed) and how they score the
    fold's unseen speakers at any temperature."""

    index: int
    emotions: tuple
    folders: list[Path]
    records: list
    y: np.ndarray
    scorers: list[Scorer]


def out_of_fold(run, seeds, n_folds: int, records, cache_dir) -> list[Fold]:
    """Every fold's members of `run` (OUT/speaker_s<seed>_f<fold>/best) scoring their test speakers."""
    folds = []
    for f in range(n_folds):
        folders = [Path(run) / f"speaker_s{s}_f{f}" for s in seeds if (Path(run) / f"speaker_s{s}_f{f}").is_dir()]
        if not folders:
            raise SystemExit(f"{run} has no fold-{f} run for seeds {list(seeds)}.")
        tested = {tuple(json.loads((d / "metrics.json").read_text())["test_speakers"]) for d in folders}
        if len(tested) != 1:
            raise SystemExit(f"{run}, fold {f}: its seeds were tested on different speakers.")
        test_speakers = set(tested.pop())
        test = [r for r in records if r.speaker in test_speakers]
        members = [load_classifier(d / "best") for d in folders]
        mel_config = getattr(members[0], "mel_config", None)
        mels = speech_mels(test, mel_config, cache_dir) if mel_config is not None else {}
        y = np.array([members[0].emotions.index(r.emotion) for r in test])
        scorers = [member_scorer(m, [mels.get(r.path) for r in test], test, cache_dir=cache_dir) for m in members]
        folds.append(Fold(f, members[0].emotions, folders, test, y, scorers))
    return folds


def calibrate_run(folds: list[Fold]) -> dict:
    """Fit each fold's temperature on the other folds and one on all folds; write each fold's
    into its members' configs. Returns the temperatures and the pooled out-of-fold reports
    before (temperature 1) and after, with ECE intervals over speakers."""
    per_fold, everyone = fold_temperatures([[(s, g.y) for s in g.scorers] for g in folds])
    temperatures = {g.index: t for g, t in zip(folds, per_fold)}
    for fold in folds:
        for folder in fold.folders:
            set_temperature(folder / "best", temperatures[fold.index])
    emotions = folds[0].emotions
    records = [r for g in folds for _ in g.scorers for r in g.records]  # each clip once per seed
    out = {"temperature": everyone, "fold_temperatures": temperatures}
    for name, at in (("before", lambda g: 1.0), ("after", lambda g: temperatures[g.index])):
        probs = np.concatenate([s(at(g)) for g in folds for s in g.scorers])
        report = reports(emotions, records, probs)
        add_ece_intervals(report, records, probs, emotions)
        out[name] = report
    return out
