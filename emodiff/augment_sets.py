"""Augmentation sets: generated (or enhanced, or vocoded, or merely cropped) mels on disk, made
from a fold's training clips and used as extra training data.

A set is one compressed .npz: `mels` (N, n_mels, frames) fp16 raw log-mels, each clip's
`emotions` and `corpora` (taken from the training clip it follows), and entries that describe
how the set was made (`source`, `steps`, `guidance`, `mel_config`, ...), so a rerun can tell
whether a set on disk is the one it would make. Every clip is styled on training speakers
only: nothing of the test speakers leaks in (`check_unheard`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import save_npz
from .data import random_crop
from .evaluation import clip_probabilities
from .mel import MelConfig, mel_spectrogram

FILTER_KEEP = 0.5  # share of the generated pool a judge-filtered set keeps
PER_CLIP = ("mels", "emotions", "corpora")  # a set's arrays with one row per clip
# A new voice's style is s + w (s' - s) for two training speakers' styles s, s', w drawn from this
# range: half the draws fall between the two voices, half beyond either, where no training speaker is.
VOICE_BLEND = (-0.5, 1.5)
# An exaggerated voice's style is m + g (s - m), m its corpus's mean style: each training voice's
# difference from the average voice, g times over (should the generator render voices closer
# together than real speakers are, this spreads them out again).
VOICE_GAIN = 3.0


class LeakError(ValueError):
    """A model that heard (or may have heard) the speakers it is to be judged on."""


def check_unheard(model_speakers, test, what: str) -> None:
    """Refuse a model (generator or judge) that was trained on any of the test speakers, or
    that does not say whom it was trained on."""
    if not model_speakers:
        raise LeakError(f"The {what} does not record its training speakers: the study cannot rule out a leak.")
    overlap = set(model_speakers) & {r.speaker for r in test}
    if overlap:
        raise LeakError(f"The {what} was trained on test speakers {sorted(overlap)}: the study would leak.")


DESCRIPTIONS = ("README.md", "metadata.json")  # a model card and training metadata describe the weights


def fingerprint(folder: Path) -> str:
    """Short hash of a model folder's weights and configs, to tell which model made a set;
    its card and metadata are left out, so editing them keeps the model's identity. (Sets made
    before 2026-12-02 hashed the card too: the shipped pipeline was d1e3e0d41b55a283 then.)"""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name not in DESCRIPTIONS):
        h.update(f.relative_to(folder).as_posix().encode() + f.read_bytes())
    return h.hexdigest()[:16]


# ---- which training clips a set follows ----------------------------------------------------

def round_robin(train, n: int) -> list:
    """n training clips, each once before any twice, in a fixed shuffle: a generated set that
    follows them has any prefix balanced like the real data."""
    order = [train[i] for i in np.random.default_rng(0).permutation(len(train))]
    return [order[i % len(order)] for i in range(n)]


def partners(train, sources, fits) -> list:
    """For each source clip s a training clip o of the same corpus with fits(s, o) (fixed draw):
    another emotion's clip, the style reference of a mixed-style set, or another speaker's,
    the second voice of a new-voice set's blend."""
    rng = np.random.default_rng(0)
    pools = {}
    for r in train:
        pools.setdefault(r.corpus, []).append(r)
    chosen = []
    for r in sources:
        others = [o for o in pools[r.corpus] if fits(r, o)]
        chosen.append(others[rng.integers(len(others))])
    return chosen


def style_partners(train, sources) -> list:
    """A mixed-style set's style references: a clip of another emotion for each source clip."""
    return partners(train, sources, lambda s, o: o.emotion != s.emotion)


def voice_partners(train, sources) -> tuple[list, np.ndarray]:
    """For each source clip a clip of the same emotion by another speaker of its corpus, and
    the blend weight of that speaker's style (VOICE_BLEND; fixed draw)."""
    chosen = partners(train, sources, lambda s, o: o.speaker != s.speaker and o.emotion == s.emotion)
    return chosen, np.random.default_rng(1).uniform(*VOICE_BLEND, len(sources)).astype(np.float32)


def voice_styles(pipe, train, mels, sources, voice: str) -> torch.Tensor:
    """Style vectors (len(sources), style_dim) of a set with new voices: each source clip's
    blended with another speaker's ("blend", VOICE_BLEND) or pushed away from its corpus's mean
    voice ("exaggerated", VOICE_GAIN)."""
    of_clip = dict(zip((r.path for r in train), pipe.styles_of([mels[r.path] for r in train])))  # each clip once

    def styles(records):
        return torch.stack([of_clip[r.path] for r in records])

    own = styles(sources)
    if voice == "blend":
        voices, weights = voice_partners(train, sources)
        return own + torch.from_numpy(weights)[:, None] * (styles(voices) - own)
    if voice == "exaggerated":
        mean = {c: styles([r for r in train if r.corpus == c]).mean(0) for c in {r.corpus for r in train}}
        centre = torch.stack([mean[r.corpus] for r in sources])
        return centre + VOICE_GAIN * (own - centre)
    raise ValueError(f"Unknown voice {voice!r}; choose blend or exaggerated.")


