"""Judge generated and enhanced mels on speakers the diffusion model never heard.

    python train/evaluate_generation.py --pipeline checkpoints/diffusion \
        --judge runs/cv_small/speaker_s1_f0/best --fold 0 --out results/generation.json

The judge is a classifier that was *not* the conditioning one (another seed) and never heard
the test speakers (`emodiff.judge`). Reported: per emotion, the share of generated clips the
judge recognises as the target emotion; the Fréchet distance of judge embeddings of generated
and real unseen-speaker mels, beside the same distance for real training-speaker mels (the
floor a perfect generator would reach); diversity within each emotion, generated vs real;
enhancement: judge probability of the target emotion before and after, and mel L1 to the
source, for strengths 0.1 ... 0.9 (plot beside the JSON); the same recognition, distance and
diversity for augmentation sets that train/augment_study.py wrote (`--sets`), beside real
training-speaker crops of their length, and for each how far its voices lie from the training
speakers' (`voice_distance`), beside real crops of the training and of the unseen speakers.
"""
from __future__ import annotations

import argparse
from pathlib import Path


from emodiff.classifier import EmotionClassifier
from emodiff.data import EMOTIONS, index_corpora, speaker_fold, speech_mels
from emodiff.diffusion import load_pipeline
from emodiff.judge import Judge, enhancement_curve, generate_and_judge, judge_sets
from emodiff.reports import plot_enhancement, plot_generation_grid
from emodiff.training import add_data_args, save_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, required=True)
    p.add_argument("--judge", type=Path, required=True)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--n", type=int, default=20, help="generated clips per emotion (DPM-Solver++; 0: skip)")
    p.add_argument("--steps", type=int, nargs="+", default=[25, 10, 50], help="DPM-Solver++ steps")
    p.add_argument("--ddpm-n", type=int, default=3, help="clips per emotion with ancestral DDPM (0: skip)")
    p.add_argument("--ddpm-steps", type=int, nargs="+", default=[1000],
                   help="DDPM steps; under 1000 strided, as the augmentation study's DDPM pools")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--seconds", type=float, default=2.5)
    p.add_argument("--n-enhance", type=int, default=24, help="unseen-speaker clips to enhance (0: skip)")
    p.add_argument("--strengths", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9])
    p.add_argument("--sets", type=Path, nargs="*", default=[], help="augmentation sets (npz) to judge too")
    p.add_argument("--set-n", type=int, default=150, help="clips per emotion taken from each set's start")
    p.add_argument("--out", type=Path, default=Path("results/generation.json"))
    add_data_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pipe, clf = load_pipeline(args.pipeline), EmotionClassifier.from_pretrained(args.judge)
    if clf.mel_config != pipe.mel_config:
        raise SystemExit("The judge reads another mel than the pipeline makes.")
    records = index_corpora(args.data_root, EMOTIONS)
    train_recs, test_recs = speaker_fold(records, args.fold, args.n_folds)
    mels = speech_mels(records, pipe.mel_config, args.cache_dir)
    test_mels, train_mels = [mels[r.path] for r in test_recs], [mels[r.path] for r in train_recs]
    judge = Judge(clf, test_mels, [EMOTIONS.index(r.emotion) for r in test_recs], train_mels)
    results = {"judge": str(args.judge), "pipeline": str(args.pipeline), "fold": args.fold,
               "test_speakers": sorted({r.speaker for r in test_recs}),
               "judge_saw_test_speakers": sorted(set(clf.metadata.get("train_speakers", []))
                                                 & {r.speaker for r in test_recs}),
               "guidance": args.guidance, "seconds": args.seconds, "n_per_emotion": args.n,
               "real_train_vs_real_test_fd": judge.real_train_vs_real_test_fd,
               "real_test_judge_ua": judge.real_test_ua, "generation": {}}

    frames = int(round(args.seconds * pipe.mel_config.frames_per_second))
    runs = [("dpm", steps, args.n) for steps in args.steps] if args.n else []
    runs += [("ddpm", steps, args.ddpm_n) for steps in args.ddpm_steps] if args.ddpm_n else []
    for sampler, steps, n in runs:
        fake, entry = generate_and_judge(pipe, judge, sampler, steps, n, frames, args.guidance)
        results["generation"][f"{sampler}-{steps}"] = entry
        print(sampler, steps, "steps:", {k: round(v, 3) if isinstance(v, float) else v for k, v in entry.items()
                                         if k != "target_recognised"})
        if sampler == "dpm" and steps == args.steps[0]:
            plot_generation_grid(fake, n, test_mels, [r.emotion for r in test_recs], EMOTIONS, pipe.mel_config,
                                 args.out.with_name(args.out.stem + "_grid.png"))
    if args.sets:
        results["sets"] = judge_sets(args.sets, args.set_n, judge, pipe, train_recs, train_mels, test_mels)
        for name, entry in results["sets"].items():
            print(name, {k: round(v, 3) for k, v in entry.items() if isinstance(v, float)})
    if args.n_enhance:
        results["enhancement"] = enhancement_curve(pipe, clf, test_mels, test_recs, args.n_enhance, args.strengths,
                                                   args.guidance)
        plot_enhancement(results["enhancement"], args.out.with_name(args.out.stem + "_enhance.png"))
    save_json(results, args.out)
    return results


if __name__ == "__main__":
    main()
