"""Both corpora as labelled records, speaker-safe splits, a mel cache and fixed-length crops.

Every split here is by *speaker*: a model is always judged on voices it never heard.
"""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .audio import load_audio
from .checkpoint import replace_atomically
from .mel import MelConfig, mel_spectrogram

# The six emotions EmoDB and RAVDESS share (the paper's classes), in label order.
EMOTIONS = ("neutral", "happy", "sad", "angry", "fear", "disgust")
# Classes only one corpus has; a user may opt in.
EXTRA_EMOTIONS = ("boredom", "calm", "surprised")
ALL_EMOTIONS = EMOTIONS + EXTRA_EMOTIONS

EMODB_EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy",
                  "T": "sad", "N": "neutral"}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}
EMODB_TEXTS = {  # sentence ids -> German text (Burkhardt et al. 2005)
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fear", "07": "disgust", "08": "surprised"}
RAVDESS_TEXTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_CACHE = Path.home() / ".cache" / "emodiff"


@dataclass(frozen=True)
class Record:
    """One labelled clip. `speaker` is unique across corpora (e.g. 'emodb_03')."""

    path: Path
    corpus: str  # 'emodb' | 'ravdess'
    speaker: str
    gender: str  # 'female' | 'male'
    emotion: str
    intensity: str  # 'normal' | 'strong'
    text: str

    @property
    def name(self) -> str:
        return self.path.stem


def parse_emodb(path: Path) -> Record | None:
    """`03a01Fa.flac`: speaker 03, text a01, emotion F, version a."""
    stem = path.stem
    if len(stem) < 6 or stem[5] not in EMODB_EMOTIONS or not stem[:2].isdigit():
        return None
    spk = stem[:2]
    return Record(path, "emodb", f"emodb_{spk}", "female" if spk in EMODB_FEMALE else "male",
                  EMODB_EMOTIONS[stem[5]], "normal", EMODB_TEXTS.get(stem[2:5], stem[2:5]))


def parse_ravdess(path: Path) -> Record | None:
    """`03-01-05-02-01-01-12`: audio-only, speech, emotion, intensity, text, repetition, actor."""
    parts = path.stem.split("-")
    if len(parts) != 7 or parts[:2] != ["03", "01"] or parts[2] not in RAVDESS_EMOTIONS:
        return None
    actor = int(parts[6])
    return Record(path, "ravdess", f"ravdess_{actor:02d}", "male" if actor % 2 else "female",
                  RAVDESS_EMOTIONS[parts[2]], "strong" if parts[3] == "02" else "normal",
                  RAVDESS_TEXTS.get(parts[4], parts[4]))


def index_corpora(data_root: str | Path = DEFAULT_DATA_ROOT,
                  emotions: Sequence[str] = EMOTIONS,
                  corpora: Sequence[str] = ("emodb", "ravdess")) -> list[Record]:
    """All clips under `data_root` (layout of `shared/data`) whose emotion is in `emotions`,
    sorted by path. Files whose names do not parse are skipped."""
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"Data root {root} does not exist.")
    unknown = set(emotions) - set(ALL_EMOTIONS)
    if unknown:
        raise ValueError(f"Unknown emotions {sorted(unknown)}; choose from {ALL_EMOTIONS}.")
    found = []
    if "emodb" in corpora:
        found += [parse_emodb(p) for p in sorted((root / "emodb").glob("wav/*.*"))]
    if "ravdess" in corpora:
        found += [parse_ravdess(p) for p in sorted((root / "ravdess").glob("Actor_*/*.*"))]
    return [r for r in found if r is not None and r.emotion in emotions
            and r.path.suffix.lower() in (".wav", ".flac")]


def speakers(records: Iterable[Record]) -> list[str]:
    return sorted({r.speaker for r in records})


def average_spectrum(mels: Sequence[np.ndarray]) -> np.ndarray:
    """(n_mels,) mean of the clips' mean log-mels: every clip counts once whatever its length."""
    return np.mean([np.asarray(m, dtype=np.float64).mean(axis=1) for m in mels], axis=0).astype(np.float32)