def training_crops(sources, mels, frames: int, mel_config: MelConfig) -> np.ndarray:
    """A random `frames`-long crop of each source clip (fixed draw): an enhanced set's inputs,
    and its control."""
    rng = np.random.default_rng(0)
    return np.stack([random_crop(mels[r.path], frames, rng, mel_config.silence)[0] for r in sources])


# ---- making sets ---------------------------------------------------------------------------

def generate_set(pipe, train, mels, n: int, frames: int, steps: int, guidance: float, path: Path,
                 batch: int = 32, source: str = "", mixed_style: bool = False, sampler: str = "dpm",
                 strength: float = 0.0, voice: str = "") -> None:
    """n generated mels, emotions and corpora following the training clips round-robin; each
    styled on its training clip, with `mixed_style` on one of another emotion, or with a new
    `voice`, a style vector no training clip has (`voice_styles`); sampled by the pipeline's
    `sampler` ("dpm", the few-step solver, or "ddpm", ancestral) in `steps`. With a
    `strength`, each is instead a random crop of its training clip, enhanced toward the clip's
    own emotion from that far along the `steps`."""
    sources = round_robin(train, n)
    styles = style_partners(train, sources) if mixed_style else sources
    style = voice_styles(pipe, train, mels, sources, voice) if voice else None
    crops = torch.from_numpy(training_crops(sources, mels, frames, pipe.mel_config)) if strength else None
    out = []
    gen = torch.Generator().manual_seed(0)
    for s in tqdm(range(0, n, batch), desc="enhancing" if strength else "generating"):
        chunk = slice(s, s + batch)
        mel = render(pipe, [r.emotion for r in sources[chunk]], frames, steps, guidance, gen, sampler,
                     inputs=crops[chunk] if strength else None, strength=strength,
                     references=None if strength or voice else [torch.from_numpy(mels[r.path]) for r in styles[chunk]],
                     style=style[chunk] if voice else None)
        out.append(mel.numpy().astype(np.float16))
    save_set(path, out, sources, pipe.mel_config, steps=steps, guidance=guidance, sampler=sampler,
             strength=strength, source=source)


def render(pipe, emotions, frames: int, steps: int, guidance: float, generator, sampler: str = "dpm",
           inputs=None, strength: float = 0.0, references=None, style=None) -> torch.Tensor:
    """The one place augmented mels are made, for the study's sets and for `emodiff augment`:
    with a `strength`, `inputs` (B, n_mels, T) raw log-mels enhanced toward `emotions` (SDEdit);
    else new mels of `frames` frames (rounded up for the UNet), styled on `references` (raw
    log-mels, one per emotion) or `style` vectors, or on no one. -> (B, n_mels, T') raw log-mels."""
    if strength:
        return pipe.enhance_batch(inputs, emotions, strength, steps, guidance, generator, sampler)
    return pipe.generate_batch(emotions, frames, steps, guidance, generator, references, sampler, style=style)


def generate_gan_set(gan, train, n: int, path: Path, batch: int = 64, source: str = "") -> None:
    """As `generate_set`, from the GAN baseline: emotion and corpus follow the training clips
    round-robin (the GAN takes no style reference)."""
    sources = round_robin(train, n)
    gen = torch.Generator().manual_seed(0)
    out = [gan.generate([r.emotion for r in chunk], [r.corpus for r in chunk], gen).numpy().astype(np.float16)
           for chunk in (sources[s:s + batch] for s in range(0, n, batch))]
    save_set(path, out, sources, gan.normalizer.mel_config, source=source)


def crop_set(train, mels, n: int, frames: int, path: Path, mel_config: MelConfig, source: str = "") -> None:
    """As `generate_set` with a `strength`, minus the diffusion: the same crops as they are."""
    sources = round_robin(train, n)
    save_set(path, [training_crops(sources, mels, frames, mel_config).astype(np.float16)], sources, mel_config,
             source=source)


def save_set(path: Path, mels: list, sources: list, mel_config: MelConfig, **entries) -> None:
    """A set on disk: the mels (fp16 batches), each one's emotion and corpus taken from its
    training clip, the mel config they were made with, and `entries` describing how."""
    save_npz(path, mels=np.concatenate(mels), emotions=np.array([r.emotion for r in sources]),
             corpora=np.array([r.corpus for r in sources]), mel_config=json.dumps(mel_config.to_dict()), **entries)


def set_mel_config(data) -> MelConfig:
    """The mel config a set (a loaded .npz or its dict) was made with."""
    if "mel_config" not in data:
        raise ValueError("This set does not record its mel configuration; make it again.")
    return MelConfig.from_dict(json.loads(str(data["mel_config"])))


def holds(path: Path, source: str, n: int) -> bool:
    """Whether `path` is a set made from `source` with at least n clips, so it can be kept."""
    if not path.exists():
        return False
    with np.load(path) as kept:
        return str(kept["source"]) == str(source) and len(kept["emotions"]) >= n


