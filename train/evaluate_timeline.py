"""How well does the emotion timeline find speech and its emotions in a long recording? Long
recordings of known layout are built from the fold's unseen speakers' clips, and scored.

    python train/evaluate_timeline.py --classifier runs/cv_small/speaker_s0_f0/best runs/cv_small/speaker_s1_f0/best \
        --fold 0 --recordings 10 --clips 20 --out results/timeline.json

Each recording joins `--clips` clips of the fold's test speakers (emotions in random order)
with pauses of 0.2-3 s (`emodiff.timeline.build_recording`); the classifiers never heard these
speakers. Reported, pooled over recordings: segment-level UA (a clip's predicted emotion is
the one the timeline gives most of its speech) with a 95 % interval resampling speakers; the
same classifiers' UA on the same clips given one at a time (what the timeline costs);
boundary error (seconds from each clip's speech start and end to the nearest segment edge);
and seconds of processing per minute of audio. Writes OUT (JSON) and OUT's stem + .png (one
recording's timeline beside its truth).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from emodiff.data import EMOTIONS, index_corpora, speaker_fold, speech_mels
from emodiff.evaluation import Ensemble, evaluate
from emodiff.plotting import plot_timeline, save_figure
from emodiff.stats import speaker_bootstrap_ua
from emodiff.timeline import build_recording, score, timeline
from emodiff.training import add_data_args, save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", type=Path, nargs="+", required=True, help="classifier folders (an ensemble)")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--recordings", type=int, default=10)
    p.add_argument("--clips", type=int, default=20, help="clips per recording")
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--hop", type=float, default=1.0)
    p.add_argument("--smooth", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("results/timeline.json"))
    add_data_args(p)
    args = p.parse_args(argv)
    clf = Ensemble.from_pretrained(args.classifier)
    _, test = speaker_fold(index_corpora(args.data_root, EMOTIONS), args.fold, args.n_folds)
    if clf.train_speakers & {r.speaker for r in test}:
        raise SystemExit("The classifier heard some of the fold's test speakers: the measure would leak.")
    rate, per_recording, clips, audio_seconds, spent = clf.mel_config.sample_rate, [], [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.recordings):
            samples, layout = build_recording(test, args.clips, rate, seed=seed)
            path = Path(tmp) / f"recording_{seed}.wav"
            sf.write(path, samples, rate, subtype="PCM_16")
            start = time.perf_counter()
            result = timeline(path, clf, args.window, args.hop, args.smooth)
            spent, audio_seconds = spent + time.perf_counter() - start, audio_seconds + result.seconds
            scored = score(result, layout, EMOTIONS)
            per_recording.append({"seed": seed, "seconds": result.seconds, "segments": len(result.segments),
                                  **{k: v for k, v in scored.items()
                                     if k not in ("predicted", "confusion_matrix", "boundary_errors")}})
            clips += [{**c, "predicted": pred, "boundary_errors": scored["boundary_errors"][2 * i:2 * i + 2]}
                      for i, (c, pred) in enumerate(zip(layout, scored["predicted"]))]
            if seed == 0:
                save_figure(plot_timeline(result, f"recording 0 ({result.seconds:.0f} s), fold {args.fold}'s unseen "
                                          "speakers", layout), args.out.with_suffix(".png"), dpi=100)
    report = {"classifier": [str(c) for c in args.classifier], "fold": args.fold,
              "test_speakers": sorted({r.speaker for r in test}), "window": args.window, "hop": args.hop,
              "smooth": args.smooth, "recordings": per_recording,
              "pooled": pooled(clips), "isolated_clips": isolated(clf, test, clips, args),
              "seconds_per_minute_of_audio": 60 * spent / audio_seconds}
    save_json(report, args.out)
    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in report["pooled"].items()})
    print("isolated clips:", report["isolated_clips"], f"\n{report['seconds_per_minute_of_audio']:.1f} s per minute")
    return report


def pooled(clips: list[dict]) -> dict:
    """Segment-level UA over every clip of every recording (a missed clip counts as wrong),
    its interval over speakers, and the boundary errors of all recordings."""
    y = np.array([EMOTIONS.index(c["emotion"]) for c in clips])
    correct = np.array([c["predicted"] == c["emotion"] for c in clips])
    ua, low, high = speaker_bootstrap_ua(correct, y, [c["speaker"] for c in clips])
    errors = [e for c in clips for e in c["boundary_errors"]]
    return {"clips": len(clips), "clips_found": int(sum(c["predicted"] is not None for c in clips)), "ua": ua,
            "ua_ci95": [low, high], "ci_resamples": "speakers", "wa": float(correct.mean()),
            "boundary_error_median": float(np.median(errors)), "boundary_error_mean": float(np.mean(errors)),
            "boundary_error_p90": float(np.percentile(errors, 90))}


def isolated(clf, test, clips: list[dict], args) -> dict:
    """The same classifiers (their CNN members, as the timeline uses) on the same clips, each
    given alone (trimmed, as in evaluation)."""
    names = {c["clip"] for c in clips}
    chosen = [r for r in test if r.name in names]
    mels = speech_mels(chosen, clf.mel_config, args.cache_dir)
    report = evaluate(Ensemble(clf.networks), [mels[r.path] for r in chosen], chosen)["all"]
    return {"clips": len(chosen), "ua": report["ua"], "wa": report["wa"]}


if __name__ == "__main__":
    main()
