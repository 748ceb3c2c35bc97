"""Training a classifier as one function call: `train_classifier(cfg, records, out) -> metrics`.

The training script, the cross-validation and the augmentation study all call it with a
`TrainConfig`, so a recipe is a dataclass, not a list of flags. Speakers are split first; the
model is judged on speakers it never heard. Training is resumable: the order of batches,
crops and augmentation draws is a function of (seed, epoch, step), so a run resumed from its
checkpoint replays exactly what an uninterrupted run would have seen.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .augment import AugmentConfig, augment_batch
from .augment_sets import load_generated
from .classifier import ClassifierConfig, EmotionClassifier, ResNetSER
from .data import (ALL_EMOTIONS, DEFAULT_CACHE, EMOTIONS, random_split, speaker_fold, speaker_groups,
                   speaker_subset, speakers, speech_mels, split_by_speakers)
from .evaluation import clip_probabilities, evaluate, reports, speaker_references
from .mel import MelNormalizer
from .training import CropDataset, EpochSampler, ResumeState, balance_weights, make_accelerator, save_json, set_seed


@dataclass
class TrainConfig:
    """A classifier recipe: the network, the speaker split, optimisation and augmentation."""

    arch: str = "resnet50"  # or "small"
    emotions: tuple = EMOTIONS
    crop_frames: int = 160
    utterance_norm: bool = False  # subtract each clip's mean log-mel first
    speaker_norm: bool = False  # subtract each speaker's mean log-mel first (from their unlabelled clips)
    # the split: one fold of a speaker k-fold, the paper's random 8:2 split, explicit speakers, or none
    protocol: str = "speaker"
    n_folds: int = 5
    fold: int = 0
    test_speakers: tuple = ()
    no_test: bool = False  # train on every speaker (shipping)
    val_speakers: int = 3  # training speakers held out for early stopping (0: none, fixed epochs)
    speaker_share: float = 1.0  # train on this share of each corpus's training speakers, same draws per epoch
    seed: int = 0
    # optimisation
    epochs: int = 40
    patience: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    balance: bool = True  # corpus- and class-balanced sampling
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(gain_db=6.0))
    generated: Path | None = None  # npz of generated mels (augment_sets)
    generated_ratio: float = 0.0  # generated:real clips
    generated_fade: bool = False  # generated clips' sampling weight falls linearly to zero over the epochs
    checkpoint_every: int = 200  # steps between resume checkpoints
    max_steps: int = 0  # save and stop after this many steps, as if killed (tests)
    cpu: bool = False  # stay on the CPU even when a GPU is present

    def model_config(self) -> ClassifierConfig:
        make = ClassifierConfig.small if self.arch == "small" else ClassifierConfig.resnet50
        return make(emotions=tuple(self.emotions), crop_frames=self.crop_frames,
                    utterance_norm=self.utterance_norm, speaker_norm=self.speaker_norm)

    def to_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}


def split(cfg: TrainConfig, records) -> tuple[list, list, list]:
    """-> (train, val, test) record lists, all speaker-disjoint under the speaker protocol."""
    if cfg.no_test:
        train, test = list(records), []
    elif cfg.protocol == "random":
        tr, te = random_split(records, 0.2, seed=cfg.seed)
        train, test = [records[i] for i in tr], [records[i] for i in te]
    elif cfg.test_speakers:
        tr, te = split_by_speakers(records, cfg.test_speakers)
        train, test = [records[i] for i in tr], [records[i] for i in te]
    else:
        train, test = speaker_fold(records, cfg.fold, cfg.n_folds)
    if cfg.val_speakers <= 0:
        return train, [], test
    if cfg.protocol == "random":
        tr, va = random_split(train, 0.1, seed=cfg.seed + 1)
    else:
        k = max(2, round(len(speakers(train)) / cfg.val_speakers))
        tr, va = split_by_speakers(train, speaker_groups(train, k, seed=cfg.seed)[0])
    return [train[i] for i in tr], [train[i] for i in va], test


def train_classifier(cfg: TrainConfig, records, out, cache_dir=DEFAULT_CACHE) -> dict:
    """Train on `records` (every clip; `cfg` says which speakers train, validate and test),
    writing OUT/best/ (the classifier folder), OUT/metrics.json, OUT/curves.png and
    OUT/confusion_<corpus>.png; OUT/state/ holds the resume state. Calling it again with the
    same arguments resumes. Returns the metrics ({} on other processes, or when `max_steps`
    stopped the run)."""
    out = Path(out)
    unknown = {r.emotion for r in records} - set(cfg.emotions)
    if unknown:
        raise ValueError(f"Records with emotions {sorted(unknown)} outside the recipe's {list(cfg.emotions)}.")
    run = _Run(cfg, records, out, cache_dir)
    while run.progress["epoch"] < cfg.epochs:
        if not run.epoch():
            return {}  # stopped mid-epoch (max_steps)
        if run.stop_early():
            break
    run.acc.wait_for_everyone()
    return finish(cfg, out, run.train, run.val, run.test, run.mels) if run.acc.is_main_process else {}


class _Run:
    """One training run's state: data, model, optimiser, and the resumable counters."""

    def __init__(self, cfg: TrainConfig, records, out: Path, cache_dir):
        self.cfg, self.out = cfg, out
        self.acc = acc = make_accelerator(cpu=cfg.cpu)
        set_seed(cfg.seed)
        self.train, self.val, self.test = split(cfg, records)
        # As many draws per epoch as there are real clips in the whole training set, whatever share
        # of its speakers or generated data a run adds: conditions get the same compute, so a
        # difference comes from the data, not from more or fewer steps.
        draws = len(self.train)
        if cfg.speaker_share < 1:
            self.train = speaker_subset(self.train, cfg.speaker_share, cfg.seed)
        self.model_cfg = mcfg = cfg.model_config()
        with acc.main_process_first():
            self.mels = speech_mels(records, mcfg.mel, cache_dir, progress=acc.is_main_process)
        self.dataset, sampler, self.normalizer = self._data(draws)
        loader = torch.utils.data.DataLoader(self.dataset, cfg.batch_size, sampler=sampler, drop_last=True)
        model = ResNetSER(mcfg)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = len(loader) // acc.num_processes
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * self.steps_per_epoch + 1,
                                                    pct_start=0.1)
        self.model, self.opt, self.loader, self.sched = acc.prepare(model, opt, loader, sched)
        self.state = ResumeState(acc, out / "state", {"epoch": 0, "step": 0, "best": -1.0, "bad_epochs": 0,
                                                      "history": []})
        self.progress = self.state.data
        if self.state.resumed:
            acc.print(f"resumed at epoch {self.progress['epoch']}, step {self.progress['step']}")

    def _data(self, draws: int):
        """The training crops (real, then generated), their sampler and the normaliser."""
        cfg, mcfg, train = self.cfg, self.model_cfg, self.train
        train_mels = [self.mels[r.path] for r in train]
        refs = speaker_references(mcfg, train, train_mels) or [None] * len(train)
        train_mels = [mcfg.prepare(m, ref) for m, ref in zip(train_mels, refs)]
        normalizer = MelNormalizer.fit(train_mels, mcfg.mel)
        labels = [mcfg.emotions.index(r.emotion) for r in train]
        corpora = [r.corpus for r in train]
        if cfg.generated and cfg.generated_ratio > 0:
            gen_mels, gen_labels, gen_corpora = load_generated(cfg.generated, round(cfg.generated_ratio * len(train)),
                                                               mcfg.emotions, mcfg.mel)
            train_mels = train_mels + [mcfg.prepare(m) for m in gen_mels]
            labels, corpora = labels + gen_labels, corpora + gen_corpora
        dataset = CropDataset(train_mels, labels, mcfg.crop_frames, normalizer, cfg.seed)
        generated = np.arange(len(train_mels)) >= len(train)
        sampler = EpochSampler(len(train_mels), cfg.seed, balance_weights(corpora, labels) if cfg.balance else None,
                               draws, generated if cfg.generated_fade else None, cfg.epochs)
        return dataset, sampler, normalizer

    def classifier(self) -> EmotionClassifier:
        return EmotionClassifier(self.model_cfg, self.normalizer, self.acc.unwrap_model(self.model),
                                 metadata={"train_speakers": speakers(self.train), "args": self.cfg.to_dict()})

    def epoch(self) -> bool:
        """One epoch (or what is left of it after a resume); False if `max_steps` stopped it."""
        cfg, acc, progress = self.cfg, self.acc, self.progress
        epoch = progress["epoch"]
        self.dataset.set_epoch(epoch)
        done = progress["step"] - epoch * self.steps_per_epoch  # batches of this epoch already seen
        batches = acc.skip_first_batches(self.loader, done) if done else self.loader
        # Accelerate's loaders re-set the sampler's epoch from their own iteration count when
        # iterated; set it on the loader so a resumed run (a fresh loader) draws the same order.
        batches.set_epoch(epoch)
        self.model.train()
        losses = []
        for mel, mask, y in tqdm(batches, desc=f"epoch {epoch}", disable=not acc.is_main_process,
                                 total=self.steps_per_epoch - done, leave=False):
            losses.append(self.step(mel, mask, y))
            if progress["step"] % cfg.checkpoint_every == 0:
                self.state.save()
            if cfg.max_steps and progress["step"] >= cfg.max_steps:
                break
        if progress["step"] - epoch * self.steps_per_epoch < self.steps_per_epoch:  # stopped mid-epoch
            self.state.save()
            return False
        self.end_epoch(epoch, losses)
        return True

    def step(self, mel, mask, y) -> float:
        cfg, acc = self.cfg, self.acc
        step_seed = cfg.seed * 1_000_003 + self.progress["step"] * 97 + acc.process_index
        # Dropout draws from the global RNG, which data-loader iterators also consume when
        # created; reseeding per step keeps a resumed run identical to an uninterrupted one.
        torch.manual_seed(step_seed)
        gen = torch.Generator().manual_seed(step_seed)
        target = F.one_hot(y, len(self.model_cfg.emotions)).float()
        mel, target = augment_batch(mel, target, cfg.augment, self.normalizer, gen)
        loss = F.cross_entropy(self.model(mel, mask), target, label_smoothing=cfg.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step(), self.sched.step()
        self.progress["step"] += 1
        return loss.item()

    def end_epoch(self, epoch: int, losses: list) -> None:
        """Validate, keep the best weights (the last ones without validation speakers), log, save."""
        progress = self.progress
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None}
        improved = True
        if self.val:
            report = evaluate(self.classifier(), [self.mels[r.path] for r in self.val], self.val)["all"]
            record.update(val_ua=report["ua"], val_wa=report["wa"])
            improved = report["ua"] > progress["best"]
            progress["best"] = max(progress["best"], report["ua"])
            progress["bad_epochs"] = 0 if improved else progress["bad_epochs"] + 1
        if improved and self.acc.is_main_process:
            self.classifier().save_pretrained(self.out / "best")
        progress["history"].append(record)
        progress["epoch"] = epoch + 1
        self.acc.print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        self.state.save()

    def stop_early(self) -> bool:
        return bool(self.val) and self.progress["bad_epochs"] >= self.cfg.patience


