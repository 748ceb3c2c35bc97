"""Speaker-independent cross-validation of the functionals model (openSMILE ComParE 2016 +
logistic regression), on the same five speaker folds as train/cross_validate.py.

    python train/cross_validate_functionals.py --out runs/cv_func [--speaker-norm] [--reference-clips 6]

Each fold is one `train_functionals` run (C chosen on the fold's training speakers only),
saved as OUT/speaker_s0_f<F>/ like the CNN runs, so train/ensemble_cv.py can fuse the two.
Writes OUT/cv.json and prints the table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.data import index_corpora
from emodiff.functionals import FunctionalsConfig
from emodiff.functionals_training import add_functionals_args, train_functionals
from emodiff.reports import cv_table
from emodiff.stats import compact, summarize_runs
from emodiff.training import add_data_args, save_json, vars_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    add_functionals_args(p)
    add_data_args(p)
    a = p.parse_args(argv)
    cfg = FunctionalsConfig(feature_set=a.feature_set, speaker_norm=a.speaker_norm)
    records = index_corpora(a.data_root, cfg.emotions)
    runs = {}
    for fold in range(a.n_folds):
        name = f"speaker_s0_f{fold}"
        metrics = train_functionals(cfg, records, a.out / name, fold, a.n_folds, a.cs, a.inner_folds,
                                    a.reference_clips, a.cache_dir)
        runs[name] = compact(metrics["test"])
    summary = summarize_runs(runs)
    save_json({"runs": runs, "summary": summary, "options": vars_json(a)}, a.out / "cv.json")
    print(cv_table(summary))
    return summary


if __name__ == "__main__":
    main()
