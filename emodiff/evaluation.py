"""Scoring classifiers: batched clip probabilities, ensembles of mixed members, and the
per-corpus reports (UA, WA, confusion) every evaluation here prints.

Apart from the network (`classifier.py`) because it spans both kinds of model, the CNN and the
functionals model, and because a script that only scores needs no training code.
"""
from __future__ import annotations

import json

import numpy as np
import torch

from .audio import load_audio
from .checkpoint import model_folder
from .classifier import ClassifierConfig, EmotionClassifier, speaker_reference
from .data import DEFAULT_CACHE, speaker_means
from .functionals import MODEL_TYPE as FUNCTIONALS, FunctionalsClassifier, clip_functionals
from .mel import MelConfig, mel_spectrogram


@torch.inference_mode()
def window_logits(clf: EmotionClassifier, mels, speaker_means=None, batch_size: int = 64):
    """Raw log-mels -> (windows' logits (n_windows, n_classes), the clip each came from
    (n_windows,)); windows of all clips batched. `speaker_means`: one per clip
    (`speaker_references`), for speaker-normalised models."""
    crops, masks, owner = [], [], []
    refs = speaker_means if speaker_means is not None else [None] * len(mels)
    for i, (mel, ref) in enumerate(zip(mels, refs)):
        c, m = clf.windows(torch.as_tensor(mel), ref)
        crops.append(c), masks.append(m), owner.extend([i] * len(c))
    crops, masks = torch.cat(crops), torch.cat(masks)
    was_training = clf.model.training
    clf.model.eval()
    logits = torch.cat([clf.model(crops[s:s + batch_size].to(clf.device), masks[s:s + batch_size].to(clf.device)).cpu()
                        for s in range(0, len(crops), batch_size)])
    clf.model.train(was_training)
    return logits, torch.tensor(owner)


def pool_windows(probs: torch.Tensor, owner: torch.Tensor, n_clips: int) -> np.ndarray:
    """Windows' probabilities -> each clip's, their mean (as `EmotionClassifier.mel_probabilities`)."""
    out = torch.zeros(n_clips, probs.shape[1], dtype=probs.dtype).index_add_(0, owner, probs)
    return (out / torch.bincount(owner, minlength=n_clips)[:, None]).numpy()


def clip_probabilities(clf: EmotionClassifier, mels, speaker_means=None, batch_size: int = 64) -> np.ndarray:
    """Raw log-mels -> (n_clips, n_classes) calibrated probabilities; windows of all clips batched."""
    logits, owner = window_logits(clf, mels, speaker_means, batch_size)
    return pool_windows(clf.window_probabilities(logits), owner, len(mels))


def sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (..., n_classes) with their log divided by `temperature` and renormalised
    (temperature scaling of something that is already a probability)."""
    if temperature == 1.0:
        return np.asarray(probs)
    logp = np.log(np.clip(probs, 1e-12, None)) / temperature
    p = np.exp(logp - logp.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def speaker_references(cfg: ClassifierConfig, records, mels) -> list | None:
    """Per clip, its speaker's mean log-mel over the given clips (labels unused) when `cfg`
    normalises by speaker; None otherwise."""
    if not cfg.speaker_norm:
        return None
    means = speaker_means(records, mels)
    return [means[r.speaker] for r in records]


def load_classifier(path, device: str = "cpu") -> "EmotionClassifier | FunctionalsClassifier":
    """Either kind of saved classifier (a folder or a Hub repo id), told apart by its config.json."""
    path = model_folder(path)
    config = path / "config.json"
    if config.is_file() and json.loads(config.read_text()).get("model_type") == FUNCTIONALS:
        return FunctionalsClassifier.from_pretrained(path)
    return EmotionClassifier.from_pretrained(path, device)


class Ensemble:
    """Classifiers whose probabilities are averaged. Members may differ in recipe and kind: a
    plain and a speaker-normalised CNN, and the functionals models, err on partly different
    clips, so together they beat each alone (README, "Ensembles")."""

    def __init__(self, members, temperature: float = 1.0, mel_temperature: float = 1.0):
        self.members = list(members)
        # Averaging calibrated members leaves the ensemble less sure than it is right: its own
        # temperature (fitted on held-out speakers, train/ensemble_cv.py --calibrate) sharpens the
        # mean; `mel_temperature` does the same for the CNN members alone, judging a mel.
        self.temperature, self.mel_temperature = temperature, mel_temperature
        if not self.members:
            raise ValueError("An ensemble needs at least one classifier.")
        self.networks = [m for m in self.members if isinstance(m, EmotionClassifier)]
        if len({m.emotions for m in self.members}) > 1 or len({m.cfg.mel for m in self.networks}) > 1:
            raise ValueError("Ensemble members must share their emotions and mel configuration.")

    @classmethod
    def from_pretrained(cls, paths, device: str = "cpu", temperature: float = 1.0,
                        mel_temperature: float = 1.0) -> "Ensemble":
        return cls((load_classifier(p, device) for p in paths), temperature, mel_temperature)

    def combine(self, per_member, everyone: bool = True) -> np.ndarray:
        """(n_members, ..., n_classes) probabilities -> the ensemble's: their mean, sharpened by
        the temperature fitted for all members together when they come from `everyone`, else by
        the CNN members' (the only ones that can judge a mel)."""
        return sharpen(np.mean(per_member, axis=0), self.temperature if everyone else self.mel_temperature)

    @property
    def emotions(self) -> tuple:
        return self.members[0].emotions

    @property
    def mel_config(self) -> MelConfig | None:
        """The mel the CNN members read (they share it); None for functionals models alone."""
        return self.networks[0].mel_config if self.networks else None

    @property
    def speaker_norm(self) -> bool:
        """Whether some member wants several clips of a speaker."""
        return any(m.cfg.speaker_norm for m in self.members)

    @property
    def train_speakers(self) -> set:
        return {s for m in self.members for s in m.metadata.get("train_speakers", [])}

    def _mean(self, per_member: list[dict[str, float]]) -> dict[str, float]:
        probs = self.combine([[p[e] for e in self.emotions] for p in per_member], len(per_member) == len(self.members))
        return dict(zip(self.emotions, map(float, probs)))

    def confidences(self, mel, speaker_mean=None) -> dict[str, float]:
        """One clip's raw log-mel -> {emotion: probability} of the CNN members, averaged (a mel
        has no waveform for the functionals models: used to judge generated mels);
        speaker-normalised members use `speaker_mean`, or see the clip alone without it."""
        if not self.networks:
            raise ValueError("This ensemble has no mel classifier.")
        return self._mean([m.confidences(mel, speaker_mean) for m in self.networks])

    def predict(self, audio) -> dict[str, float]:
        """As `EmotionClassifier.predict`, every member voting: the clip decoded and analysed
        once for all members. A speaker-normalised functionals model cannot see a lone clip."""
        return self._predict([audio], speaker=False)[0]

    def predict_speaker(self, audios) -> list[dict[str, float]]:
        """As `EmotionClassifier.predict_speaker`, members' probabilities averaged; each clip is
        decoded and analysed, and the speaker's statistics taken, once for all members."""
        return self._predict(list(audios), speaker=True)

    def _predict(self, audios: list, speaker: bool) -> list[dict[str, float]]:
        rate = (self.mel_config or self.members[0].cfg).sample_rate  # functionals resample what they need
        audios = [a if hasattr(a, "samples") else load_audio(a, sample_rate=rate, crop=True) for a in audios]
        mels = [mel_spectrogram(a.samples, self.mel_config) for a in audios] if self.networks else []
        ref = speaker_reference(mels) if speaker and any(m.cfg.speaker_norm for m in self.networks) else None
        per_member, statistics = [], {}  # openSMILE runs once per feature configuration, as mels once
        for m in self.members:
            if isinstance(m, FunctionalsClassifier):
                if m.cfg.key() not in statistics:
                    statistics[m.cfg.key()] = m.features(audios)
                per_member.append(m.confidences(statistics[m.cfg.key()], one_speaker=speaker))
            else:
                per_member.append([m.confidences(mel, ref) for mel in mels])
        return [self._mean([probs[i] for probs in per_member]) for i in range(len(audios))]


