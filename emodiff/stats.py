"""Intervals and summaries, in one place: what the study, the cross-validation and the
listening test report about their numbers.

UA (unweighted accuracy) is the mean per-class recall (`metrics.py`); here it is computed
from per-clip correct flags, which is what paired comparisons between runs need.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

CORPORA = ("emodb", "ravdess")


def unweighted_accuracy(correct: np.ndarray, y: np.ndarray) -> float:
    """Mean over classes of the (clips,) correct flags (or their seed averages) of each class."""
    return float(np.mean([correct[y == k].mean() for k in np.unique(y)]))


def resamples(n_clips: int, groups=None, n: int = 2000, seed: int = 0):
    """`n` bootstrap draws of clip indices: whole `groups` (one label per clip: the speakers,
    whose clips are not independent) drawn with replacement, each bringing all its clips; or,
    without groups, clips."""
    rng = np.random.default_rng(seed)
    if groups is None:
        for _ in range(n):
            yield rng.integers(0, n_clips, n_clips)
        return
    groups = np.asarray(groups)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    for _ in range(n):
        yield np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])


def percentile_interval(draws, level: float = 0.95) -> tuple[float, float]:
    """The central `level` share of bootstrap `draws` (NaN draws, where a statistic was undefined, left out)."""
    tail = (1 - level) / 2 * 100
    return float(np.nanpercentile(draws, tail)), float(np.nanpercentile(draws, 100 - tail))


def paired_bootstrap(p_a: np.ndarray, p_b: np.ndarray, y: np.ndarray, n: int = 2000, seed: int = 0,
                     groups=None):
    """UA(a) - UA(b) on the same test clips, with a 95 % interval from `resamples` (pass the
    clips' speakers as `groups`); a and b are (clips,) correct flags averaged over seeds.
    Returns (difference, low, high)."""
    diffs = [unweighted_accuracy(p_a[idx], y[idx]) - unweighted_accuracy(p_b[idx], y[idx])
             for idx in resamples(len(y), groups, n, seed)]
    return (unweighted_accuracy(p_a, y) - unweighted_accuracy(p_b, y), *percentile_interval(diffs))


def compare_to(correct: dict, reference: str, y: np.ndarray, corpora: np.ndarray, speakers: np.ndarray) -> dict:
    """Per condition and corpus (present ones, and "all"): UA and WA of one run's (clips,)
    correct flags, and for each condition but `reference` the paired bootstrap against it
    over the test speakers."""
    summary = {}
    for cond, flags in correct.items():
        summary[cond] = {}
        for corpus in ("emodb", "ravdess", "all"):
            idx = (corpora == corpus) | (corpus == "all")
            if not idx.any():
                continue
            entry = {"ua": unweighted_accuracy(flags[idx], y[idx]), "wa": float(flags[idx].mean())}
            if cond != reference:
                entry[f"ua_diff_vs_{reference}"], entry["ci_low"], entry["ci_high"] = paired_bootstrap(
                    flags[idx], correct[reference][idx], y[idx], groups=speakers[idx])
            summary[cond][corpus] = entry
    return summary


def speaker_bootstrap_ua(correct: np.ndarray, y: np.ndarray, speakers, n: int = 2000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float, float]:
    """UA of (clips,) correct flags with a bootstrap interval that resamples *speakers*:
    resampling clips would make the interval too narrow. Returns (UA, low, high)."""
    correct, y = np.asarray(correct, float), np.asarray(y)
    draws = [unweighted_accuracy(correct[idx], y[idx]) for idx in resamples(len(y), speakers, n, seed)]
    return (unweighted_accuracy(correct, y), *percentile_interval(draws, level))


def clustered_mean(values, groups, n: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean of `values` (MOS answers, say) with a 95 % interval that resamples whole `groups`
    (the annotators: one person's ratings rise and fall together, so answers are not
    independent). With one group there is nothing to resample: Student's t over the values,
    said so in "resamples"."""
    values = np.asarray(values, float)
    if len(np.unique(groups)) < 2:
        mean, low, high = t_interval(values, level)
        return {"mean": mean, "ci95": [low, high], "resamples": "answers (one group: too narrow)"}
    draws = [values[idx].mean() for idx in resamples(len(values), groups, n, seed)]
    return {"mean": float(values.mean()), "ci95": list(percentile_interval(draws, level)), "resamples": "groups"}


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of a few numbers (one per fold, say) with Student's t interval: with five folds the
    normal interval would be 40 % too narrow. Returns (mean, low, high); one value has none."""
    from scipy import stats

    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def wilcoxon_paired(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired results (the same folds, two recipes);
    1.0 when every pair ties. With five pairs the smallest possible p is 0.0625."""
    from scipy import stats

    diff = np.asarray(a, float) - np.asarray(b, float)
    return 1.0 if not np.any(diff) else float(stats.wilcoxon(diff).pvalue)


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (better than the normal one near 0 and 1)."""
    if n == 0:
        return (0.0, 0.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_difference(hits_a: int, n_a: int, hits_b: int, n_b: int) -> tuple[float, float, float]:
    """Difference of two independent proportions with Newcombe's (1998) hybrid Wilson interval,
    which keeps its coverage near 0 and 1 where the normal one does not. Returns (d, low, high)."""
    p_a, p_b = hits_a / n_a, hits_b / n_b
    (lo_a, hi_a), (lo_b, hi_b) = wilson(hits_a, n_a), wilson(hits_b, n_b)
    d = p_a - p_b
    return d, d - math.hypot(p_a - lo_a, hi_b - p_b), d + math.hypot(hi_a - p_a, p_b - lo_b)


def krippendorff_alpha(table, level: str, n: int = 1000, seed: int = 0) -> dict | None:
    """Krippendorff's alpha of a (raters, clips) table, NaN where a rater did not rate (unlike
    Fleiss' kappa it allows any number of raters per clip), `level` "nominal" for labels or
    "interval" for scores, with a bootstrap interval over clips. Only clips rated twice or more
    count; None when fewer than two such clips."""
    import krippendorff

    table = np.asarray(table, float)
    table = table[:, (~np.isnan(table)).sum(0) >= 2]
    if table.shape[1] < 2 or len(np.unique(table[~np.isnan(table)])) < 2:
        return None
    draws = []
    for idx in resamples(table.shape[1], None, n, seed):
        sample = table[:, idx]
        if len(np.unique(sample[~np.isnan(sample)])) > 1:  # one value everywhere: alpha undefined
            draws.append(krippendorff.alpha(reliability_data=sample, level_of_measurement=level))
    return {"alpha": float(krippendorff.alpha(reliability_data=table, level_of_measurement=level)),
            "ci95": list(percentile_interval(draws)),
            "clips": int(table.shape[1]), "raters": int(table.shape[0])}


def fleiss_kappa(ratings: list[list[str]]) -> float | None:
    """Agreement beyond chance among raters (Fleiss 1971); clips may have different rater
    counts (each clip's agreement uses its own count)."""
    if not ratings:
        return None
    cats = sorted({c for rs in ratings for c in rs})
    p_i, totals = [], defaultdict(int)
    for rs in ratings:
        n = len(rs)
        counts = [rs.count(c) for c in cats]
        p_i.append((sum(k * k for k in counts) - n) / (n * (n - 1)))
        for c, k in zip(cats, counts):
            totals[c] += k
    n_all = sum(totals.values())
    p_e = sum((v / n_all) ** 2 for v in totals.values())
    p_bar = sum(p_i) / len(p_i)
    return 1.0 if p_e == 1 else (p_bar - p_e) / (1 - p_e)


# ---- runs over folds and seeds -------------------------------------------------------------
# A run is named `<protocol>_s<seed>_f<fold>` and holds, per corpus, a compact report.

def compact(report: dict) -> dict:
    """Of a run's per-corpus classification reports, what a cross-validation summary keeps."""
    keep = ("ua", "wa", "macro_f1", "n", "confusion_matrix", "ece")
    return {c: {k: r[k] for k in keep if k in r} for c, r in report.items()}


def summarize_runs(runs: dict) -> dict:
    """Mean and spread of UA and WA over the runs (folds x seeds) of each protocol, per corpus,
    with Student's t interval of the mean UA over the folds."""
    out = {}
    for protocol in dict.fromkeys(n.rsplit("_", 2)[0] for n in runs):
        mine = {n: r for n, r in runs.items() if n.rsplit("_", 2)[0] == protocol}
        for corpus in CORPORA:
            fold_ua = [r[corpus]["ua"] for r in mine.values() if corpus in r]
            fold_wa = [r[corpus]["wa"] for r in mine.values() if corpus in r]
            if not fold_ua:
                continue
            by_fold = defaultdict(list)  # seeds of one fold share its speakers: one number per fold
            for n, r in mine.items():
                if corpus in r:
                    by_fold[n.rsplit("_", 1)[1]].append(r[corpus]["ua"])
            folds = [float(np.mean(v)) for v in by_fold.values()]
            _, low, high = t_interval(folds)
            out[f"{protocol}/{corpus}"] = {
                "ua_mean": float(np.mean(fold_ua)), "ua_std": float(np.std(fold_ua)),
                "wa_mean": float(np.mean(fold_wa)), "wa_std": float(np.std(fold_wa)), "n_runs": len(fold_ua),
                # ua_std is the population SD over runs (folds x seeds), as the tables print it; what
                # to quote for the mean is Student's t interval over the folds (seeds averaged first)
                "n_folds": len(folds), "ua_sd_folds": float(np.std(folds, ddof=1)) if len(folds) > 1 else None,
                "ua_ci95_t": [low, high] if len(folds) > 1 else None}
    return out


def paired_runs(runs: dict, baseline: dict) -> dict:
    """Per corpus, UA minus the baseline's UA over the runs (same protocol, seed and fold) both
    have: a fold's test speakers swing UA by ±10 points, so only paired differences compare.
    The Wilcoxon signed-rank test takes one difference per fold (its seeds averaged: they
    share the fold's speakers)."""
    out = {}
    for corpus in CORPORA:
        pairs = [n for n in runs if n in baseline and corpus in runs[n] and corpus in baseline[n]]
        diffs = [runs[n][corpus]["ua"] - baseline[n][corpus]["ua"] for n in pairs]
        if not diffs:
            continue
        by_fold = defaultdict(list)
        for n, d in zip(pairs, diffs):
            by_fold[n.rsplit("_", 1)[1]].append(d)
        folds = [float(np.mean(v)) for v in by_fold.values()]
        out[corpus] = {"mean": float(np.mean(diffs)), "std": float(np.std(diffs)), "n": len(diffs),
                       "better": sum(d > 0 for d in diffs), "worse": sum(d < 0 for d in diffs),
                       "fold_diffs": folds, "wilcoxon_p": wilcoxon_paired(folds, np.zeros(len(folds)))}
    return out
