"""Fit the functionals model (openSMILE ComParE 2016 + logistic regression); judge it on
speakers it never heard.

    python train/train_functionals.py --out runs/func --n-folds 5 --fold 0 [--speaker-norm]
    python train/train_functionals.py --out checkpoints/functionals --no-test

The regularisation C is chosen by cross-validation over the training speakers only (four
speaker groups, mean of the two corpora's UA), then the model is refitted on all of them.
Writes OUT/best/ (the model folder) and OUT/metrics.json (`emodiff.functionals_training`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.data import index_corpora
from emodiff.functionals import FunctionalsConfig
from emodiff.functionals_training import add_functionals_args, train_functionals
from emodiff.training import add_data_args


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--no-test", action="store_true", help="fit on every speaker (a shipped model)")
    add_functionals_args(p)
    add_data_args(p)
    a = p.parse_args(argv)
    cfg = FunctionalsConfig(feature_set=a.feature_set, speaker_norm=a.speaker_norm)
    return train_functionals(cfg, index_corpora(a.data_root, cfg.emotions), a.out, None if a.no_test else a.fold,
                             a.n_folds, a.cs, a.inner_folds, a.reference_clips, a.cache_dir)


if __name__ == "__main__":
    main()
