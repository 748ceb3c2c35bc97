"""Does training on real + generated mels beat real-only (and SpecAugment) on unseen speakers?

    python train/augment_study.py --pipeline runs/diff_f0_long/pipeline --fold 0 --seeds 0 1 2 \
        --judge runs/cv_small/speaker_s1_f0/best --out results/augment

The diffusion pipeline must have been trained on the fold's *training* speakers only
(train/train_diffusion.py --fold F); generated clips take their style reference from
training-speaker clips only, so nothing of the test speakers leaks in. Conditions, all on the
same speaker-independent split and seeds, at equal compute (draws per epoch = real clips):
real; real + SpecAugment; real + mixup (a generator-free baseline); real + generated;
real + SpecAugment + generated, the last at generated:real = 0.5, 1, 2, and at 1 with only
the better half of a pool twice that size per emotion, ranked by an independent judge's
probability of the requested emotion (`--judge`, a classifier trained on the fold's training
speakers, not one of the study's), and at 1 with the generated mels vocoded by HiFi-GAN and
analysed again, as if the clips had been saved as audio. Writes OUT/study.json, OUT/study.png
and prints a table, with a paired bootstrap over test clips (seeds averaged) of each condition
against real + SpecAugment, and the paper's circular measure beside it: a classifier's
accuracy on generated mels.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import train_classifier  # noqa: E402

from emodiff.audio import mel_spectrogram  # noqa: E402
from emodiff.classifier import EmotionClassifier, clip_probabilities  # noqa: E402
from emodiff.data import (DEFAULT_CACHE, DEFAULT_DATA_ROOT, EMOTIONS, index_corpora,  # noqa: E402
                          speaker_fold, speech_mels)
from emodiff.diffusion import load_pipeline  # noqa: E402
from emodiff.training import save_json  # noqa: E402
from emodiff.vocoder import Vocoder  # noqa: E402

class Condition(NamedTuple):
    specaugment: bool
    ratio: float = 0.0  # generated:real clips
    filtered: bool = False  # generated clips chosen by the judge
    mixup: float = 0.0  # Beta(alpha, alpha) mixing of real clips, the generator-free baseline
    vocoded: bool = False  # generated mels after a HiFi-GAN -> mel round trip


CONDITIONS = {
    "real": Condition(False),
    "real+specaug": Condition(True),
    "real+mixup": Condition(False, mixup=0.2),
    "real+gen(1)": Condition(False, 1.0),
    "real+specaug+gen(0.5)": Condition(True, 0.5),
    "real+specaug+gen(1)": Condition(True, 1.0),
    "real+specaug+gen(2)": Condition(True, 2.0),
    "real+specaug+gen(1,filtered)": Condition(True, 1.0, True),
    "real+gen(1,vocoded)": Condition(False, 1.0, vocoded=True),
    "real+specaug+gen(1,vocoded)": Condition(True, 1.0, vocoded=True),
}
BASELINE = "real+specaug"
FILTER_KEEP = 0.5  # share of the generated pool a judge-filtered condition keeps
PER_CLIP = ("mels", "emotions", "corpora")  # a generated set's arrays with one row per clip


def generate_set(pipe, train, mels, n: int, frames: int, steps: int, guidance: float, path: Path,
                 batch: int = 32, source: str = "") -> None:
    """n generated mels, emotions and corpora following the training clips round-robin (so any
    prefix is balanced like the real data); each styled on its training clip."""
    rng = np.random.default_rng(0)
    order = [train[i] for i in rng.permutation(len(train))]
    sources = [order[i % len(order)] for i in range(n)]
    out = []
    gen = torch.Generator().manual_seed(0)
    for s in tqdm(range(0, n, batch), desc="generating"):
        chunk = sources[s:s + batch]
        refs = [torch.from_numpy(mels[r.path]) for r in chunk]
        out.append(pipe.generate_batch([r.emotion for r in chunk], frames, steps, guidance, gen, refs)
                   .numpy().astype(np.float16))
    np.savez_compressed(path, mels=np.concatenate(out), emotions=np.array([r.emotion for r in sources]),
                        corpora=np.array([r.corpus for r in sources]), steps=steps, guidance=guidance,
                        source=source)


def fingerprint(folder: Path) -> str:
    """Short hash of a folder's files, to tell which pipeline made a generated set."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + f.read_bytes())
    return h.hexdigest()[:16]


