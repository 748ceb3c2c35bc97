"""Speaker-independent cross-validation of the classifier, with the paper's random 8:2 split
beside it, as one table.

    python train/cross_validate.py --arch small --out results/cv_small [--seeds 0 1 2]

Speaker protocol: the 28 speakers are dealt into 5 folds balanced by corpus and gender
(every EmoDB speaker and every RAVDESS actor is tested exactly once, by a model that never
heard them). Random protocol: the paper's 80/20 clip split, speakers shared (for comparison
only). Writes OUT/cv.json and prints a markdown table; each fold's run lives in OUT/<fold>/.
A speaker-normalised model (`--speaker-norm`) gets a second row, "one clip at a time": the
same models scored without their test speakers' other clips, as in the app.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_classifier  # noqa: E402

from emodiff.training import save_json  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--protocols", nargs="+", default=["speaker", "random"])
    p.add_argument("--baseline", type=Path, help="another run's cv.json: UA differences paired by fold and seed")
    args, rest = p.parse_known_args(argv)  # the rest goes to train_classifier (--arch, --epochs, ...)

    runs = {}
    for protocol in args.protocols:
        for seed in args.seeds:
            folds = range(args.n_folds) if protocol == "speaker" else [0]
            for fold in folds:
                name = f"{protocol}_s{seed}_f{fold}"
                metrics = train_classifier.main(
                    rest + ["--out", str(args.out / name), "--protocol", protocol, "--seed", str(seed),
                            "--n-folds", str(args.n_folds), "--fold", str(fold)])
                for key, label in (("test", protocol), ("test_single_clip", f"{protocol}-single-clip")):
                    if key in metrics:  # single clip: a speaker-normalised model without speaker statistics
                        runs[f"{label}_s{seed}_f{fold}"] = compact(metrics[key])
    summary = summarize(runs)
    report = {"runs": runs, "summary": summary, "args": rest}
    diffs = paired(runs, json.loads(args.baseline.read_text())["runs"]) if args.baseline else {}
    if args.baseline:
        report["vs_baseline"] = {"baseline": str(args.baseline), **diffs}
    save_json(report, args.out / "cv.json")
    print(table(summary))
    for corpus, d in diffs.items():
        print(f"vs {args.baseline}, {corpus}: UA {d['mean']:+.1%} ± {d['std']:.1%} over {d['n']} paired runs "
              f"(better in {d['better']}, worse in {d['worse']})")
    return summary


def compact(report: dict) -> dict:
    """Of a run's per-corpus classification reports, what cv.json keeps."""
    return {c: {k: r[k] for k in ("ua", "wa", "macro_f1", "n", "confusion_matrix")} for c, r in report.items()}


def paired(runs: dict, baseline: dict) -> dict:
    """Per corpus, UA minus the baseline's UA over the runs (same protocol, seed and fold) both
    have: a fold's test speakers swing UA by ±10 points, so only paired differences compare."""
    out = {}
    for corpus in ("emodb", "ravdess"):
        diffs = [runs[n][corpus]["ua"] - baseline[n][corpus]["ua"] for n in runs
                 if n in baseline and corpus in runs[n] and corpus in baseline[n]]
        if diffs:
            out[corpus] = {"mean": float(np.mean(diffs)), "std": float(np.std(diffs)), "n": len(diffs),
                           "better": sum(d > 0 for d in diffs), "worse": sum(d < 0 for d in diffs)}
    return out


def summarize(runs: dict) -> dict:
    """Mean and std of UA and WA over the runs (folds x seeds) of each protocol, per corpus.
    Run names are `<protocol>_s<seed>_f<fold>`."""
    out = {}
    for protocol in dict.fromkeys(n.rsplit("_", 2)[0] for n in runs):
        mine = [r for n, r in runs.items() if n.rsplit("_", 2)[0] == protocol]
        for corpus in ("emodb", "ravdess"):
            fold_ua = [r[corpus]["ua"] for r in mine if corpus in r]
            fold_wa = [r[corpus]["wa"] for r in mine if corpus in r]
            if fold_ua:
                out[f"{protocol}/{corpus}"] = {
                    "ua_mean": float(np.mean(fold_ua)), "ua_std": float(np.std(fold_ua)),
                    "wa_mean": float(np.mean(fold_wa)), "wa_std": float(np.std(fold_wa)),
                    "n_runs": len(fold_ua)}
    return out


def table(summary: dict) -> str:
    lines = ["| protocol | corpus | UA (mean ± std) | WA (mean ± std) | runs |", "|---|---|---|---|---|"]
    for key, s in summary.items():
        protocol, corpus = key.split("/")
        label = {"speaker": "speaker-independent 5-fold",
                 "speaker-single-clip": "speaker-independent 5-fold, one clip at a time",
                 "random": "random 8:2 (speakers mixed)"}.get(protocol, protocol)
        lines.append(f"| {label} | {corpus} | {s['ua_mean']:.1%} ± {s['ua_std']:.1%} | "
                     f"{s['wa_mean']:.1%} ± {s['wa_std']:.1%} | {s['n_runs']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
