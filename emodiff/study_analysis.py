"""A listening test's statistics, from its rows of answers: the app's admin view (`Study.summary`)
and `emodiff analyse-study` on an exported CSV compute the same numbers with the same code.

Attention is checked blind, by catch trials mixed in among the others: in a labelling test an
*anchor* (a real clip of an unmistakable emotion: naming it passes) and a *repeat* (a clip heard
twice under two names: the same emotion and naturalness within one point pass); in an A/B test
an anchor pair whose answer is not in doubt; on a MUSHRA page the hidden reference (rated 90 or
more passes, BS.1534-3). The exclusion rule is stated before the results: an annotator who
passes fewer than `min_catch_pass` of their catch trials is left out of every statistic, and
the summary says who and why. Catch trials themselves (but for MUSHRA's hidden reference,
which is one of its conditions) count in no statistic.
"""
from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np

from .data import EMOTIONS
from .stats import clustered_mean, fleiss_kappa, krippendorff_alpha, wilson

NUMERIC = {"mos": int, "score": float, "plays": int, "seconds": float, "slot": int}
PASS_SCORE = 90  # a MUSHRA hidden reference rated at least this passes


def read_export(path) -> list[dict]:
    """The rows of a CSV export (`Study.export_csv`), numbers as numbers."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for key, kind in NUMERIC.items():
            if key in r:
                r[key] = kind(float(r[key])) if r[key] not in ("", None) else None
    return rows


def _key(r: dict) -> str:
    """What a row judges: a clip (labelling), a trial (A/B), a clip in a trial (MUSHRA)."""
    return {"label": r.get("clip"), "ab": r.get("trial")}.get(r["design"]) or f"{r['trial']}/{r['clip']}"


def catch_passes(rows: list[dict]) -> dict[str, list[bool]]:
    """Per annotator, pass or fail for each catch trial answered (a repeat counts once both
    of its copies are answered)."""
    label_of = {(r["annotator"], r.get("clip")): r for r in rows}
    passes = defaultdict(list)
    for r in rows:
        if r["catch"] == "anchor":
            passes[r["annotator"]].append(r["answered_emotion"] == r["intended_emotion"] if r["design"] == "label"
                                          else r["chosen_clip"] == r["expected_clip"])
        elif r["catch"] == "repeat" and (r["annotator"], r["repeat_of"]) in label_of:
            first = label_of[r["annotator"], r["repeat_of"]]
            passes[r["annotator"]].append(first["answered_emotion"] == r["answered_emotion"]
                                          and abs(first["mos"] - r["mos"]) <= 1)
        elif r["catch"] == "hidden_reference":
            passes[r["annotator"]].append(r["score"] >= PASS_SCORE)
    return passes


def _judgement(r: dict):
    return {"label": r.get("answered_emotion"), "ab": r.get("chosen_source"), "mushra": r.get("score")}[r["design"]]


def agreement_with_others(rows: list[dict]) -> dict[str, float | None]:
    """Per annotator, how far they agree with the others on the same items: the share of the
    others' answers equal to theirs (emotions, A/B choices), or the correlation of their scores
    with the others' mean (MUSHRA). None without items shared with others."""
    by_item = defaultdict(dict)
    for r in rows:
        by_item[_key(r)][r["annotator"]] = _judgement(r)
    out = {}
    for a in sorted({r["annotator"] for r in rows}):
        shared = [(v[a], [x for b, x in v.items() if b != a]) for v in by_item.values() if a in v and len(v) > 1]
        if rows[0]["design"] != "mushra":
            pairs = [mine == other for mine, others in shared for other in others]
            out[a] = float(np.mean(pairs)) if pairs else None
        elif len(shared) >= 3 and np.std([m for m, _ in shared]) > 0 and np.std([np.mean(o) for _, o in shared]) > 0:
            out[a] = float(np.corrcoef([m for m, _ in shared], [np.mean(o) for _, o in shared])[0, 1])
        else:
            out[a] = None
    return out