def subset(data: dict, rows, **replace) -> dict:
    """A generated set's clips at `rows` (a mask or a slice), the entries that describe the set
    (steps, guidance, source) kept as they are; `replace` adds or overrides entries."""
    return {**{k: v[rows] if k in PER_CLIP else v for k, v in data.items()}, **replace}


def filter_set(path: Path, judge: EmotionClassifier, out: Path, keep: float = FILTER_KEEP,
               judge_id: str = "") -> dict:
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
    np.savez_compressed(out, **subset(data, kept, judge=judge_id, filtering=json.dumps(stats)))
    return stats


def vocode_set(path: Path, out: Path, n: int, batch: int = 16) -> None:
    """The first n generated mels (a balanced prefix) through HiFi-GAN and back through our
    mel front end: only what a waveform can carry survives. Kept when `out` already holds
    at least n from the same pool."""
    if out.exists():
        with np.load(path) as pool, np.load(out) as previous:
            if str(previous["source"]) == str(pool["source"]) and len(previous["emotions"]) >= n:
                return
    data = dict(np.load(path))
    vocoder = Vocoder()
    mels = []
    for s in tqdm(range(0, n, batch), desc="vocoding"):
        chunk = torch.from_numpy(data["mels"][s:min(s + batch, n)].astype(np.float32))
        mels.append(mel_spectrogram(vocoder(chunk)).numpy().astype(np.float16))
    np.savez_compressed(out, **subset(data, slice(0, n), mels=np.concatenate(mels)))


def unweighted_accuracy(correct: np.ndarray, y: np.ndarray) -> float:
    """Mean over classes of the (clips,) correct flags (or their seed averages) of each class."""
    return float(np.mean([correct[y == k].mean() for k in np.unique(y)]))


