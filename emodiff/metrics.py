"""Numbers we report: classification metrics for SER, distances between mels.

UA (unweighted accuracy) is the mean per-class recall, so a majority class cannot inflate it;
WA (weighted accuracy) is plain accuracy. Both as in the SER literature and the paper.
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows are true labels, columns predictions."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def calibration(probs, y_true, n_bins: int = 10) -> dict:
    """How far the top probability can be taken at its word: expected calibration error (the
    clip-weighted gap between confidence and accuracy over `n_bins` equal-width confidence bins,
    Guo et al. 2017), the mean negative log-likelihood, and the bins of the reliability diagram."""
    probs, y_true = np.asarray(probs, dtype=np.float64), np.asarray(y_true)
    confidence, correct = probs.max(1), probs.argmax(1) == y_true
    which = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    bins = [{"low": k / n_bins, "high": (k + 1) / n_bins, "n": int((which == k).sum()),
             "confidence": float(confidence[which == k].mean()) if (which == k).any() else None,
             "accuracy": float(correct[which == k].mean()) if (which == k).any() else None}
            for k in range(n_bins)]
    ece = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"]) / max(len(y_true), 1)
    nll = float(-np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None)).mean()) if len(y_true) else 0.0
    return {"ece": float(ece), "nll": nll, "mean_confidence": float(confidence.mean()) if len(y_true) else 0.0,
            "bins": bins}

def classification_report(y_true, y_pred, labels) -> dict:
    """UA, WA, macro-F1, per-class precision/recall/F1/support and the confusion matrix.
    Classes absent from `y_true` are left out of UA and macro-F1 (their recall is undefined)."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm).astype(float)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    present = support > 0
    return {
        "n": int(support.sum()),
        "wa": float(tp.sum() / max(support.sum(), 1)),
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]),
                              "f1": float(f1[i]), "support": int(support[i])}
                      for i, label in enumerate(labels)},
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),
    }


def _common_frames(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    n = min(a.shape[-1], b.shape[-1])
    return a[..., :n], b[..., :n]


def mel_l1(a, b) -> float:
    """Mean absolute difference of two log-mels over their common frames (nats)."""
    a, b = _common_frames(a, b)
    return float(np.abs(a - b).mean())


def mel_l1_by_level(reference, estimate, db_below_peak: float = 40.0) -> tuple[float, float]:
    """`mel_l1` split into (loud, quiet) bins of the reference: within `db_below_peak` of its
    peak, or below. Log-mel L1 weighs a -70 dB noise floor like a formant; the split tells an
    audible change from one in near-silence."""
    a, b = _common_frames(reference, estimate)
    diff = np.abs(a - b)
    loud = a > a.max() - db_below_peak / 20 * np.log(10)  # natural-log amplitude mel
    quiet = float(diff[~loud].mean()) if (~loud).any() else 0.0
    return float(diff[loud].mean()), quiet


def si_sdr(reference, estimate) -> float:
    """Scale-invariant signal-to-distortion ratio (dB) of two waves: sensitive to phase,
    unlike any mel distance."""
    ref, est = np.asarray(reference, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    n = min(len(ref), len(est))
    ref, est = ref[:n], est[:n]
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target @ target) / ((est - target) @ (est - target))))


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to rows of a and b (as FID, Heusel 2017)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows of x: a set's diversity."""
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(x), 1)].mean())
