"""Calibrate a recipe's confidences by temperature scaling on its cross-validation folds.

    python train/calibrate.py --run runs/cv_small --seeds 0 1 --out results/calibration/cnn.json \\
        --ship checkpoints/classifier checkpoints/classifier_seed1

Each fold's members (RUN/speaker_s<seed>_f<fold>/best, from train/cross_validate.py or
cross_validate_functionals.py) score their own unseen speakers; each fold's temperature is fitted
on the other folds' predictions and written into its members' configs (train/ensemble_cv.py then
scores calibrated members), and one fitted on all folds goes into each --ship model, trained on
every speaker by the same recipe (`emodiff.calibration`). Writes the JSON (temperatures, pooled
out-of-fold UA and ECE per corpus before and after, ECE intervals over speakers) and a
reliability diagram beside it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.calibration import calibrate_run, out_of_fold, set_temperature
from emodiff.data import index_corpora
from emodiff.plotting import plot_reliability, save_figure
from emodiff.training import add_data_args, save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a cross-validation output folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--ship", type=Path, nargs="*", default=[], help="models of the same recipe to calibrate")
    p.add_argument("--out", type=Path, required=True, help="JSON file")
    add_data_args(p)
    a = p.parse_args(argv)

    folds = out_of_fold(a.run, a.seeds, a.n_folds, index_corpora(a.data_root), a.cache_dir)
    result = calibrate_run(folds)
    for model in a.ship:
        set_temperature(model, result["temperature"])
    result.update(run=str(a.run), seeds=a.seeds, shipped=[str(m) for m in a.ship])
    save_json(result, a.out)
    save_figure(plot_reliability({"raw": result["before"], "calibrated": result["after"]},
                                 f"{a.run.name}: out-of-fold predictions on unseen speakers"),
                a.out.with_suffix(".png"))
    print(f"temperature {result['temperature']:.3f} (per fold: "
          + ", ".join(f"{t:.2f}" for t in result["fold_temperatures"].values()) + ")")
    for corpus in ("emodb", "ravdess"):
        b, c = result["before"][corpus], result["after"][corpus]
        print(f"{corpus:8} UA {b['ua']:.3f} -> {c['ua']:.3f}  ECE {b['ece']:.3f} -> {c['ece']:.3f} "
              f"[{c['ece_ci95'][0]:.3f}, {c['ece_ci95'][1]:.3f}]  NLL {b['reliability']['nll']:.3f} -> "
              f"{c['reliability']['nll']:.3f}")
    return result


if __name__ == "__main__":
    main()