def paired_bootstrap(p_a: np.ndarray, p_b: np.ndarray, y: np.ndarray, n: int = 2000, seed: int = 0):
    """UA(a) - UA(b) over test clips resampled with replacement; a and b are (clips,) correct
    flags averaged over seeds. Returns (difference, 95% CI low, high)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        diffs.append(unweighted_accuracy(p_a[idx], y[idx]) - unweighted_accuracy(p_b[idx], y[idx]))
    return (unweighted_accuracy(p_a, y) - unweighted_accuracy(p_b, y),
            float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))


def summarize(correct: dict, y: np.ndarray, corpora: np.ndarray) -> dict:
    """Per condition and corpus ("all" too): UA and WA mean ± std over seeds, and the paired
    bootstrap of the condition against real + SpecAugment and against its own counterpart.
    `correct` maps each condition to its seeds' (clips,) correct flags, `y` and `corpora`
    describe the clips."""
    summary = {}
    seed_mean = {cond: np.mean(runs, axis=0) for cond, runs in correct.items()}
    for cond, runs in correct.items():
        summary[cond] = {}
        for corpus in ("emodb", "ravdess", "all"):
            idx = (corpora == corpus) | (corpus == "all")
            ua = [unweighted_accuracy(r[idx], y[idx]) for r in runs]
            wa = [float(r[idx].mean()) for r in runs]
            entry = {"ua_mean": float(np.mean(ua)), "ua_std": float(np.std(ua)),
                     "wa_mean": float(np.mean(wa)), "wa_std": float(np.std(wa)), "seeds": len(ua)}

            def delta(ref):
                return paired_bootstrap(seed_mean[cond][idx], seed_mean[ref][idx], y[idx])
            if BASELINE in correct and cond != BASELINE:
                entry["ua_diff_vs_specaug"], entry["ci_low"], entry["ci_high"] = delta(BASELINE)
            own = counterpart(cond)
            if own in correct:  # what the generated data (or mixup) add to the same recipe
                entry["own_reference"] = own
                entry["ua_diff_vs_own"], *entry["own_ci"] = delta(own)
            summary[cond][corpus] = entry
    return summary


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("results/augment"))
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--gen-steps", type=int, default=10)
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--crop-frames", type=int, default=160)
    p.add_argument("--judge", type=Path, help="classifier that ranks generated clips (filtered condition)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    records = index_corpora(args.data_root, EMOTIONS)
    train, test = speaker_fold(records, args.fold, args.n_folds)
    mels = speech_mels(records, args.cache_dir)
    pipe_meta = json.loads((args.pipeline.parent / "metrics.json").read_text()) \
        if (args.pipeline.parent / "metrics.json").exists() else {}
    overlap = set(pipe_meta.get("train_speakers", [])) & {r.speaker for r in test}
    if overlap:
        raise SystemExit(f"The pipeline was trained on test speakers {sorted(overlap)}: the study would leak.")

    filtered = any(CONDITIONS[c].filtered for c in args.conditions)
    max_ratio = max(c.ratio / (FILTER_KEEP if c.filtered else 1)  # the pool a filtered condition selects from
                    for c in map(CONDITIONS.get, args.conditions))
    gen_path = args.out / f"generated_fold{args.fold}.npz"
    source = f"{fingerprint(args.pipeline)} steps={pipe_meta.get('steps')} guidance={args.guidance}"
    if gen_path.exists() and str(np.load(gen_path).get("source")) != source:  # sets before 'source': stale
        raise SystemExit(f"{gen_path} was generated by another pipeline; use another --out.")
    if max_ratio > 0 and not gen_path.exists():
        generate_set(load_pipeline(args.pipeline), train, mels, int(np.ceil(max_ratio * len(train))),
                     args.crop_frames, args.gen_steps, args.guidance, gen_path, source=source)
    filtered_path, filtering = args.out / f"generated_fold{args.fold}_filtered.npz", None
    if filtered:
        if args.judge is None:
            raise SystemExit("The filtered condition needs --judge.")
        judge = EmotionClassifier.from_pretrained(args.judge)
        if set(judge.metadata.get("train_speakers", [])) & {r.speaker for r in test}:
            raise SystemExit("The judge was trained on test speakers: the study would leak.")
        filtering = filter_set(gen_path, judge, filtered_path,
                               judge_id=f"{fingerprint(args.judge)} keep={FILTER_KEEP}")

    vocoded_path = args.out / f"generated_fold{args.fold}_vocoded.npz"
    vocoded = [c.ratio for c in map(CONDITIONS.get, args.conditions) if c.vocoded]
    if vocoded:
        vocode_set(gen_path, vocoded_path, int(np.ceil(max(vocoded) * len(train))))

    common = ["--arch", "small", "--epochs", str(args.epochs), "--val-speakers", "0", "--protocol", "speaker",
              "--n-folds", str(args.n_folds), "--fold", str(args.fold), "--crop-frames", str(args.crop_frames),
              "--data-root", str(args.data_root), "--cache-dir", str(args.cache_dir)]
    results, correct = {}, {}
    for cond in args.conditions:
        c = CONDITIONS[cond]
        for seed in args.seeds:
            run = args.out / "runs" / f"{cond}_s{seed}"
            data = filtered_path if c.filtered else vocoded_path if c.vocoded else gen_path
            extra = ((["--specaugment"] if c.specaugment else []) + (["--mixup", str(c.mixup)] if c.mixup else [])
                     + (["--generated", str(data), "--generated-ratio", str(c.ratio)] if c.ratio else []))
            if not (run / "metrics.json").exists():
                train_classifier.main(common + extra + ["--seed", str(seed), "--out", str(run)])
            m = json.loads((run / "metrics.json").read_text())
            results.setdefault(cond, []).append({c: {"ua": v["ua"], "wa": v["wa"]} for c, v in m["test"].items()})
            correct.setdefault(cond, []).append(np.array([m["test_predictions"][r.name] == r.emotion for r in test]))

    y = np.array([EMOTIONS.index(r.emotion) for r in test])
    summary = summarize(correct, y, np.array([r.corpus for r in test]))

    circular = circular_measure(args, gen_path, correct)
    report = {"fold": args.fold, "test_speakers": sorted({r.speaker for r in test}), "seeds": args.seeds,
              "epochs": args.epochs, "generation": {"steps": args.gen_steps, "guidance": args.guidance,
                                                    "source": source, "filtering": filtering},
              "summary": summary, "circular": circular, "runs": results,
              # per test clip and seed, so that studies on other folds can be pooled (augment_pool.py)
              "per_clip": {"clips": [r.name for r in test], "corpora": [r.corpus for r in test],
                           "labels": y.tolist(), "correct": {c: [[int(v) for v in run] for run in runs]
                                                             for c, runs in correct.items()}}}
    save_json(report, args.out / "study.json")
    print(table(summary))
    if circular:
        print(f"\ncircular measure (paper's): real+specaug classifier on generated mels: "
              f"UA {circular['ua']:.1%} (vs {circular['real_test_ua']:.1%} on real unseen speakers)")
    plot(summary, args.out / "study.png")
    return report


def counterpart(cond: str) -> str | None:
    """The condition that differs from `cond` only by lacking its generated data (or mixup):
    the fair reference for what those add, apart from SpecAugment's own effect."""
    c = CONDITIONS[cond]
    if not (c.ratio or c.mixup):
        return None
    return BASELINE if c.specaugment else "real"


