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
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from augment_study import paired_bootstrap, unweighted_accuracy  # noqa: E402
from train_functionals import choose_c  # noqa: E402

from emodiff.checkpoint import save_npz  # noqa: E402
from emodiff.data import DEFAULT_CACHE, DEFAULT_DATA_ROOT, EMOTIONS, index_corpora, speaker_fold  # noqa: E402
from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig, clip_functionals, functionals  # noqa: E402
from emodiff.training import save_json  # noqa: E402
from emodiff.vocoder import Vocoder  # noqa: E402


def generated_functionals(path: Path, n: int, cfg: FunctionalsConfig, batch: int = 16) -> np.ndarray:
    """(n, D) statistics of the set's first n mels, vocoded; kept beside the set."""
    cache = path.with_name(f"{path.stem}_functionals.npz")
    with np.load(path) as data:
        source = f"{data['source']} {cfg.key()}"
        if cache.exists():
            with np.load(cache) as kept:
                if str(kept["source"]) == source and len(kept["x"]) >= n:
                    return kept["x"][:n]
        mels = data["mels"][:n]
    vocoder, rows = Vocoder(), []
    for s in tqdm(range(0, n, batch), desc="vocoding + functionals"):
        waves = vocoder(torch.from_numpy(mels[s:s + batch].astype(np.float32))).numpy()
        rows += [functionals(w, cfg) for w in waves]
    x = np.stack(rows)
    save_npz(cache, x=x, source=source)
    return x


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generated", type=Path, required=True, help="a generated set of train/augment_study.py")
    p.add_argument("--fold", type=int, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0], help="generated:real clips")
    p.add_argument("--cs", type=float, nargs="+", default=[0.001, 0.01, 0.1, 1.0])
    p.add_argument("--inner-folds", type=int, default=4)
    p.add_argument("--out", type=Path, required=True, help="JSON file")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    if f"fold{args.fold}" not in args.generated.name:
        raise SystemExit(f"{args.generated} is not named for fold {args.fold}: its generator may have heard "
                         "the test speakers.")

    cfg = FunctionalsConfig()
    records = index_corpora(args.data_root, cfg.emotions)
    train, test = speaker_fold(records, args.fold, args.n_folds)
    x_train = clip_functionals([r.path for r in train], cfg, args.cache_dir, progress=True)
    x_test = clip_functionals([r.path for r in test], cfg, args.cache_dir)
    with np.load(args.generated) as data:
        gen_labels = [str(e) for e in data["emotions"]]
    n_max = int(np.ceil(max(args.ratios) * len(train)))
    if n_max > len(gen_labels):
        raise SystemExit(f"{args.generated} holds {len(gen_labels)} clips; ratio {max(args.ratios)} needs {n_max}.")
    x_gen = generated_functionals(args.generated, n_max, cfg)

    c, inner = choose_c(cfg, x_train, train, args.cs, args.inner_folds)
    cfg = replace(cfg, c=c)
    y = np.array([EMOTIONS.index(r.emotion) for r in test])
    corpora = np.array([r.corpus for r in test])
    correct = {}
    for ratio in [0.0] + args.ratios:
        n = int(np.ceil(ratio * len(train)))
        clf = FunctionalsClassifier.fit(cfg, np.concatenate([x_train, x_gen[:n]]),
                                        [r.emotion for r in train] + gen_labels[:n])
        correct["real" if n == 0 else f"real+gen({ratio:g},vocoded)"] = clf.probabilities(x_test).argmax(1) == y

    summary = {}
    for cond, flags in correct.items():
        summary[cond] = {}
        for corpus in ("emodb", "ravdess", "all"):
            idx = (corpora == corpus) | (corpus == "all")
            if not idx.any():
                continue
            entry = {"ua": unweighted_accuracy(flags[idx], y[idx]), "wa": float(flags[idx].mean())}
            if cond != "real":
                entry["ua_diff_vs_real"], entry["ci_low"], entry["ci_high"] = paired_bootstrap(
                    flags[idx], correct["real"][idx], y[idx])
            summary[cond][corpus] = entry
    report = {"fold": args.fold, "generated": str(args.generated), "c": c, "inner_cv_ua": inner,
              "test_speakers": sorted({r.speaker for r in test}), "summary": summary,
              "per_clip": {"clips": [r.name for r in test], "correct": {k: v.astype(int).tolist()
                                                                      for k, v in correct.items()}}}
    save_json(report, args.out)
    present = [k for k in ("emodb", "ravdess") if k in summary["real"]]
    header = " | ".join(f"{k} UA" for k in present)
    print(f"| condition | {header} | Δ UA vs real [95 % CI] |\n" + "|---" * (len(present) + 2) + "|")
    for cond, s in summary.items():
        delta = " / ".join(f"{s[k]['ua_diff_vs_real']:+.1%} [{s[k]['ci_low']:+.1%}, {s[k]['ci_high']:+.1%}]"
                           for k in present) if cond != "real" else "–"
        uas = " | ".join(f"{s[k]['ua']:.1%}" for k in present)
        print(f"| {cond} | {uas} | {delta} |")
    return report


if __name__ == "__main__":
    main()
