"""Recompute the summaries of saved results from the per-run and per-clip numbers they hold
(no training): cross-validation files get Student's t interval over the folds; augmentation
studies get their paired intervals over test *speakers* instead of clips.

    python train/resummarize.py results/cv_small.json results/cv_speaker_norm.json results/cv_functionals/*.json \
        results/cv_ensemble/*.json
    python train/resummarize.py --studies results/augment*/study.json results/augment_functionals/*.json

A cross-validation file's "runs" stay as they are and "summary" is rewritten by
`emodiff.stats.summarize_runs`. A study that kept its per-clip results gains each clip's speaker
(from the corpora) and a new summary; a pooled study is pooled again from its studies (given
before it) with its plots redrawn; a study without per-clip results is marked
"ci_resamples": "clips", since its intervals cannot be redone.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emodiff.augment_pool import pool_report, save_pool
from emodiff.augment_study import summarize
from emodiff.data import DEFAULT_DATA_ROOT, EMOTIONS, index_corpora
from emodiff.reports import plot_study
from emodiff.stats import compare_to, summarize_runs
from emodiff.training import save_json


def resummarize_cv(path: Path) -> None:
    data = json.loads(path.read_text())
    data["summary"] = summarize_runs(data["runs"])
    save_json(data, path)
    print(path, {k: [round(x, 3) for x in v["ua_ci95_t"]] for k, v in data["summary"].items() if v["ua_ci95_t"]})


def resummarize_study(path: Path, clips: dict) -> None:
    """One study.json (or functionals study) in place; `clips` maps a clip name to its record."""
    data = json.loads(path.read_text())
    if "studies" in data:  # pooled: pool its (already resummarized) studies again
        studies = [json.loads((Path(s) / "study.json").read_text()) for s in data["studies"]]
        save_pool(pool_report(studies, data["studies"]), path.parent)
    elif "per_clip" not in data:
        save_json({**data, "ci_resamples": "clips"}, path)
    else:
        test = [clips[name] for name in data["per_clip"]["clips"]]
        y = np.array([EMOTIONS.index(r.emotion) for r in test])
        corpora, speakers = np.array([r.corpus for r in test]), np.array([r.speaker for r in test])
        correct = {c: np.array(v, bool) for c, v in data["per_clip"]["correct"].items()}
        data["per_clip"]["speakers"] = speakers.tolist()
        if "generated" in data:  # train/augment_functionals.py: one run per condition
            data["summary"] = compare_to(correct, "real", y, corpora, speakers)
        else:
            data["summary"] = summarize(correct, y, corpora, speakers)
            plot_study(data["summary"], path.with_suffix(".png"))
        save_json({**data, "ci_resamples": "speakers"}, path)
    print(path, "resummarized")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", type=Path, nargs="*", help="cv.json-like files with 'runs' and 'summary'")
    p.add_argument("--studies", type=Path, nargs="*", default=[],
                   help="augmentation study JSONs; each pooled one after the studies it pools")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    args = p.parse_args(argv)
    for path in args.files:
        resummarize_cv(path)
    if args.studies:
        clips = {r.name: r for r in index_corpora(args.data_root, EMOTIONS)}
        for path in sorted(args.studies, key=lambda s: "_pooled_" in str(s)):  # pools last
            resummarize_study(path, clips)


if __name__ == "__main__":
    main()