def member_scorer(member, mels, records, single_clip: bool = False, cache_dir=DEFAULT_CACHE):
    """One member's (n_clips, n_classes) probabilities on labelled clips as a function of its
    temperature: the model runs once, calibration tries many temperatures. Speaker-normalised
    members get each speaker's statistics from all their clips given (labels unused) unless
    `single_clip`, which a speaker-normalised functionals model refuses."""
    if isinstance(member, FunctionalsClassifier):
        x = clip_functionals([r.path for r in records], member.cfg, cache_dir)
        logits = member.logits(x, None if single_clip else [r.speaker for r in records])
        return lambda t: (logits / t).softmax(-1).numpy()
    logits, owner = window_logits(member, mels, None if single_clip else speaker_references(member.cfg, records, mels))
    return lambda t: pool_windows((logits / t).softmax(-1), owner, len(mels))


def member_probabilities(member, mels, records, single_clip: bool = False, cache_dir=DEFAULT_CACHE) -> np.ndarray:
    """(n_clips, n_classes) of one ensemble member on labelled clips, at its own temperature."""
    return member_scorer(member, mels, records, single_clip, cache_dir)(member.cfg.temperature)


def ensemble_probabilities(clf, mels, records, single_clip: bool = False, cache_dir=DEFAULT_CACHE) -> np.ndarray:
    """(n_clips, n_classes) of a classifier or an ensemble (its members' probabilities averaged)."""
    if not isinstance(clf, Ensemble):
        return member_probabilities(clf, mels, records, single_clip, cache_dir)
    return clf.combine([member_probabilities(m, mels, records, single_clip, cache_dir) for m in clf.members])


def evaluate(clf, mels, records, single_clip: bool = False, cache_dir=DEFAULT_CACHE) -> dict:
    """Per-corpus and overall reports (`reports`) of a classifier or an ensemble.
    Speaker-normalised members get each speaker's statistics from all their clips here, unless
    `single_clip` (each clip alone, as in the app's one-clip path)."""
    return reports(clf.emotions, records, ensemble_probabilities(clf, mels, records, single_clip, cache_dir))


def reports(emotions, records, probs) -> dict:
    """Classification reports (see `metrics.classification_report`) of (n_clips, n_classes)
    probabilities, overall ("all") and per corpus, each with its calibration: "ece" and the
    reliability diagram's bins (`metrics.calibration`)."""
    from .metrics import calibration, classification_report

    y_true = np.array([emotions.index(r.emotion) for r in records])
    probs = np.asarray(probs)
    corpora = np.array([r.corpus for r in records])

    def report(idx) -> dict:
        reliability = calibration(probs[idx], y_true[idx])
        return {**classification_report(y_true[idx], probs[idx].argmax(1), emotions),
                "ece": reliability.pop("ece"), "reliability": reliability}

    return {"all": report(np.ones(len(records), bool)), **{c: report(corpora == c) for c in sorted(set(corpora))}}
