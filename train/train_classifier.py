"""Train the speech-emotion classifier; judge it on speakers it never heard.

    python train/train_classifier.py --out runs/cls --arch small --n-folds 5 --fold 0
    torchrun --nproc_per_node 2 train/train_classifier.py --out runs/cls --arch small
    python train/train_classifier.py --out checkpoints/classifier --no-test --val-speakers 0 --epochs 30

Writes OUT/best/ (the classifier folder), OUT/metrics.json, OUT/curves.png, OUT/confusion_*.png;
OUT/state/ holds the resume state (optimizer, scheduler, step) apart from the weights.
Re-running the same command resumes from the last checkpoint.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emodiff.audio import MelNormalizer  # noqa: E402
from emodiff.augment import AugmentConfig, augment_batch  # noqa: E402
from emodiff.classifier import (ClassifierConfig, EmotionClassifier, ResNetSER, clip_probabilities,  # noqa: E402
                                evaluate, reports, speaker_references)
from emodiff.data import (ALL_EMOTIONS, EMOTIONS, index_corpora, random_split,  # noqa: E402
                          speaker_fold, speaker_groups, speaker_subset, speakers, speech_mels, split_by_speakers)
from emodiff.training import (add_common_args, balance_weights, CropDataset, EpochSampler, make_accelerator,  # noqa: E402
                              ResumeState, save_json, set_seed, vars_json)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--emotions", nargs="+", default=list(EMOTIONS), choices=ALL_EMOTIONS)
    p.add_argument("--arch", choices=["resnet50", "small"], default="resnet50")
    p.add_argument("--crop-frames", type=int, default=160)
    p.add_argument("--utterance-norm", action="store_true", help="subtract each clip's mean log-mel first")
    p.add_argument("--speaker-norm", action="store_true",
                   help="subtract each speaker's mean log-mel first (from that speaker's unlabelled clips)")
    # test split: one fold of a speaker k-fold, the paper's random split, or none
    p.add_argument("--protocol", choices=["speaker", "random"], default="speaker")
    p.add_argument("--test-speakers", nargs="*", help="explicit test speakers, e.g. emodb_03")
    p.add_argument("--val-speakers", type=int, default=3,
                   help="training speakers held out for early stopping (0: none, fixed epochs)")
    p.add_argument("--speaker-share", type=float, default=1.0,
                   help="train on this share of each corpus's training speakers (chosen by --seed), "
                        "at the whole set's draws per epoch: what are more voices worth?")
    # optimisation
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--no-balance", action="store_true", help="uniform instead of corpus/class-balanced sampling")
    # augmentation
    p.add_argument("--specaugment", action="store_true")
    p.add_argument("--gain-db", type=float, default=6.0)
    p.add_argument("--mixup", type=float, default=0.0)
    p.add_argument("--vtlp", type=float, default=0.0,
                   help="vocal tract length perturbation: frequency scale factors drawn from 1 +- this")
    p.add_argument("--generated", type=Path, help="npz of generated mels (train/augment_study.py)")
    p.add_argument("--generated-ratio", type=float, default=0.0, help="generated:real clips")
    p.add_argument("--generated-fade", action="store_true",
                   help="generated clips' sampling weight falls linearly to zero over the epochs")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between resume checkpoints")
    p.add_argument("--max-steps", type=int, default=0,
                   help="save and stop after this many steps, as if killed (tests)")
    return p.parse_args(argv)


def split(args, records):
    """-> (train, val, test) record lists, all speaker-disjoint under the speaker protocol."""
    if args.no_test:
        train, test = list(records), []
    elif args.protocol == "random":
        tr, te = random_split(records, 0.2, seed=args.seed)
        train, test = [records[i] for i in tr], [records[i] for i in te]
    elif args.test_speakers:
        tr, te = split_by_speakers(records, args.test_speakers)
        train, test = [records[i] for i in tr], [records[i] for i in te]
    else:
        train, test = speaker_fold(records, args.fold, args.n_folds)
    if args.val_speakers <= 0:
        return train, [], test
    if args.protocol == "random":
        tr, va = random_split(train, 0.1, seed=args.seed + 1)
    else:
        k = max(2, round(len(speakers(train)) / args.val_speakers))
        tr, va = split_by_speakers(train, speaker_groups(train, k, seed=args.seed)[0])
    return [train[i] for i in tr], [train[i] for i in va], test


def main(argv=None) -> dict:
    args = parse_args(argv)
    acc = make_accelerator(cpu=args.cpu)
    set_seed(args.seed)
    records = index_corpora(args.data_root, args.emotions, args.corpora)
    train, val, test = split(args, records)
    # As many draws per epoch as there are real clips in the whole training set, whatever share
    # of its speakers or generated data a run adds: conditions get the same compute, so a
    # difference comes from the data, not from more or fewer steps.
    draws = len(train)
    if args.speaker_share < 1:
        train = speaker_subset(train, args.speaker_share, args.seed)
    with acc.main_process_first():
        mels = speech_mels(records, args.cache_dir, progress=acc.is_main_process)

    cfg = (ClassifierConfig.small if args.arch == "small" else ClassifierConfig.resnet50)(
        emotions=tuple(args.emotions), crop_frames=args.crop_frames, utterance_norm=args.utterance_norm,
        speaker_norm=args.speaker_norm)
    train_mels = [mels[r.path] for r in train]
    refs = speaker_references(cfg, train, train_mels) or [None] * len(train)
    train_mels = [cfg.prepare(m, ref) for m, ref in zip(train_mels, refs)]
    normalizer = MelNormalizer.fit(train_mels, cfg.mel)
    labels = [cfg.emotions.index(r.emotion) for r in train]
    corpora = [r.corpus for r in train]
    if args.generated and args.generated_ratio > 0:
        gen_mels, gen_labels, gen_corpora = load_generated(args.generated, round(args.generated_ratio * len(train)),
                                                           cfg.emotions)
        train_mels = train_mels + [cfg.prepare(m) for m in gen_mels]
        labels, corpora = labels + gen_labels, corpora + gen_corpora
    dataset = CropDataset(train_mels, labels, cfg.crop_frames, normalizer, args.seed)
    generated = np.arange(len(train_mels)) >= len(train)
    sampler = EpochSampler(len(train_mels), args.seed, None if args.no_balance else balance_weights(corpora, labels),
                           draws, generated if args.generated_fade else None, args.epochs)
    loader = torch.utils.data.DataLoader(dataset, args.batch_size, sampler=sampler, drop_last=True)
    model = ResNetSER(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = len(loader) // acc.num_processes
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * steps_per_epoch + 1,
                                                pct_start=0.1)
    model, opt, loader, sched = acc.prepare(model, opt, loader, sched)
    aug = AugmentConfig(specaugment=args.specaugment, gain_db=args.gain_db, mixup=args.mixup, vtlp=args.vtlp)

    state = ResumeState(acc, args.out / "state", {"epoch": 0, "step": 0, "best": -1.0, "bad_epochs": 0,
                                                  "history": []})
    progress, save_state = state.data, state.save
    if state.resumed:
        acc.print(f"resumed at epoch {progress['epoch']}, step {progress['step']}")

    def classifier() -> EmotionClassifier:
        return EmotionClassifier(cfg, normalizer, acc.unwrap_model(model),
                                 metadata={"train_speakers": speakers(train), "args": vars_json(args)})

    n_classes = len(cfg.emotions)
    while progress["epoch"] < args.epochs:
        epoch = progress["epoch"]
        dataset.set_epoch(epoch)
        done = progress["step"] - epoch * steps_per_epoch  # batches of this epoch already seen
        batches = acc.skip_first_batches(loader, done) if done else loader
        # Accelerate's loaders re-set the sampler's epoch from their own iteration count when
        # iterated; set it on the loader so a resumed run (a fresh loader) draws the same order.
        batches.set_epoch(epoch)
        model.train()
        losses = []
        for mel, mask, y in tqdm(batches, desc=f"epoch {epoch}", disable=not acc.is_main_process,
                                 total=steps_per_epoch - done, leave=False):
            step_seed = args.seed * 1_000_003 + progress["step"] * 97 + acc.process_index
            # Dropout draws from the global RNG, which data-loader iterators also consume when
            # created; reseeding per step keeps a resumed run identical to an uninterrupted one.
            torch.manual_seed(step_seed)
            gen = torch.Generator().manual_seed(step_seed)
            target = F.one_hot(y, n_classes).float()
            mel, target = augment_batch(mel, target, aug, normalizer, gen)
            logits = model(mel, mask)
            loss = F.cross_entropy(logits, target, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            acc.clip_grad_norm_(model.parameters(), 5.0)
            opt.step(), sched.step()
            losses.append(loss.item())
            progress["step"] += 1
            if progress["step"] % args.checkpoint_every == 0:
                save_state()
            if args.max_steps and progress["step"] >= args.max_steps:
                break
        if progress["step"] - epoch * steps_per_epoch < steps_per_epoch:  # stopped mid-epoch
            save_state()
            return {}
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None}
        if val:
            report = evaluate(classifier(), [mels[r.path] for r in val], val)["all"]
            record.update(val_ua=report["ua"], val_wa=report["wa"])
            improved = report["ua"] > progress["best"]
            progress["best"] = max(progress["best"], report["ua"])
            progress["bad_epochs"] = 0 if improved else progress["bad_epochs"] + 1
        else:
            improved = True  # no validation speakers: keep the last epoch
        if improved and acc.is_main_process:
            classifier().save_pretrained(args.out / "best")
        progress["history"].append(record)
        progress["epoch"] = epoch + 1
        acc.print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        save_state()
        if val and progress["bad_epochs"] >= args.patience:
            break
    acc.wait_for_everyone()
    return finish(args, train, val, test, mels) if acc.is_main_process else {}


def load_generated(path: Path, n: int, emotions) -> tuple[list, list, list]:
    """The first n generated mels of an augmentation set (its order is balanced)."""
    data = np.load(path)
    if n > len(data["mels"]):
        raise SystemExit(f"{path} holds {len(data['mels'])} generated mels; {n} requested.")
    mels = [m.astype(np.float32) for m in data["mels"][:n]]
    return mels, [emotions.index(str(e)) for e in data["emotions"][:n]], [str(c) for c in data["corpora"][:n]]


def finish(args, train, val, test, mels) -> dict:
    """Evaluate the best weights on the test speakers; write metrics.json and the plots."""
    import json

    from emodiff.plotting import plot_confusion, plot_curves, save_figure

    clf = EmotionClassifier.from_pretrained(args.out / "best")
    history = json.loads((args.out / "state" / "progress.json").read_text())["history"]
    metrics = {"protocol": args.protocol, "fold": args.fold, "n_folds": args.n_folds,
               "seed": args.seed, "arch": args.arch,
               "train_speakers": speakers(train), "val_speakers": speakers(val),
               "test_speakers": speakers(test), "history": history}
    if test:
        test_mels = [mels[r.path] for r in test]
        refs = speaker_references(clf.cfg, test, test_mels)
        predicted = clip_probabilities(clf, test_mels, refs).argmax(1)
        metrics["test"] = reports(clf.emotions, test, predicted)
        if refs is not None:  # as the app uses it: one clip, no statistics of its speaker
            single = reports(clf.emotions, test, clip_probabilities(clf, test_mels).argmax(1))
            metrics["test_single_clip"] = single
            print(" ".join(f"single-clip {c} UA={r['ua']:.3f}" for c, r in single.items()))
        # Per clip, so that comparisons between runs can be paired (train/augment_study.py).
        metrics["test_predictions"] = {r.name: clf.emotions[k] for r, k in zip(test, predicted)}
        for corpus, report in metrics["test"].items():
            save_figure(plot_confusion(report["confusion_matrix"], report["labels"],
                                       f"{corpus}: UA {report['ua']:.1%}, WA {report['wa']:.1%} (unseen speakers)"),
                        args.out / f"confusion_{corpus}.png")
            print(f"test {corpus:8} n={report['n']:4d} UA={report['ua']:.3f} WA={report['wa']:.3f} "
                  f"F1={report['macro_f1']:.3f}")
    save_figure(plot_curves(history, ["train_loss", "val_ua", "val_wa"]), args.out / "curves.png")
    save_json(metrics, args.out / "metrics.json")
    return metrics


if __name__ == "__main__":
    main()
