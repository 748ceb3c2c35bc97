"""Fit the functionals model (openSMILE ComParE 2016 + logistic regression); judge it on
speakers it never heard.

    python train/train_functionals.py --out runs/func --n-folds 5 --fold 0 [--speaker-norm]
    python train/train_functionals.py --out checkpoints/functionals --no-test

The regularisation C is chosen by cross-validation over the training speakers only (four
speaker groups, mean of the two corpora's UA), then the model is refitted on all of them.
Writes OUT/best/ (the model folder) and OUT/metrics.json. A
speaker-normalised model gets each test speaker's statistics from their clips, labels unused:
all of them, or random groups of --reference-clips, as a user uploading that many would give.
Deterministic: there is no seed (metrics record seed 0, for train/ensemble_cv.py).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emodiff.classifier import reports  # noqa: E402
from emodiff.data import (DEFAULT_CACHE, DEFAULT_DATA_ROOT, index_corpora, reference_groups,  # noqa: E402
                          speaker_fold, speaker_groups, speakers)
from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig, clip_functionals  # noqa: E402
from emodiff.training import save_json  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--speaker-norm", action="store_true", help="z-score each statistic within each speaker")
    p.add_argument("--feature-set", default="ComParE_2016")
    p.add_argument("--cs", type=float, nargs="+", default=[0.001, 0.01, 0.1, 1.0], help="C values to choose from")
    p.add_argument("--inner-folds", type=int, default=4)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--no-test", action="store_true", help="fit on every speaker (a shipped model)")
    p.add_argument("--reference-clips", type=int, default=0,
                   help="speaker statistics from random groups of this many of a test speaker's clips (0: all)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    return p.parse_args(argv)


def mean_ua(clf, x, records, groups) -> float:
    """Mean over the corpora present of the UA on `records` (features `x`, speaker groups)."""
    rep = reports(clf.emotions, records, clf.probabilities(x, groups).argmax(1))
    return float(np.mean([rep[c]["ua"] for c in ("emodb", "ravdess") if c in rep]))


def choose_c(cfg, x, records, cs, k: int) -> tuple[float, dict]:
    """The C whose models, fitted on k-1 speaker groups, score best on the k-th, on average."""
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


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = FunctionalsConfig(feature_set=args.feature_set, speaker_norm=args.speaker_norm)
    records = index_corpora(args.data_root, cfg.emotions)
    train, test = (records, []) if args.no_test else speaker_fold(records, args.fold, args.n_folds)
    features = dict(zip((r.path for r in records), clip_functionals([r.path for r in records], cfg,
                                                                   args.cache_dir, progress=True)))
    x_train = np.stack([features[r.path] for r in train])
    c, inner = choose_c(cfg, x_train, train, args.cs, args.inner_folds)
    metadata = {"train_speakers": speakers(train), "c_chosen_by": f"{args.inner_folds}-fold speaker CV",
                "inner_cv_ua": inner}
    clf = FunctionalsClassifier.fit(replace(cfg, c=c), x_train, [r.emotion for r in train],
                                    [r.speaker for r in train], metadata)
    clf.save_pretrained(args.out / "best")
    metrics = {"protocol": "speaker", "fold": None if args.no_test else args.fold, "n_folds": args.n_folds, "seed": 0,
               "arch": f"{args.feature_set}+logistic-regression", "c": c, "inner_cv_ua": inner,
               "train_speakers": speakers(train), "test_speakers": speakers(test)}
    print(f"C={c:g} (inner-CV UA " + ", ".join(f"{k:g}: {v:.3f}" for k, v in inner.items()) + ")")
    if test:
        x_test = np.stack([features[r.path] for r in test])
        metrics["reference_clips"] = args.reference_clips
        groups = [r.speaker for r in reference_groups(test, args.reference_clips)]
        metrics["test"] = reports(cfg.emotions, test, clf.probabilities(x_test, groups).argmax(1))
        for corpus, report in metrics["test"].items():
            print(f"test {corpus:8} n={report['n']:4d} UA={report['ua']:.3f} WA={report['wa']:.3f} "
                  f"F1={report['macro_f1']:.3f}")
    save_json(metrics, args.out / "metrics.json")
    return metrics


if __name__ == "__main__":
    main()
