"""Speaker-independent cross-validation of the classifier, with the paper's random 8:2 split
beside it, as one table.

    python train/cross_validate.py --arch small --out results/cv_small [--seeds 0 1 2]

Speaker protocol: the 28 speakers are dealt into 5 folds balanced by corpus and gender
(every EmoDB speaker and every RAVDESS actor is tested exactly once, by a model that never
heard them). Random protocol: the paper's 80/20 clip split, speakers shared (for comparison
only). Writes OUT/cv.json and prints a markdown table; each fold's run lives in OUT/<fold>/.
A speaker-normalised model (`--speaker-norm`) gets a second row, "one clip at a time": the
same models scored without their test speakers' other clips, as in the app. The recipe flags
are train/train_classifier.py's.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from emodiff.classifier_training import add_recipe_args, recipe_from_args, train_classifier
from emodiff.data import index_corpora
from emodiff.reports import cv_table, paired_lines
from emodiff.stats import compact, paired_runs, summarize_runs
from emodiff.training import add_common_args, save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p, one_run=False)
    add_recipe_args(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--protocols", nargs="+", default=["speaker", "random"])
    p.add_argument("--baseline", type=Path, help="another run's cv.json: UA differences paired by fold and seed")
    args = p.parse_args(argv)
    recipe = recipe_from_args(args)
    records = index_corpora(args.data_root, recipe.emotions, args.corpora)

    runs = {}
    for protocol in args.protocols:
        for seed in args.seeds:
            for fold in range(args.n_folds) if protocol == "speaker" else [0]:
                name = f"{protocol}_s{seed}_f{fold}"
                metrics = train_classifier(replace(recipe, protocol=protocol, seed=seed, fold=fold), records,
                                           args.out / name, args.cache_dir)
                for key, label in (("test", protocol), ("test_single_clip", f"{protocol}-single-clip")):
                    if key in metrics:  # single clip: a speaker-normalised model without speaker statistics
                        runs[f"{label}_s{seed}_f{fold}"] = compact(metrics[key])
    summary = summarize_runs(runs)
    report = {"runs": runs, "summary": summary, "recipe": recipe.to_dict()}
    diffs = paired_runs(runs, json.loads(args.baseline.read_text())["runs"]) if args.baseline else {}
    if args.baseline:
        report["vs_baseline"] = {"baseline": str(args.baseline), **diffs}
    save_json(report, args.out / "cv.json")
    print(cv_table(summary))
    if diffs:
        print(paired_lines(diffs, str(args.baseline)))
    return summary


if __name__ == "__main__":
    main()