def speaker_means(records: Sequence[Record], mels: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Each speaker's `average_spectrum` over their clips. Uses no labels."""
    by_speaker = defaultdict(list)
    for r, mel in zip(records, mels):
        by_speaker[r.speaker].append(mel)
    return {s: average_spectrum(m) for s, m in by_speaker.items()}


def reference_groups(records: Sequence[Record], size: int, seed: int = 0) -> list[Record]:
    """The records with each speaker's clips dealt at random into groups of `size` (the
    remainder joining the last group), each group posing as a speaker (`emodb_03#1`): what a
    speaker-normalised model knows of a voice when a user hands over that many clips. 0 keeps
    every speaker whole."""
    if size <= 0:
        return list(records)
    rng = np.random.default_rng(seed)
    names = [r.speaker for r in records]
    for s in sorted(set(names)):
        idx = rng.permutation([i for i, n in enumerate(names) if n == s])
        n_groups = max(1, len(idx) // size)
        for j, i in enumerate(idx):
            names[i] = f"{s}#{min(j // size, n_groups - 1)}"
    return [replace(r, speaker=n) for r, n in zip(records, names)]


# --------------------------------------------------------------------------------------
# Speaker-independent splits. A fold is (train_indices, test_indices) into `records`.
# --------------------------------------------------------------------------------------

Fold = tuple[list[int], list[int]]


def split_by_speakers(records: Sequence[Record], test_speakers: Iterable[str]) -> Fold:
    test = set(test_speakers)
    return ([i for i, r in enumerate(records) if r.speaker not in test],
            [i for i, r in enumerate(records) if r.speaker in test])


def speaker_fold(records: Sequence[Record], fold: int, k: int = 5) -> tuple[list[Record], list[Record]]:
    """(train, test) records when speaker group `fold` of `speaker_groups(records, k)` is held out."""
    train, test = split_by_speakers(records, speaker_groups(records, k)[fold])
    return [records[i] for i in train], [records[i] for i in test]


def leave_one_speaker_out(records: Sequence[Record]) -> list[Fold]:
    return [split_by_speakers(records, [s]) for s in speakers(records)]


def speaker_groups(records: Sequence[Record], k: int, seed: int = 0) -> list[list[str]]:
    """Deal speakers into k groups, balanced by corpus and gender where the counts allow.

    Speakers are shuffled within each (corpus, gender) stratum, then dealt round-robin,
    continuing where the previous stratum stopped so group sizes stay within one.
    """
    strata = defaultdict(list)
    for r in records:
        if r.speaker not in strata[(r.corpus, r.gender)]:
            strata[(r.corpus, r.gender)].append(r.speaker)
    n_speakers = sum(len(v) for v in strata.values())
    if not 2 <= k <= n_speakers:
        raise ValueError(f"Need 2 <= k <= {n_speakers} speakers, got k={k}.")
    rng = random.Random(seed)
    groups: list[list[str]] = [[] for _ in range(k)]
    slot = 0
    for key in sorted(strata):
        members = sorted(strata[key])
        rng.shuffle(members)
        for spk in members:
            groups[slot % k].append(spk)
            slot += 1
    return [sorted(g) for g in groups]


def speaker_subset(records: Sequence[Record], share: float, seed: int = 0) -> list[Record]:
    """The records of a seeded `share` of each corpus's speakers (at least one), genders
    alternating so a half keeps the corpus's balance: how much is a model's number of voices
    worth on unseen ones?"""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}.")
    rng = random.Random(seed)
    keep = set()
    for corpus in sorted({r.corpus for r in records}):
        by_gender = defaultdict(list)
        for s, g in sorted({(r.speaker, r.gender) for r in records if r.corpus == corpus}):
            by_gender[g].append(s)
        ranked = []  # (rank within its gender's shuffled list, random tie-break, speaker)
        for members in by_gender.values():
            rng.shuffle(members)
            ranked += [(i, rng.random(), s) for i, s in enumerate(members)]
        n = max(1, int(share * len(ranked) + 0.5))
        keep |= {s for *_, s in sorted(ranked)[:n]}
    return [r for r in records if r.speaker in keep]


def speaker_kfold(records: Sequence[Record], k: int, seed: int = 0) -> list[Fold]:
    """k folds whose test sets are disjoint speaker groups covering every speaker."""
    return [split_by_speakers(records, g) for g in speaker_groups(records, k, seed)]


def content_groups(records: Sequence[Record]) -> list[str]:
    """SHA-256 of each file: byte-identical clips (one RAVDESS pair) share a group."""
    return [file_digest(r.path) for r in records]


def random_split(records: Sequence[Record], test_fraction: float = 0.2, seed: int = 0) -> Fold:
    """The paper's random 8:2 split, which mixes speakers. For comparison only: it overstates
    accuracy on new voices. Identical files stay on one side."""
    groups = content_groups(records)
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    test = set(unique[: round(test_fraction * len(unique))])
    return ([i for i, g in enumerate(groups) if g not in test],
            [i for i, g in enumerate(groups) if g in test])


# --------------------------------------------------------------------------------------
# Feature cache: mels computed once, keyed by file content and mel config.
# --------------------------------------------------------------------------------------

def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class FeatureCache:
    """Log-mels (float32 .npy, (n_mels, T)) under `root/<config-hash>/<content-hash>.npy`.

    Keyed by content, not path, so moving the data never invalidates it and an edited file
    never returns a stale mel. Lives outside the repository (default `~/.cache/emodiff`).
    """

    def __init__(self, root: str | Path, mel_config: MelConfig):
        self.mel_config = mel_config
        config_hash = hashlib.sha256(mel_config.key().encode()).hexdigest()[:12]
        self.dir = Path(root) / f"mel-{config_hash}"

    def path_for(self, audio_path: Path) -> Path:
        return self.dir / f"{file_digest(audio_path)}.npy"

    def get(self, audio_path: Path) -> np.ndarray:
        """The clip's log-mel, computed and stored on first use."""
        target = self.path_for(audio_path)
        if target.exists():
            return np.load(target)
        mel = compute_mel(audio_path, self.mel_config)
        replace_atomically(target, lambda tmp: np.save(tmp, mel))
        return mel

    def build(self, paths: Sequence[Path], workers: int = 2, progress: bool = False) -> list[np.ndarray]:
        """`get` for every path, computing missing mels in `workers` processes."""
        from tqdm import tqdm

        missing = [p for p in paths if not self.path_for(p).exists()]
        if missing and workers > 1:
            chunks = [missing[i::workers] for i in range(workers)]
            # spawn, not fork: a forked child inherits torch's thread pool in a broken state.
            import multiprocessing as mp

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_fill_cache, str(self.dir.parent), self.mel_config, c)
                           for c in chunks]
                for f in futures:
                    f.result()
        return [self.get(p) for p in tqdm(paths, disable=not progress, desc="mels")]