def analyse(rows: list[dict], design: str, min_catch_pass: float, items: int | None = None) -> dict:
    """Progress and each annotator's record (answers, catch trials passed, agreement with the
    others, excluded or not), then the design's statistics over the annotators kept, catch
    trials left out. `items`: how many the study has (else those answered)."""
    answered = defaultdict(set)
    for r in rows:
        answered[r["annotator"]].add(r.get("trial") or r["clip"])
    items = items if items is not None else len(set().union(*answered.values()))
    counted = [r for r in rows if r["catch"] not in ("anchor", "repeat")]  # MUSHRA's hidden reference counts
    passes, agreement = catch_passes(rows), agreement_with_others(counted)
    annotators = {}
    for a, done in sorted(answered.items()):
        got = passes.get(a, [])
        rate = float(np.mean(got)) if got else None
        annotators[a] = {"answered": len(done), "total": items, "catch_trials": len(got),
                         "catch_passed": int(sum(got)), "catch_pass_rate": rate, "agreement": agreement.get(a),
                         "excluded": rate is not None and rate < min_catch_pass}
    excluded = {a for a, v in annotators.items() if v["excluded"]}
    kept = [r for r in counted if r["annotator"] not in excluded]
    statistics = {"label": label_statistics, "ab": ab_statistics, "mushra": mushra_statistics}[design]
    return {"design": design, "items": items, "answers": sum(map(len, answered.values())),
            "exclusion_rule": f"an annotator who passes fewer than {min_catch_pass:.0%} of their catch trials "
                              "is left out", "min_catch_pass": min_catch_pass,
            "excluded": sorted(excluded), "annotators": annotators, **(statistics(kept) if kept else {})}


def _accuracy(rs: list[dict]) -> dict:
    hits = sum(r["answered_emotion"] == r["intended_emotion"] for r in rs)
    return {"n": len(rs), "accuracy": hits / len(rs), "accuracy_ci95": list(wilson(hits, len(rs)))}


def _mean(rs: list[dict], key: str) -> dict:
    """Mean of `key` with a 95 % interval resampling annotators (`stats.clustered_mean`)."""
    m = clustered_mean([r[key] for r in rs], [r["annotator"] for r in rs])
    return {key: m["mean"], f"{key}_ci95": m["ci95"], f"{key}_ci_resamples": m["resamples"].replace("groups",
                                                                                                     "annotators")}


def _table(rows: list[dict], value) -> np.ndarray:
    """(annotators, items) table of `value(row)`, NaN where an annotator did not answer."""
    annotators, items = sorted({r["annotator"] for r in rows}), sorted({_key(r) for r in rows})
    table = np.full((len(annotators), len(items)), np.nan)
    for r in rows:
        table[annotators.index(r["annotator"]), items.index(_key(r))] = value(r)
    return table


def label_statistics(rows: list[dict]) -> dict:
    """Per source: recognition accuracy (Wilson 95 % CI) and MOS (95 % CI over annotators); per
    source and emotion: accuracy; agreement: Krippendorff's alpha (emotion nominal, MOS
    interval) and Fleiss' kappa, each saying how many clips it rests on."""
    by_source, by_emotion, by_clip = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in rows:
        by_source[r["source"]].append(r)
        by_emotion[r["source"], r["intended_emotion"]].append(r)
        by_clip[r["clip"]].append(r["answered_emotion"])
    multi = [v for v in by_clip.values() if len(v) >= 2]
    sources = {s: {"annotators": len({r["annotator"] for r in rs}), "clips": len({r["clip"] for r in rs}),
                   **_accuracy(rs), **_mean(rs, "mos")} for s, rs in sorted(by_source.items())}
    per_emotion = {f"{s}/{e}": _accuracy(rs) for (s, e), rs in sorted(by_emotion.items())}
    alpha = {"emotion": krippendorff_alpha(_table(rows, lambda r: EMOTIONS.index(r["answered_emotion"])), "nominal"),
             "mos": krippendorff_alpha(_table(rows, lambda r: r["mos"]), "interval")}
    return {"sources": sources, "per_emotion": per_emotion, "krippendorff_alpha": alpha,
            "fleiss_kappa": fleiss_kappa(multi), "fleiss_kappa_rests_on": f"{len(multi)} clips rated by two or more"}


def ab_statistics(rows: list[dict]) -> dict:
    """Per comparison ("enhanced vs real (more <emotion>)"): how often the first-named source was
    chosen, 95 % CI over annotators; the share of A choices (a side bias); Krippendorff's alpha
    on the choices."""
    comparisons = defaultdict(list)
    for r in rows:
        comparisons[r["comparison"]].append(dict(r, preferred=float(r["chosen_source"] == r["comparison"].split()[0])))
    out = {c: {"n": len(rs), "annotators": len({r["annotator"] for r in rs}), "trials": len({r["trial"] for r in rs}),
               **_mean(rs, "preferred")} for c, rs in sorted(comparisons.items())}
    a_hits = sum(r["chosen"] == "A" for r in rows)
    return {"comparisons": out, "chose_a": a_hits / len(rows), "chose_a_ci95": list(wilson(a_hits, len(rows))),
            "krippendorff_alpha": krippendorff_alpha(_table(rows, _chose_first), "nominal")}


