"""Does training on real + generated mels beat real-only (and SpecAugment) on unseen speakers?

    python train/augment_study.py --pipeline runs/diff_f0_long/pipeline --fold 0 --seeds 0 1 2 \
        --judge runs/cv_small/speaker_s1_f0/best --out results/augment

The diffusion pipeline must have been trained on the fold's *training* speakers only
(train/train_diffusion.py --fold F; its folder records them); generated clips take their style
reference from training-speaker clips only, so nothing of the test speakers leaks in. The
conditions (`emodiff.augment_study.CONDITIONS`) all train on the same speaker-independent
split and seeds at equal compute: real; real + SpecAugment; mixup and VTLP, generator-free
baselines; generated data at several ratios, filtered by an independent judge (`--judge`, a
classifier trained on the fold's training speakers, not one of the study's), vocoded, faded,
style-mixed, in new voices, DDPM-sampled or enhanced from training crops (with the crops as
their control); the DCGAN baseline (`--gan`, asked for by name); and fewer real speakers, to
price what more voices would give. Writes OUT/study.json, OUT/study.png (or under
`--report-dir`) and prints a table: each condition against real + SpecAugment and against
its own counterpart, by a paired bootstrap over test clips (seeds averaged), with the paper's
circular measure beside it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.augment_study import CONDITIONS, StudyConfig, run_study
from emodiff.reports import plot_study, study_table
from emodiff.training import add_data_args, save_json


def main(argv=None) -> dict:
    d = StudyConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, help="diffusion pipeline (conditions with generated data)")
    p.add_argument("--gan", type=Path, help="GAN baseline folder, train/train_gan.py (the gan conditions)")
    p.add_argument("--judge", type=Path, help="classifier that ranks generated clips (filtered conditions)")
    p.add_argument("--out", type=Path, default=d.out, help="generated sets and runs")
    p.add_argument("--report-dir", type=Path,
                   help="where study.json and study.png go (default --out): new seeds run over an existing "
                        "--out's generated sets and runs, reported apart from the study already there")
    p.add_argument("--fold", type=int, default=d.fold)
    p.add_argument("--n-folds", type=int, default=d.n_folds)
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    p.add_argument("--conditions", nargs="+", default=list(d.conditions), choices=list(CONDITIONS))
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--gen-steps", type=int, default=d.gen_steps, help="DPM-Solver++ steps")
    p.add_argument("--ddpm-steps", type=int, default=d.ddpm_steps, help="ancestral DDPM steps (the ddpm condition)")
    p.add_argument("--enhance-strength", type=float, default=d.enhance_strength,
                   help="how far the enhanced conditions noise a training clip (share of the steps)")
    p.add_argument("--guidance", type=float, default=d.guidance)
    p.add_argument("--crop-frames", type=int, default=d.crop_frames)
    add_data_args(p)
    args = p.parse_args(argv)
    report_dir = args.report_dir or args.out
    cfg = StudyConfig(**{**{k: v for k, v in vars(args).items() if k != "report_dir"},
                         "seeds": tuple(args.seeds), "conditions": tuple(args.conditions)})
    args.out.mkdir(parents=True, exist_ok=True)
    report_dir.mkdir(parents=True, exist_ok=True)

    report = run_study(cfg)
    save_json(report, report_dir / "study.json")
    print(study_table(report["summary"]))
    for name, measure in (("diffusion", report["circular"]), ("GAN", report["circular_gan"])):
        if measure:
            print(f"\ncircular measure (paper's): real+specaug classifier on {name}-generated mels: "
                  f"UA {measure['ua']:.1%} (vs {measure['real_test_ua']:.1%} on real unseen speakers)")
    plot_study(report["summary"], report_dir / "study.png")
    return report


if __name__ == "__main__":
    main()