def circular_measure(args, gen_path: Path, correct) -> dict | None:
    """The paper's evaluation: accuracy of a classifier on generated mels of the emotion it
    was asked for. Generated data are made to be recognisable, so this says little about
    real speech."""
    run = args.out / "runs" / f"{BASELINE}_s{args.seeds[0]}"
    if not gen_path.exists() or not (run / "best").exists():
        return None
    data = np.load(gen_path)
    clf = EmotionClassifier.from_pretrained(run / "best")
    n = min(600, len(data["mels"]))
    y = np.array([EMOTIONS.index(str(e)) for e in data["emotions"][:n]])
    pred = clip_probabilities(clf, [m.astype(np.float32) for m in data["mels"][:n]]).argmax(1)
    ua = float(np.mean([np.mean(pred[y == k] == k) for k in np.unique(y)]))
    real = json.loads((run / "metrics.json").read_text())["test"]["all"]["ua"]
    return {"ua": ua, "n": n, "real_test_ua": real}


def table(summary: dict) -> str:
    lines = ["| condition | EmoDB UA | RAVDESS UA | all UA | all WA | Δ UA vs real+SpecAugment (95% CI), "
             "EmoDB / RAVDESS / all | Δ UA vs the same without generated data, EmoDB / RAVDESS / all |",
             "|---|---|---|---|---|---|---|"]

    def pct(s, corpus):
        return f"{s[corpus]['ua_mean']:.1%} ± {s[corpus]['ua_std']:.1%}"

    def deltas(s, key, ci):
        if key not in s["all"]:
            return "–"
        return " / ".join(f"{s[c][key]:+.1%} [{ci(s[c])[0]:+.1%}, {ci(s[c])[1]:+.1%}]"
                          for c in ("emodb", "ravdess", "all"))

    for cond, s in summary.items():
        a = s["all"]
        vs_specaug = deltas(s, "ua_diff_vs_specaug", lambda e: (e["ci_low"], e["ci_high"]))
        vs_own = deltas(s, "ua_diff_vs_own", lambda e: e["own_ci"])
        vs_own += f" (vs {a['own_reference']})" if "own_reference" in a else ""
        lines.append(f"| {cond} | {pct(s, 'emodb')} | {pct(s, 'ravdess')} | {pct(s, 'all')} | "
                     f"{a['wa_mean']:.1%} ± {a['wa_std']:.1%} | {vs_specaug} | {vs_own} |")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    conds = list(summary)
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    width = 0.38
    for k, corpus in enumerate(("emodb", "ravdess")):
        means = [summary[c][corpus]["ua_mean"] for c in conds]
        stds = [summary[c][corpus]["ua_std"] for c in conds]
        ax.bar(np.arange(len(conds)) + (k - 0.5) * width, means, width, yerr=stds, capsize=3, label=corpus)
    ax.set_xticks(range(len(conds)), conds, rotation=20, ha="right")
    ax.set_ylabel("UA, unseen speakers\n(mean ± std over seeds)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