def _chose_first(r: dict) -> float:
    """Which clip of a pair was chosen, whichever side it was shown on."""
    return float(r["chosen_clip"] == min(r["clip_a"], r["clip_b"]))


def mushra_statistics(rows: list[dict]) -> dict:
    """Per condition (hidden reference, anchor, systems): mean score 0-100 with a 95 % CI over
    annotators, and the median; Krippendorff's alpha (interval) on the scores."""
    by_source = defaultdict(list)
    for r in rows:
        by_source[r["source"]].append(r)
    conditions = {s: {"n": len(rs), "annotators": len({r["annotator"] for r in rs}),
                      "median": float(np.median([r["score"] for r in rs])), **_mean(rs, "score")}
                  for s, rs in sorted(by_source.items(), key=lambda kv: -np.mean([r["score"] for r in kv[1]]))}
    return {"conditions": conditions, "krippendorff_alpha": krippendorff_alpha(_table(rows, lambda r: r["score"]),
                                                                               "interval")}


# ---- as a person reads it ---------------------------------------------------------------------

def _pct(value, ci=None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.0f} %"
    return text if ci is None or not np.isfinite(ci).all() else f"{text} [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def _num(value, ci=None, digits: int = 2) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text if ci is None or not np.isfinite(ci).all() else f"{text} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _alpha(a: dict | None) -> str:
    return "– (fewer than two clips rated twice)" if a is None else \
        f"{_num(a['alpha'], a['ci95'])} over {a['clips']} items, {a['raters']} raters"


def _md(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(map(str, row)) + " |" for row in rows], ""]


def summary_markdown(s: dict) -> str:
    """The summary as tables: every statistic with its interval and what it rests on."""
    lines = [f"**{s['design']} study**: {s['answers']} answers to {s['items']} items from {len(s['annotators'])} "
             f"annotators. Exclusion rule: {s['exclusion_rule']}; excluded: {', '.join(s['excluded']) or 'none'}.", ""]
    agree = _num if s["design"] == "mushra" else _pct
    lines += _md(["annotator", "answered", "catch trials passed", "agreement with the others", "excluded"],
                 [[a, f"{v['answered']} of {v['total']}", f"{v['catch_passed']} of {v['catch_trials']}",
                   agree(v["agreement"]), "yes" if v["excluded"] else ""] for a, v in s["annotators"].items()])
    if "sources" in s:
        lines += _md(["source", "answers", "annotators", "clips", "recognised [95 % CI]", "MOS [95 % CI]"],
                     [[k, v["n"], v["annotators"], v["clips"], _pct(v["accuracy"], v["accuracy_ci95"]),
                       _num(v["mos"], v["mos_ci95"])] for k, v in s["sources"].items()])
        lines += _md(["source / emotion", "answers", "recognised [95 % CI]"],
                     [[k, v["n"], _pct(v["accuracy"], v["accuracy_ci95"])] for k, v in s["per_emotion"].items()])
        alpha = s["krippendorff_alpha"]
        lines += [f"Krippendorff's α, emotion: {_alpha(alpha['emotion'])}; naturalness: {_alpha(alpha['mos'])}. "
                  f"Fleiss' κ {_num(s['fleiss_kappa'])} ({s['fleiss_kappa_rests_on']})."]
    if "comparisons" in s:
        lines += _md(["comparison", "answers", "annotators", "trials", "first chosen [95 % CI]"],
                     [[k, v["n"], v["annotators"], v["trials"], _pct(v["preferred"], v["preferred_ci95"])]
                      for k, v in s["comparisons"].items()])
        lines += [f"A chosen {_pct(s['chose_a'], s['chose_a_ci95'])} of the time (50 %: no side bias). "
                  f"Krippendorff's α on the choices: {_alpha(s['krippendorff_alpha'])}."]
    if "conditions" in s:
        lines += _md(["condition", "scores", "annotators", "mean 0-100 [95 % CI]", "median"],
                     [[k, v["n"], v["annotators"], _num(v["score"], v["score_ci95"], 1), f"{v['median']:.0f}"]
                      for k, v in s["conditions"].items()])
        lines += [f"Krippendorff's α (interval) on the scores: {_alpha(s['krippendorff_alpha'])}."]
    return "\n".join(lines)