def _fill_cache(root: str, mel_config: MelConfig, paths: list[Path]) -> None:
    torch.set_num_threads(1)
    cache = FeatureCache(root, mel_config)
    for p in paths:
        cache.get(p)


def speech_mels(records: Sequence[Record], mel_config: MelConfig, cache_dir: str | Path = DEFAULT_CACHE,
                progress: bool = False) -> dict[Path, np.ndarray]:
    """Each clip's cached log-mel (`mel_config`: the consuming model's) with its silent edges
    trimmed, keyed by path: what every model here is trained and judged on."""
    mels = FeatureCache(cache_dir, mel_config).build([r.path for r in records], progress=progress)
    return {r.path: trim_silence(m) for r, m in zip(records, mels)}


def compute_mel(audio_path: Path, mel_config: MelConfig) -> np.ndarray:
    audio = load_audio(audio_path, sample_rate=mel_config.sample_rate, max_seconds=600)
    return mel_spectrogram(audio.samples, mel_config).numpy()


# --------------------------------------------------------------------------------------
# Trimming and fixed-length crops. Mels are raw log-mels, (n_mels, T).
# --------------------------------------------------------------------------------------

def trim_silence(mel: np.ndarray, top_db: float = 40.0, margin: int = 4) -> np.ndarray:
    """Drop leading/trailing frames more than `top_db` below the loudest frame.

    RAVDESS clips carry ~1 s of silence at each end; crops should land on speech.
    """
    energy = np.log(np.exp(mel).sum(axis=0) + 1e-10) * (20 / np.log(10))  # dB, per frame
    loud = np.flatnonzero(energy > energy.max() - top_db)
    start = max(int(loud[0]) - margin, 0)
    end = min(int(loud[-1]) + 1 + margin, mel.shape[1])
    return mel[:, start:end]


def _pad(mel: np.ndarray, frames: int, pad_value: float) -> tuple[np.ndarray, np.ndarray]:
    n = min(mel.shape[1], frames)
    out = np.full((mel.shape[0], frames), pad_value, dtype=np.float32)
    out[:, :n] = mel[:, :n]
    mask = np.zeros(frames, dtype=bool)
    mask[:n] = True
    return out, mask


def random_crop(mel: np.ndarray, frames: int, rng: np.random.Generator,
                pad_value: float) -> tuple[np.ndarray, np.ndarray]:
    """A random `frames`-long window (training), padded with `pad_value` (the mel config's
    `silence`). Returns (crop, mask); mask is False on padding."""
    start = int(rng.integers(0, mel.shape[1] - frames + 1)) if mel.shape[1] > frames else 0
    return _pad(mel[:, start:], frames, pad_value)


def center_crop(mel: np.ndarray, frames: int, pad_value: float) -> tuple[np.ndarray, np.ndarray]:
    start = max((mel.shape[1] - frames) // 2, 0)
    return _pad(mel[:, start:], frames, pad_value)


def sliding_windows(mel: np.ndarray, frames: int, pad_value: float,
                    hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Windows covering the whole clip (evaluation): ((W, n_mels, frames), (W, frames) masks).
    The last window is aligned to the clip's end so no frame is left out."""
    hop = hop or frames // 2
    T = mel.shape[1]
    starts = list(range(0, max(T - frames, 0) + 1, hop))
    if T > frames and starts[-1] != T - frames:
        starts.append(T - frames)
    crops, masks = zip(*(_pad(mel[:, s:], frames, pad_value) for s in starts))
    return np.stack(crops), np.stack(masks)
