"""Does generated data help the functionals model? The augmentation study's question asked of
the other classifier family, the one-clip path's strongest member.

    python train/augment_functionals.py --generated results/augment_60epochs_fold2/generated_fold2_filtered.npz \
        --fold 2 --out results/augment_functionals/fold2.json

`--generated` is a set train/augment_study.py made for the same fold (its generator and style
references saw only the fold's training speakers). Its mels are vocoded by HiFi-GAN — the
functionals need a waveform, as a saved clip would give — analysed by openSMILE, and the
first n of them added to the fold's real training clips, n = ratio × real clips. C is chosen
once, on the real training speakers, so conditions differ only in their data.
The model is deterministic: no seeds; the paired bootstrap over test clips gives the spread.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from emodiff.augment_sets import generated_functionals
from emodiff.data import EMOTIONS, index_corpora, speaker_fold
from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig, clip_functionals
from emodiff.functionals_training import CS, choose_c
from emodiff.stats import compare_to
from emodiff.training import add_data_args, save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generated", type=Path, required=True, help="a generated set of train/augment_study.py")
    p.add_argument("--fold", type=int, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0], help="generated:real clips")
    p.add_argument("--cs", type=float, nargs="+", default=list(CS))
    p.add_argument("--inner-folds", type=int, default=4)
    p.add_argument("--out", type=Path, required=True, help="JSON file")
    add_data_args(p)
    args = p.parse_args(argv)
    if f"fold{args.fold}" not in args.generated.name:
        raise SystemExit(f"{args.generated} is not named for fold {args.fold}: its generator may have heard "
                         "the test speakers.")

    cfg = FunctionalsConfig()
    train, test = speaker_fold(index_corpora(args.data_root, cfg.emotions), args.fold, args.n_folds)
    x_train = clip_functionals([r.path for r in train], cfg, args.cache_dir, progress=True)
    x_test = clip_functionals([r.path for r in test], cfg, args.cache_dir)
    with np.load(args.generated) as data:
        gen_labels = [str(e) for e in data["emotions"]]
    n_max = int(np.ceil(max(args.ratios) * len(train)))
    if n_max > len(gen_labels):
        raise SystemExit(f"{args.generated} holds {len(gen_labels)} clips; ratio {max(args.ratios)} needs {n_max}.")
    x_gen = generated_functionals(args.generated, n_max, cfg)

    c, inner = choose_c(cfg, x_train, train, args.cs, args.inner_folds)
    y = np.array([EMOTIONS.index(r.emotion) for r in test])
    correct = {}
    for ratio in [0.0] + args.ratios:
        n = int(np.ceil(ratio * len(train)))
        clf = FunctionalsClassifier.fit(replace(cfg, c=c), np.concatenate([x_train, x_gen[:n]]),
                                        [r.emotion for r in train] + gen_labels[:n])
        correct["real" if n == 0 else f"real+gen({ratio:g},vocoded)"] = clf.probabilities(x_test).argmax(1) == y
    summary = compare_to(correct, "real", y, np.array([r.corpus for r in test]), np.array([r.speaker for r in test]))
    report = {"fold": args.fold, "generated": str(args.generated), "c": c, "inner_cv_ua": inner,
              "test_speakers": sorted({r.speaker for r in test}), "summary": summary,
              "ci_resamples": "speakers",
              "per_clip": {"clips": [r.name for r in test], "correct": {k: v.astype(int).tolist()
                                                                      for k, v in correct.items()}}}
    save_json(report, args.out)
    print(table(summary))
    return report


def table(summary: dict) -> str:
    present = [k for k in ("emodb", "ravdess") if k in summary["real"]]
    lines = [f"| condition | {' | '.join(f'{k} UA' for k in present)} | Δ UA vs real [95 % CI] |",
             "|---" * (len(present) + 2) + "|"]
    for cond, s in summary.items():
        uas = " | ".join(f"{s[k]['ua']:.1%}" for k in present)
        delta = " / ".join(f"{s[k]['ua_diff_vs_real']:+.1%} [{s[k]['ci_low']:+.1%}, {s[k]['ci_high']:+.1%}]"
                           for k in present) if cond != "real" else "–"
        lines.append(f"| {cond} | {uas} | {delta} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