def subset(data: dict, rows, **replace) -> dict:
    """A set's clips at `rows` (a mask or a slice), the entries that describe the set (steps,
    guidance, source) kept as they are; `replace` adds or overrides entries."""
    return {**{k: v[rows] if k in PER_CLIP else v for k, v in data.items()}, **replace}


def filter_set(path: Path, judge, out: Path, keep: float = FILTER_KEEP, judge_id: str = "") -> dict:
    """The share `keep` of each emotion's generated mels that `judge` finds most like that
    emotion, in their original (balanced) order. Returns the judge's mean target probability
    over all and over the kept mels, also stored in `out` beside `judge_id`: when `out` already
    holds this pool's selection by the same judge, those are returned without scoring again."""
    if judge_id and out.exists():
        with np.load(path) as pool, np.load(out) as previous:
            if str(previous.get("judge")) == judge_id and str(previous.get("source")) == str(pool.get("source")):
                return json.loads(str(previous["filtering"]))
    data = dict(np.load(path))
    probs = clip_probabilities(judge, [m.astype(np.float32) for m in data["mels"]])
    target = probs[np.arange(len(probs)), [judge.emotions.index(str(e)) for e in data["emotions"]]]
    kept = np.zeros(len(target), bool)
    for e in np.unique(data["emotions"]):
        idx = np.flatnonzero(data["emotions"] == e)
        kept[idx[np.argsort(-target[idx])[:int(np.ceil(keep * len(idx)))]]] = True
    stats = {"keep": keep, "judge_target_prob_all": float(target.mean()),
             "judge_target_prob_kept": float(target[kept].mean())}
    save_npz(out, **subset(data, kept, judge=judge_id, filtering=json.dumps(stats)))
    return stats


def vocoded_mels(mels: np.ndarray, mel_config: MelConfig, batch: int = 16, desc: str = "vocoding"):
    """Waves of raw log-mels (N, n_mels, T) by HiFi-GAN, a batch at a time: what a clip saved as
    audio would carry. Yields (N_batch, T * hop) float32 arrays."""
    from .vocoder import Vocoder

    vocoder = Vocoder(mel_config)
    for s in tqdm(range(0, len(mels), batch), desc=desc):
        yield vocoder(torch.from_numpy(mels[s:s + batch].astype(np.float32))).numpy()


def vocode_set(path: Path, out: Path, n: int, batch: int = 16) -> None:
    """The first n generated mels (a balanced prefix) through HiFi-GAN and back through the
    set's own mel front end: only what a waveform can carry survives. Kept when `out` already
    holds at least n from the same pool."""
    with np.load(path) as pool:
        if holds(out, pool["source"], n):
            return
    data = dict(np.load(path))
    cfg = set_mel_config(data)
    mels = [mel_spectrogram(torch.from_numpy(waves), cfg).numpy().astype(np.float16)
            for waves in vocoded_mels(data["mels"][:n], cfg, batch)]
    save_npz(out, **subset(data, slice(0, n), mels=np.concatenate(mels)))


def load_generated(path: Path, n: int, emotions, mel_config: MelConfig) -> tuple[list, list, list]:
    """The first n mels of a set (its order is balanced) as float32, with label indices into
    `emotions` and corpora: extra training clips for a model that reads `mel_config`."""
    data = np.load(path)
    if set_mel_config(data) != mel_config:
        raise ValueError(f"{path} holds mels of another configuration than the model reads.")
    if n > len(data["mels"]):
        raise ValueError(f"{path} holds {len(data['mels'])} generated mels; {n} requested.")
    mels = [m.astype(np.float32) for m in data["mels"][:n]]
    return mels, [emotions.index(str(e)) for e in data["emotions"][:n]], [str(c) for c in data["corpora"][:n]]


def generated_functionals(path: Path, n: int, cfg, batch: int = 16) -> np.ndarray:
    """(n, D) openSMILE statistics (`cfg`: a FunctionalsConfig) of a set's first n mels,
    vocoded, resampled to the functionals model's rate if need be; kept beside the set."""
    from .audio import resample
    from .functionals import functionals

    cache = path.with_name(f"{path.stem}_functionals.npz")
    with np.load(path) as data:
        source = f"{data['source']} {cfg.key()}"
        if cache.exists():
            with np.load(cache) as kept:
                if str(kept["source"]) == source and len(kept["x"]) >= n:
                    return kept["x"][:n]
        mels, mel_config = data["mels"][:n], set_mel_config(data)
    rows = []
    for waves in vocoded_mels(mels, mel_config, batch, desc="vocoding + functionals"):
        for w in waves:
            if mel_config.sample_rate != cfg.sample_rate:
                w = resample(w, mel_config.sample_rate, cfg.sample_rate)
            rows.append(functionals(w, cfg))
    x = np.stack(rows)
    save_npz(cache, x=x, source=source)
    return x
