"""Train the speech-emotion classifier; judge it on speakers it never heard.

    python train/train_classifier.py --out runs/cls --arch small --n-folds 5 --fold 0
    torchrun --nproc_per_node 2 train/train_classifier.py --out runs/cls --arch small
    python train/train_classifier.py --out checkpoints/classifier --no-test --val-speakers 0 --epochs 30

Writes OUT/best/ (the classifier folder), OUT/metrics.json, OUT/curves.png, OUT/confusion_*.png;
OUT/state/ holds the resume state (optimizer, scheduler, step) apart from the weights.
Re-running the same command resumes from the last checkpoint. The flags are the fields of
`emodiff.classifier_training.TrainConfig`.
"""
from __future__ import annotations

import argparse

from emodiff.classifier_training import add_recipe_args, recipe_from_args, train_classifier
from emodiff.data import index_corpora
from emodiff.training import add_common_args


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    add_recipe_args(p)
    a = p.parse_args(argv)
    cfg = recipe_from_args(a)
    return train_classifier(cfg, index_corpora(a.data_root, cfg.emotions, a.corpora), a.out, a.cache_dir)


if __name__ == "__main__":
    main()