def finish(cfg: TrainConfig, out: Path, train, val, test, mels) -> dict:
    """Evaluate the best weights on the test speakers; write metrics.json and the plots."""
    from .plotting import plot_confusion, plot_curves, save_figure

    clf = EmotionClassifier.from_pretrained(out / "best")
    history = json.loads((out / "state" / "progress.json").read_text())["history"]
    metrics = {"protocol": cfg.protocol, "fold": cfg.fold, "n_folds": cfg.n_folds, "seed": cfg.seed, "arch": cfg.arch,
               "train_speakers": speakers(train), "val_speakers": speakers(val),
               "test_speakers": speakers(test), "history": history}
    if test:
        test_mels = [mels[r.path] for r in test]
        refs = speaker_references(clf.cfg, test, test_mels)
        probs = clip_probabilities(clf, test_mels, refs)
        predicted = probs.argmax(1)
        metrics["test"] = reports(clf.emotions, test, probs)
        if refs is not None:  # as the app uses it: one clip, no statistics of its speaker
            single = reports(clf.emotions, test, clip_probabilities(clf, test_mels))
            metrics["test_single_clip"] = single
            print(" ".join(f"single-clip {c} UA={r['ua']:.3f}" for c, r in single.items()))
        # Per clip, so that comparisons between runs can be paired (the augmentation study).
        metrics["test_predictions"] = {r.name: clf.emotions[k] for r, k in zip(test, predicted)}
        for corpus, report in metrics["test"].items():
            save_figure(plot_confusion(report["confusion_matrix"], report["labels"],
                                       f"{corpus}: UA {report['ua']:.1%}, WA {report['wa']:.1%} (unseen speakers)"),
                        out / f"confusion_{corpus}.png")
            print(f"test {corpus:8} n={report['n']:4d} UA={report['ua']:.3f} WA={report['wa']:.3f} "
                  f"F1={report['macro_f1']:.3f}")
    save_figure(plot_curves(history, ["train_loss", "val_ua", "val_wa"]), out / "curves.png")
    save_json(metrics, out / "metrics.json")
    return metrics


