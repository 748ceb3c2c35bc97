"""Fitting the functionals model (openSMILE statistics + logistic regression) on one speaker
fold, its regularisation chosen on the training speakers only.

Deterministic: there is no seed (metrics record seed 0, so ensembles pair it with CNN runs).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .data import DEFAULT_CACHE, reference_groups, speaker_fold, speaker_groups, speakers
from .evaluation import reports
from .functionals import FunctionalsClassifier, FunctionalsConfig, clip_functionals
from .training import save_json

CS = (0.001, 0.01, 0.1, 1.0)  # inverse L2 strengths to choose from


def mean_ua(clf, x, records, groups) -> float:
    """Mean over the corpora present of the UA on `records` (features `x`, speaker groups)."""
    rep = reports(clf.emotions, records, clf.probabilities(x, groups))
    return float(np.mean([rep[c]["ua"] for c in ("emodb", "ravdess") if c in rep]))


def choose_c(cfg: FunctionalsConfig, x, records, cs=CS, k: int = 4) -> tuple[float, dict]:
    """The C whose models, fitted on k-1 speaker groups, score best on the k-th, on average.
    Returns (C, {C: mean UA})."""
    spk = np.array([r.speaker for r in records])
    scores = {}
    for c in cs:
        uas = []
        for held in speaker_groups(records, k):
            test = np.isin(spk, held)
            train_records = [r for r, t in zip(records, test) if not t]
            clf = FunctionalsClassifier.fit(replace(cfg, c=c), x[~test], [r.emotion for r in train_records],
                                            spk[~test])
            uas.append(mean_ua(clf, x[test], [r for r, t in zip(records, test) if t], spk[test]))
        scores[c] = float(np.mean(uas))
    return max(scores, key=scores.get), scores


def train_functionals(cfg: FunctionalsConfig, records, out, fold: int | None = 0, n_folds: int = 5,
                      cs=CS, inner_folds: int = 4, reference_clips: int = 0, cache_dir=DEFAULT_CACHE) -> dict:
    """Fit on the training speakers of `fold` (None: every speaker, a shipped model), C chosen
    by `inner_folds`-fold speaker CV among them; judge on the held-out speakers. A
    speaker-normalised model gets each test speaker's statistics from their clips, labels
    unused: all of them, or random groups of `reference_clips`, as a user uploading that many
    would give. Writes OUT/best/ and OUT/metrics.json; returns the metrics."""
    out = Path(out)
    train, test = (records, []) if fold is None else speaker_fold(records, fold, n_folds)
    features = dict(zip((r.path for r in records), clip_functionals([r.path for r in records], cfg,
                                                                   cache_dir, progress=True)))
    x_train = np.stack([features[r.path] for r in train])
    c, inner = choose_c(cfg, x_train, train, cs, inner_folds)
    metadata = {"train_speakers": speakers(train), "c_chosen_by": f"{inner_folds}-fold speaker CV",
                "inner_cv_ua": inner}
    clf = FunctionalsClassifier.fit(replace(cfg, c=c), x_train, [r.emotion for r in train],
                                    [r.speaker for r in train], metadata)
    clf.save_pretrained(out / "best")
    metrics = {"protocol": "speaker", "fold": fold, "n_folds": n_folds, "seed": 0,
               "arch": f"{cfg.feature_set}+logistic-regression", "c": c, "inner_cv_ua": inner,
               "train_speakers": speakers(train), "test_speakers": speakers(test)}
    print(f"C={c:g} (inner-CV UA " + ", ".join(f"{k:g}: {v:.3f}" for k, v in inner.items()) + ")")
    if test:
        x_test = np.stack([features[r.path] for r in test])
        metrics["reference_clips"] = reference_clips
        groups = [r.speaker for r in reference_groups(test, reference_clips)]
        metrics["test"] = reports(cfg.emotions, test, clf.probabilities(x_test, groups))
        for corpus, report in metrics["test"].items():
            print(f"test {corpus:8} n={report['n']:4d} UA={report['ua']:.3f} WA={report['wa']:.3f} "
                  f"F1={report['macro_f1']:.3f}")
    save_json(metrics, out / "metrics.json")
    return metrics


def add_functionals_args(p) -> None:
    """`train_functionals`' options as flags (train/train_functionals.py, its cross-validation)."""
    p.add_argument("--speaker-norm", action="store_true", help="z-score each statistic within each speaker")
    p.add_argument("--feature-set", default="ComParE_2016")
    p.add_argument("--cs", type=float, nargs="+", default=list(CS), help="C values to choose from")
    p.add_argument("--inner-folds", type=int, default=4)
    p.add_argument("--reference-clips", type=int, default=0,
                   help="speaker statistics from random groups of this many of a test speaker's clips (0: all)")
