"""Speaker-independent cross-validation of the functionals model (openSMILE ComParE 2016 +
logistic regression), on the same five speaker folds as train/cross_validate.py.

    python train/cross_validate_functionals.py --out runs/cv_func [--speaker-norm] [--reference-clips 6]

Each fold is one train/train_functionals.py run (C chosen on the fold's training speakers
only), saved as OUT/speaker_s0_f<F>/ like the CNN runs, so train/ensemble_cv.py can fuse the
two. Writes OUT/cv.json and prints the table. Other options go to train_functionals.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_functionals  # noqa: E402
from cross_validate import compact, summarize, table  # noqa: E402

from emodiff.training import save_json  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    args, rest = p.parse_known_args(argv)
    runs = {}
    for fold in range(args.n_folds):
        name = f"speaker_s0_f{fold}"
        metrics = train_functionals.main(rest + ["--out", str(args.out / name), "--n-folds", str(args.n_folds),
                                                 "--fold", str(fold)])
        runs[name] = compact(metrics["test"])
    summary = summarize(runs)
    save_json({"runs": runs, "summary": summary, "args": rest}, args.out / "cv.json")
    print(table(summary))
    return summary


if __name__ == "__main__":
    main()