def add_recipe_args(p) -> None:
    """A `TrainConfig`'s fields as flags of a script's parser (one flag per field, the
    augmentation's flattened); `recipe_from_args` reads them back."""
    p.add_argument("--emotions", nargs="+", default=list(EMOTIONS), choices=ALL_EMOTIONS)
    p.add_argument("--arch", choices=["resnet50", "small"], default="resnet50")
    p.add_argument("--crop-frames", type=int, default=160)
    p.add_argument("--utterance-norm", action="store_true", help="subtract each clip's mean log-mel first")
    p.add_argument("--speaker-norm", action="store_true",
                   help="subtract each speaker's mean log-mel first (from that speaker's unlabelled clips)")
    p.add_argument("--protocol", choices=["speaker", "random"], default="speaker",
                   help="test split: one fold of a speaker k-fold, or the paper's random 8:2 split")
    p.add_argument("--test-speakers", nargs="*", default=[], help="explicit test speakers, e.g. emodb_03")
    p.add_argument("--val-speakers", type=int, default=3,
                   help="training speakers held out for early stopping (0: none, fixed epochs)")
    p.add_argument("--speaker-share", type=float, default=1.0,
                   help="train on this share of each corpus's training speakers (chosen by --seed), "
                        "at the whole set's draws per epoch: what are more voices worth?")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--no-balance", action="store_true", help="uniform instead of corpus/class-balanced sampling")
    p.add_argument("--specaugment", action="store_true")
    p.add_argument("--gain-db", type=float, default=6.0)
    p.add_argument("--mixup", type=float, default=0.0)
    p.add_argument("--vtlp", type=float, default=0.0,
                   help="vocal tract length perturbation: frequency scale factors drawn from 1 +- this")
    p.add_argument("--generated", type=Path, help="npz of generated mels (emodiff.augment_sets)")
    p.add_argument("--generated-ratio", type=float, default=0.0, help="generated:real clips")
    p.add_argument("--generated-fade", action="store_true",
                   help="generated clips' sampling weight falls linearly to zero over the epochs")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between resume checkpoints")
    p.add_argument("--max-steps", type=int, default=0,
                   help="save and stop after this many steps, as if killed (tests)")


def recipe_from_args(a) -> TrainConfig:
    """The `TrainConfig` that `add_recipe_args` flags (and `add_common_args`' split, seed and
    device flags) describe."""
    known = {k: v for k, v in vars(a).items() if k in {f.name for f in fields(TrainConfig)}}
    return TrainConfig(**{**known, "emotions": tuple(a.emotions), "test_speakers": tuple(a.test_speakers),
                          "balance": not a.no_balance, "augment": AugmentConfig(
                              specaugment=a.specaugment, gain_db=a.gain_db, mixup=a.mixup, vtlp=a.vtlp)})
