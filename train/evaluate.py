"""Evaluate a classifier on every speaker found under a data root.

    python train/evaluate.py --checkpoint checkpoints/classifier --data-root ../shared/data --out metrics.json

Works on any folder laid out like `shared/data`, whatever speakers it holds: that is how the
model is judged independently. Writes JSON with, per corpus ("emodb", "ravdess") and "all":
ua, wa, macro_f1, per-class precision/recall/F1, the confusion matrix and the calibration
("ece": expected calibration error; "reliability": its bins); one confusion-matrix PNG per
corpus and a reliability diagram beside it. A speaker-normalised classifier takes each
speaker's average spectrum from all of that speaker's clips found, labels unused (or from
random groups of `--reference-clips N`; or none, `--single-clip`). Several checkpoints are
evaluated as one ensemble, their probabilities averaged (`--checkpoint checkpoints/classifier
checkpoints/functionals checkpoints/voice_statistics`; the app's several-clip set adds
`checkpoints/functionals_speaker checkpoints/voice_statistics_speaker`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.data import index_corpora, reference_groups, speakers, speech_mels
from emodiff.evaluation import Ensemble, evaluate
from emodiff.plotting import plot_confusion, plot_reliability, save_figure
from emodiff.training import add_data_args, save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, nargs="+", required=True, help="one classifier, or several: an ensemble")
    p.add_argument("--out", type=Path, default=Path("metrics.json"))
    p.add_argument("--single-clip", action="store_true",
                   help="a speaker-normalised model scores each clip alone, without its speaker's other clips")
    p.add_argument("--reference-clips", type=int, default=0,
                   help="speaker statistics from random groups of this many of a speaker's clips (0: all)")
    add_data_args(p)
    args = p.parse_args(argv)

    clf = Ensemble.from_pretrained(args.checkpoint)
    records = index_corpora(args.data_root, clf.emotions)
    if not records:
        raise SystemExit(f"No clips with the classifier's emotions under {args.data_root}.")
    mels = speech_mels(records, clf.mel_config, args.cache_dir) if clf.networks else {}
    try:
        metrics = evaluate(clf, [mels.get(r.path) for r in records], reference_groups(records, args.reference_clips),
                           args.single_clip, args.cache_dir)
    except ValueError as e:  # e.g. a speaker-normalised functionals model asked to score clips alone
        raise SystemExit(str(e)) from e
    if clf.speaker_norm:
        print("speaker-normalised members: " + (
            "each clip alone" if args.single_clip else
            f"each speaker's statistics from random groups of {args.reference_clips} of their clips"
            if args.reference_clips else "each speaker's statistics from all their clips (labels unused)"))
    metrics["speakers"] = speakers(records)
    metrics["speakers_seen_in_training"] = sorted(clf.train_speakers & set(metrics["speakers"]))
    save_json(metrics, args.out)
    for corpus in [c for c in ("emodb", "ravdess", "all") if c in metrics]:
        m = metrics[corpus]
        print(f"{corpus:8} n={m['n']:5d}  UA {m['ua']:.3f}  WA {m['wa']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
              f"ECE {m['ece']:.3f}")
        save_figure(plot_confusion(m["confusion_matrix"], m["labels"], f"{corpus}: UA {m['ua']:.1%}, WA {m['wa']:.1%}"),
                    args.out.with_name(f"{args.out.stem}_confusion_{corpus}.png"))
    save_figure(plot_reliability({"confidence": metrics}, "how often the top class is right, by its probability"),
                args.out.with_name(f"{args.out.stem}_reliability.png"))
    if metrics["speakers_seen_in_training"]:
        print(f"note: {len(metrics['speakers_seen_in_training'])} of these speakers were in the "
              "training data; these numbers are not speaker-independent.")
    return metrics


if __name__ == "__main__":
    main()
