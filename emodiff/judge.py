"""Judging generated and enhanced mels by a held-out classifier (the *judge*): one that did
not condition the generator and never heard the test speakers, so it cannot be fooled by
what the generator learned to please.

Reported per set of mels: the share the judge recognises as the emotion asked for; the
Fréchet distance between judge embeddings (PCA to 32 dims, fitted on real mels) of the set and
of real unseen-speaker mels; diversity, the mean pairwise embedding distance within each
emotion; and for new voices, how far the set's style vectors lie from the training speakers'.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from tqdm import tqdm

from .data import EMOTIONS, random_crop
from .diffusion import mel_seed
from .evaluation import clip_probabilities
from .metrics import frechet, mel_l1, pairwise_distance

PCA_DIMS = 32


class Judge:
    """A classifier with the real unseen-speaker (and a like number of training-speaker) mels
    it compares generated mels with. `test_labels` are emotion indices of `test_mels`."""

    def __init__(self, classifier, test_mels, test_labels, train_mels, seed: int = 0):
        self.clf, self.test_labels = classifier, np.asarray(test_labels)
        self.real_test = self.embed(test_mels)
        rng = np.random.default_rng(seed)
        take = rng.choice(len(train_mels), len(test_mels), replace=False)
        self.real_train = self.embed([train_mels[i] for i in take])
        self.mean = self.real_test.mean(0)
        _, _, vt = np.linalg.svd(np.concatenate([self.real_test, self.real_train]) - self.mean, full_matrices=False)
        self.components = vt[:PCA_DIMS]
        probs = clip_probabilities(classifier, test_mels)
        y = self.test_labels
        self.real_test_ua = float(np.mean([np.mean(probs[y == k].argmax(1) == k) for k in range(len(EMOTIONS))]))
        self.real_train_vs_real_test_fd = frechet(self.pca(self.real_train), self.pca(self.real_test))

    def embed(self, mels) -> np.ndarray:
        return np.stack([self.clf.mel_embedding(torch.as_tensor(m)).numpy() for m in mels])

    def pca(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.components.T

    def __call__(self, fake, target: np.ndarray) -> dict:
        """What the judge makes of mels `fake` made for emotions `target` (indices)."""
        pred = clip_probabilities(self.clf, list(fake)).argmax(1)
        per_emotion = {e: float(np.mean(pred[target == k] == k)) for k, e in enumerate(EMOTIONS)}
        emb, fewest = self.embed(list(fake)), np.bincount(target, minlength=6).min()
        y = self.test_labels
        return {"target_recognised": per_emotion, "target_recognised_mean": float(np.mean(list(per_emotion.values()))),
                "fd_generated_vs_real_test": frechet(self.pca(emb), self.pca(self.real_test)) if fewest >= 10 else None,
                "diversity_generated": float(np.mean([pairwise_distance(self.pca(emb[target == k])) for k in range(6)]))
                if fewest >= 2 else None,
                "diversity_real_test": float(np.mean([pairwise_distance(self.pca(self.real_test[y == k]))
                                                      for k in range(6)]))}


def generate_and_judge(pipe, judge: Judge, sampler: str, steps: int, n: int, frames: int, guidance: float,
                       batch: int = 60) -> tuple[np.ndarray, dict]:
    """n mels per emotion from noise, judged; returns (mels, entry with the seconds per clip)."""
    start = time.perf_counter()
    emotions = [e for e in EMOTIONS for _ in range(n)]
    fake = np.concatenate([pipe.generate_batch(emotions[b:b + batch], frames, steps, guidance, mel_seed(b),
                                               sampler=sampler).numpy()
                           for b in tqdm(range(0, len(emotions), batch), desc=f"{sampler} {steps} steps")])
    seconds_per_clip = (time.perf_counter() - start) / len(emotions)
    return fake, {"sampler": sampler, "steps": steps, "n_per_emotion": n, **judge(fake, np.repeat(np.arange(6), n)),
                  "seconds_per_clip_batched_no_vocoder": seconds_per_clip}


def voice_distance(pipe, centroids: torch.Tensor, mels) -> float:
    """Mean distance of each mel's style vector (the generator's own style encoder) to the
    nearest training speaker's mean style vector: how far from every voice the generator was
    trained on a clip lies, as the generator sees voices. Unseen speakers' clips set the scale."""
    return float(torch.cdist(pipe.styles_of(mels), centroids).min(1).values.mean())


