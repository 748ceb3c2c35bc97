"""Cross-validated accuracy of ensembles: the clip probabilities of several cross-validation
runs on the same folds (other seeds, other recipes) averaged, scored on each fold's unseen speakers.

    python train/ensemble_cv.py --runs runs/cv_small runs/cv_spk --seeds 0 1 --out results/cv_ensemble.json

Each --runs folder is a train/cross_validate.py (or cross_validate_functionals.py) output; fold
f's ensemble is <run>/speaker_s<seed>_f<f>/best for every run and every seed given that the run
has (`RUN:0` names a run's own seeds), all tested on the same speakers.
Speaker-normalised members get each test speaker's statistics from all their clips, as in
cross-validation; `--reference-clips N` from random groups of N of them; `--single-clip` scores
every clip alone. Beside the ensemble, each run's members as they scored alone, from their
metrics.json: the table is ensemble vs its own members on the same folds. "pooled": every
fold's unseen speakers together, with the ensemble's calibration (ECE with an interval over
speakers) and a reliability diagram beside the JSON. `--calibrate` fits the ensemble's own
temperature (its members' mean sharpened), each fold's on the other folds' predictions; `--ship
checkpoints/ensembles.json:one_clip` hands the one of all folds to the app's ensemble.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emodiff.calibration import add_ece_intervals, fold_temperatures, set_ensemble_temperature
from emodiff.data import index_corpora, reference_groups, speech_mels
from emodiff.evaluation import Ensemble, ensemble_probabilities, reports, sharpen
from emodiff.plotting import plot_reliability, save_figure
from emodiff.reports import cv_table
from emodiff.stats import compact, summarize_runs
from emodiff.training import add_data_args, save_json


def fold_members(runs: list[str], seeds: list[int], fold: int) -> list[Path]:
    """The run folders of `fold` for every run and seed asked for (`RUN:0,1`: that run's seeds)."""
    folders = []
    for run in runs:
        path, _, only = run.partition(":")
        wanted = [int(s) for s in only.split(",")] if only else seeds
        # A deterministic run (the functionals model) has only s0.
        mine = [Path(path) / f"speaker_s{seed}_f{fold}" for seed in wanted
                if (Path(path) / f"speaker_s{seed}_f{fold}").is_dir()]
        if not mine:
            raise SystemExit(f"{path} has no fold-{fold} run for seeds {wanted}.")
        folders += mine
    return folders


def score_fold(args, fold: int, records):
    """Fold `fold`'s ensemble on its unseen speakers -> (the ensemble, its test records, the
    members' mean probabilities, each member's row as it scored alone)."""
    folders = fold_members(args.runs, args.seeds, fold)
    member_metrics = [json.loads((f / "metrics.json").read_text()) for f in folders]
    tested = {tuple(m["test_speakers"]) for m in member_metrics}
    if len(tested) != 1:
        raise SystemExit(f"Fold {fold}: the runs were tested on different speakers {sorted(tested)}.")
    clf = Ensemble.from_pretrained([f / "best" for f in folders])
    test_speakers = set(tested.pop())
    test = [r for r in records if r.speaker in test_speakers and r.emotion in clf.emotions]
    mels = speech_mels(test, clf.mel_config, args.cache_dir) if clf.networks else {}
    probs = ensemble_probabilities(clf, [mels.get(r.path) for r in test], reference_groups(test, args.reference_clips),
                                   args.single_clip, args.cache_dir)
    key = "test_single_clip" if args.single_clip else "test"
    alone = {f"{folder.parent.name}-member_s{m['seed']}_f{fold}": {  # a plain member has no single-clip entry
        c: {k: r[k] for k in ("ua", "wa")} for c, r in m.get(key, m["test"]).items()}
        for folder, m in zip(folders, member_metrics)}
    return clf, test, probs, alone


def temperatures(folds, emotions, calibrate: bool) -> tuple[dict, float]:
    """Each fold's ensemble temperature, fitted on the other folds' predictions, and the one of
    all folds (what a shipped ensemble of the same recipes takes); all 1 without `calibrate`."""
    if not calibrate:
        return {f: 1.0 for f in range(len(folds))}, 1.0
    per_fold, everyone = fold_temperatures([[(lambda t, p=probs: sharpen(p, t),
                                              np.array([emotions.index(r.emotion) for r in test]))]
                                            for _, test, probs, _ in folds])
    return dict(enumerate(per_fold)), everyone


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True,
                   help="cross-validation output folders; RUN:0,1 takes only those seeds of RUN")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--single-clip", action="store_true", help="speaker-normalised members score each clip alone")
    p.add_argument("--reference-clips", type=int, default=0,
                   help="speaker statistics from random groups of this many of a speaker's clips (0: all)")
    p.add_argument("--calibrate", action="store_true",
                   help="fit the ensemble's own temperature, each fold's on the other folds")
    p.add_argument("--ship", metavar="FILE:SET",
                   help="write the temperature of all folds as SET's into a release's ensembles.json")
    p.add_argument("--out", type=Path, required=True, help="JSON file")
    add_data_args(p)
    args = p.parse_args(argv)

    records = index_corpora(args.data_root)
    folds = [score_fold(args, fold, records) for fold in range(args.n_folds)]
    emotions = folds[0][0].emotions
    per_fold, temperature = temperatures(folds, emotions, args.calibrate)
    label = "ensemble" + ("-single-clip" if args.single_clip else "")
    runs, pooled = {}, []
    for fold, (_, test, probs, alone) in enumerate(folds):
        probs = sharpen(probs, per_fold[fold])
        report = reports(emotions, test, probs)
        pooled.append((test, probs))
        runs[f"{label}_s{'+'.join(map(str, args.seeds))}_f{fold}"] = compact(report)
        runs.update(alone)
        print(f"fold {fold}: " + "  ".join(f"{c} UA {r['ua']:.3f}" for c, r in report.items()), flush=True)

    summary = summarize_runs(runs)
    test, probs = [r for t, _ in pooled for r in t], np.concatenate([p for _, p in pooled])
    calibration = reports(emotions, test, probs)
    add_ece_intervals(calibration, test, probs, emotions)
    save_figure(plot_reliability({"ensemble": calibration}, "the folds' unseen speakers pooled"),
                args.out.with_suffix(".png"))
    if args.ship:
        file, _, name = args.ship.rpartition(":")
        set_ensemble_temperature(file, name, temperature, [str(r) for r in args.runs])
    save_json({"runs": runs, "summary": summary, "pooled": calibration, "members": [str(r) for r in args.runs],
               "seeds": args.seeds, "single_clip": args.single_clip, "reference_clips": args.reference_clips,
               "temperature": temperature, "fold_temperatures": per_fold}, args.out)
    print(cv_table(summary))
    print(f"ensemble temperature {temperature:.3f}; pooled over the folds: " + "  ".join(
        f"{c} ECE {r['ece']:.3f} [{r['ece_ci95'][0]:.3f}, {r['ece_ci95'][1]:.3f}]" for c, r in calibration.items()))
    return summary


if __name__ == "__main__":
    main()
