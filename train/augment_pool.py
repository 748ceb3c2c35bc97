"""Pool augmentation studies run on different folds into one comparison over all their test speakers.

    python train/augment_pool.py --studies results/augment_60epochs_5seeds results/augment_60epochs_fold1 \
        --out results/augment_pooled

Each study is a train/augment_study.py output folder; how they pool is `emodiff.augment_pool`.
Writes OUT/study.json (pooled and per fold), OUT/study.png, OUT/forest.png (when the studies
share real + SpecAugment: each condition's gain over it with its 95 % CI, per fold and pooled,
beside the goal's +3 points) and prints the study table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from emodiff.augment_pool import pool_report, save_pool
from emodiff.reports import study_table


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=Path, nargs="+", required=True, help="augment_study.py output folders")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    studies = [json.loads((folder / "study.json").read_text()) for folder in args.studies]
    report = pool_report(studies, [str(f) for f in args.studies])
    save_pool(report, args.out)
    n_clips = sum(report["n_clips"].values())
    print(f"folds {report['folds']}, seeds {report['seeds']}, {n_clips} test clips of "
          f"{len(report['test_speakers'])} speakers")
    print(study_table(report["summary"]))
    return report


if __name__ == "__main__":
    main()
