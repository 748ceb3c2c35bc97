"""What every training script shares: seeding, the accelerator, balanced sampling of crops,
resumable state. Randomness is derived from (seed, epoch, index) so that a run resumed from
a checkpoint replays exactly the batches an uninterrupted run would have seen."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .checkpoint import replace_atomically
from .data import random_crop


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_accelerator(cpu: bool = False):
    """One process per device; under `torchrun --nproc_per_node 2` on a CPU this is MULTI_CPU
    data parallelism over gloo."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    # Some condition branches are skipped in some batches (dropped for guidance).
    return Accelerator(cpu=cpu, kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def balance_weights(corpora: Sequence[str], labels: Sequence[int]) -> np.ndarray:
    """Sampling weights giving every (corpus, class) cell the same total mass: each corpus
    counts equally, and within it each emotion."""
    cells = list(zip(corpora, labels))
    counts = {c: cells.count(c) for c in set(cells)}
    return np.array([1.0 / counts[c] for c in cells])


class EpochSampler(Sampler):
    """Weighted sampling with replacement (or a plain shuffle with no weights), reseeded by
    `set_epoch`, so each epoch's order is a pure function of (seed, epoch).

    `fade` marks items whose weight falls linearly from full at the first of `epochs` epochs to
    zero at the last: generated clips that shape early training and leave its end to real speech."""

    def __init__(self, n: int, seed: int, weights: np.ndarray | None = None, num_samples: int | None = None,
                 fade: np.ndarray | None = None, epochs: int = 1):
        self.n, self.seed, self.epoch = n, seed, 0
        self.num_samples = num_samples or n  # draws per epoch (weighted sampling only)
        if fade is not None and weights is None:
            weights = np.ones(n)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.fade, self.epochs = None if fade is None else torch.as_tensor(fade, dtype=torch.bool), epochs

    def epoch_weights(self) -> torch.Tensor | None:
        if self.fade is None:
            return self.weights
        keep = max(0.0, 1 - self.epoch / max(1, self.epochs - 1))
        return torch.where(self.fade, self.weights * keep, self.weights)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n if self.weights is None else self.num_samples

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        if self.weights is None:
            return iter(torch.randperm(self.n, generator=gen).tolist())
        return iter(torch.multinomial(self.epoch_weights(), self.num_samples, True, generator=gen).tolist())


class CropDataset(Dataset):
    """Random fixed-length crops of in-memory raw log-mels, normalised.

    Items: (mel (n_mels, frames), mask (frames,), label). The crop position depends on
    (seed, epoch, index) only.
    """

    def __init__(self, mels: Sequence[np.ndarray], labels: Sequence[int], frames: int,
                 normalizer, seed: int = 0):
        self.mels, self.labels, self.frames = mels, list(labels), frames
        self.normalizer, self.seed, self.epoch = normalizer, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, self.epoch, i))
        crop, mask = random_crop(self.mels[i], self.frames, rng,
                                 pad_value=self.normalizer.mel_config.silence)
        mel = self.normalizer.normalize(torch.from_numpy(crop))
        return mel, torch.from_numpy(mask), self.labels[i]


class GeneratorRun(NamedTuple):
    """What a generator's training script starts from (`start_generator_run`)."""

    acc: object  # the accelerate Accelerator
    records: list  # every clip
    train: list  # the training speakers' clips
    test: list  # the held-out speakers' (none when every speaker trains)
    mels: dict  # path -> trimmed raw log-mel (n_mels, T), every clip
    normalizer: object  # MelNormalizer fitted on the training clips only


def start_generator_run(args) -> GeneratorRun:
    """Accelerator, seed, speaker split and data of a generator (diffusion or GAN) from its
    `add_common_args` flags. The mel is the installed HiFi-GAN's: what is generated must be
    heard, and every generator's sets then share one mel. The main process fills the mel
    cache first; the others then read it."""
    from .data import EMOTIONS, index_corpora, speaker_fold, speech_mels
    from .mel import MelNormalizer
    from .vocoder import hifigan_config

    acc = make_accelerator(cpu=args.cpu)
    set_seed(args.seed)
    records = index_corpora(args.data_root, EMOTIONS, args.corpora)
    train, test = (records, []) if args.no_test else speaker_fold(records, args.fold, args.n_folds)
    mel_config = hifigan_config().mel
    with acc.main_process_first():
        mels = speech_mels(records, mel_config, args.cache_dir)
    return GeneratorRun(acc, records, train, test, mels, MelNormalizer.fit((mels[r.path] for r in train), mel_config))


def add_generator_args(p, sample_every: int, checkpoint_every: int) -> None:
    """Flags of a generator's training script beside `add_common_args`: how often to draw
    samples and to save the resume state, and a stop as if killed (tests)."""
    p.add_argument("--sample-every", type=int, default=sample_every, help="steps between sample grids")
    p.add_argument("--checkpoint-every", type=int, default=checkpoint_every, help="steps between resume checkpoints")
    p.add_argument("--max-steps", type=int, default=0, help="save and stop here, as if killed (tests)")


def save_json(obj, path) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1)))


def vars_json(args) -> dict:
    """A script's arguments as JSON can hold them (paths as strings), kept beside its results."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


class ResumeState:
    """Resume state kept apart from the shipped weights (as hifi-gan separates them):
    accelerate's state (model, optimizer, scheduler, RNG) plus a JSON of counters and history.
    `data` is that JSON; it is loaded back when the folder holds a previous run."""

    def __init__(self, acc, folder, initial: dict):
        self.acc, self.folder = acc, Path(folder)
        self.file = self.folder / "progress.json"
        self.data = dict(initial)
        self.resumed = self.file.exists()
        if self.resumed:
            acc.load_state(str(self.folder))
            self.data = json.loads(self.file.read_text())

    def save(self) -> None:
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            self.acc.save_state(str(self.folder))
            save_json(self.data, self.file)


def add_data_args(p) -> None:
    """Where the corpora and the feature cache live: flags of every script that reads clips."""
    from .data import DEFAULT_CACHE, DEFAULT_DATA_ROOT

    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="corpora, laid out like shared/data")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="feature cache (mels, functionals)")


def add_common_args(p, one_run: bool = True) -> None:
    """Flags every training script shares: output, data, speaker folds, device, and with
    `one_run` the fold held out, the seed and training on every speaker (a cross-validation
    script sets those itself, per run)."""
    p.add_argument("--out", type=Path, required=True)
    add_data_args(p)
    p.add_argument("--corpora", nargs="+", default=["emodb", "ravdess"])
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--cpu", action="store_true", help="stay on the CPU even when a GPU is present")
    if one_run:
        p.add_argument("--fold", type=int, default=0, help="speaker group held out for testing")
        p.add_argument("--no-test", action="store_true", help="train on every speaker (shipping)")
        p.add_argument("--seed", type=int, default=0)