def judge_sets(sets, set_n: int, judged, pipe, train_recs, train_mels, test_mels) -> dict:
    """`judged` (a `Judge`) and `voice_distance` on the first `set_n` clips per emotion of each
    augmentation set (paths), and on as many random crops of real training-speaker clips of the
    sets' length: the floor for sets whose clips are shorter than whole utterances; the voice
    distance of as many crops of real unseen-speaker clips too (new voices)."""
    out, rng = {}, np.random.default_rng(0)
    speakers = np.array([r.speaker for r in train_recs])
    train_styles = pipe.styles_of(train_mels)
    centroids = torch.stack([train_styles[torch.from_numpy(speakers == k)].mean(0) for k in np.unique(speakers)])
    for path in sets:
        with np.load(path) as data:
            mels, source = data["mels"], str(data.get("source"))  # each access reads the file again
            target = np.array([EMOTIONS.index(str(e)) for e in data["emotions"]])
        take = np.concatenate([np.flatnonzero(target == k)[:set_n] for k in range(6)])
        out[str(path)] = {"source": source, "n_per_emotion": set_n, "frames": int(mels.shape[-1]),
                          **judged(mels[take].astype(np.float32), target[take]),
                          "voice_distance": voice_distance(pipe, centroids, mels[take])}
    lengths = {v["frames"] for v in out.values()}
    if len(lengths) == 1:
        frames, silence = lengths.pop(), pipe.mel_config.silence
        target = np.array([EMOTIONS.index(r.emotion) for r in train_recs])
        take = np.concatenate([rng.permutation(np.flatnonzero(target == k))[:set_n] for k in range(6)])
        crops = np.stack([random_crop(train_mels[i], frames, rng, silence)[0] for i in take])
        out["real training crops"] = {"n_per_emotion": set_n, "frames": frames, **judged(crops, target[take]),
                                      "voice_distance": voice_distance(pipe, centroids, crops)}
        unseen = [random_crop(m, frames, rng, silence)[0] for m in test_mels]
        out["real unseen-speaker crops"] = {"n": len(unseen), "frames": frames,
                                            "voice_distance": voice_distance(pipe, centroids, unseen)}
    return out


def enhancement_curve(pipe, clf, test_mels, test_recs, n: int, strengths, guidance: float) -> dict:
    """`n` unseen-speaker clips, each pushed toward an emotion other than its own (cycled), at
    every strength: the judge `clf`'s probability of the target before and after, and the mel
    L1 to the source, averaged per strength."""
    rng = np.random.default_rng(1)
    chosen = rng.choice(len(test_mels), min(n, len(test_mels)), replace=False)
    out = {str(s): {"p_target_before": [], "p_target_after": [], "mel_l1": []} for s in strengths}
    for j, i in enumerate(tqdm(chosen, desc="enhance")):
        own = EMOTIONS.index(test_recs[i].emotion)
        target = (own + 1 + j % 5) % 6
        mel = torch.as_tensor(test_mels[i])
        before = float(clf.mel_probabilities(mel)[target])
        for s in strengths:
            res = pipe.enhance(mel, EMOTIONS[target], strength=s, steps=25, guidance=guidance,
                               generator=mel_seed(j), vocode=False)
            out[str(s)]["p_target_before"].append(before)
            out[str(s)]["p_target_after"].append(float(clf.mel_probabilities(res.mel)[target]))
            out[str(s)]["mel_l1"].append(mel_l1(res.mel, mel))
    return {s: {k: float(np.mean(v)) for k, v in d.items()} for s, d in out.items()}
