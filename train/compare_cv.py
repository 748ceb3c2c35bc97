"""Paired comparison of two cross-validation results on the runs (seed, fold) both have: the
mean UA difference, how many runs it helped, and the Wilcoxon signed-rank p over the folds.

    python train/compare_cv.py results/cv_ensemble/plain2_func.json results/cv_ensemble/plain2.json \
        --protocol ensemble --out results/cv_ensemble/compare_func_lift.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from emodiff.reports import paired_lines
from emodiff.stats import paired_runs
from emodiff.training import save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path, help="a cv.json-like file with 'runs'")
    p.add_argument("b", type=Path, help="the one it is compared with (same run names)")
    p.add_argument("--protocol", default="speaker", help="the runs compared: speaker (cross_validate.py), "
                   "ensemble (ensemble_cv.py), ... (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    a, b = ({n: r for n, r in json.loads(f.read_text())["runs"].items() if n.rsplit("_", 2)[0] == args.protocol}
            for f in (args.a, args.b))
    diffs = paired_runs(a, b)
    if not diffs:
        raise SystemExit(f"{args.a} and {args.b} share no runs.")
    report = {"a": str(args.a), "b": str(args.b), "protocol": args.protocol, **diffs}
    save_json(report, args.out)
    print(paired_lines(diffs, str(args.b)))
    return report


if __name__ == "__main__":
    main()
