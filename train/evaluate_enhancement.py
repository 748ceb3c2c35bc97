"""Measure both senses of Enhance (make a clip's emotion clearer; change it to another) on
speakers the generator never heard, by judges that had no part in making it
(`emodiff.enhancement_eval`).

    python train/evaluate_enhancement.py --pipeline checkpoints/diffusion \
        --judge runs/cv_small/speaker_s1_f0/best runs/func_f0/best --fold 0 --per-cell 4 \
        --out results/enhancement.json

Needs resemblyzer for speaker similarity (`pip install --no-deps resemblyzer==0.1.4
webrtcvad-wheels`). Prints, per judge and corpus, clarity (own emotion recognised before,
vocoded, after) and conversion (target recognised), voice and words kept, level; writes every
clip's measurements and the summaries as JSON. `--real-takes` enhances nothing: it scores the
same clips' real takes in each target emotion, the ceiling of the conversion score:

    python train/evaluate_enhancement.py --real-takes --judge ... --per-cell 3 \
        --out results/enhancement_real_takes.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm.auto import tqdm

from emodiff.data import EMOTIONS, index_corpora, speaker_fold
from emodiff.diffusion import load_pipeline, read_metadata
from emodiff.enhancement_eval import (Judges, choose_clips, evaluate, measure_real_takes, summarise,
                                      summarise_real_takes)
from emodiff.prosody import ProsodyStats
from emodiff.sampling import DEFAULT_GUIDANCE
from emodiff.training import add_data_args, save_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, default=Path("checkpoints/diffusion"))
    p.add_argument("--judge", type=Path, nargs="+", required=True,
                   help="classifier folders that never heard the fold's speakers nor conditioned the generator")
    p.add_argument("--fold", type=int, default=0, help="speaker fold the generator never heard (default 0)")
    p.add_argument("--per-cell", type=int, default=4, help="clips per corpus and emotion (default 4)")
    p.add_argument("--strength", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prosody", type=Path, help="move pitch level and rate toward the target first, with these "
                   "statistics (`emodiff.prosody`; measured on the generator's training speakers if missing)")
    p.add_argument("--prosody-amount", type=float, default=1.0, help="how far toward the target's prosody")
    p.add_argument("--steer", type=float, default=0.0,
                   help="statistics steering toward the target (the pipeline's steering.json; 0: none)")
    p.add_argument("--keep-envelope", action="store_true",
                   help="hold the source's spectral envelope at every step (`emodiff.diffusion.envelope`)")
    p.add_argument("--real-takes", action="store_true",
                   help="enhance nothing: judge the speaker's own take of each clip's sentence in each target "
                        "emotion (vocoded), what a perfect conversion would score")
    p.add_argument("--out", type=Path, default=Path("results/enhancement.json"))
    p.add_argument("--summarise-only", action="store_true",
                   help="recompute OUT's summaries from its kept per-clip measurements; measure nothing")
    add_data_args(p)
    return p.parse_args(argv)


def table(summary: dict) -> list[str]:
    pct = lambda v: f"{100 * v[0]:5.1f} [{100 * v[1]:5.1f}, {100 * v[2]:5.1f}]"  # noqa: E731
    lines = [f"{'corpus':8} {'own before':>20} {'own after':>20} {'change':>20} {'target top-1':>20} "
             f"{'voice enh/same-spk':>20} {'words enh/other':>16}"]
    for corpus, s in summary.items():
        c, v = s["clarity"], s
        lines.append(f"{corpus:8} {pct(c['top1_before']):>20} {pct(c['top1_after']):>20} {pct(c['change']):>20} "
                     f"{pct(s['conversion']['top1']):>20} "
                     f"{v['voice_enhanced'][0]:8.2f}/{v.get('voice_same_speaker', [float('nan')])[0]:.2f}"
                     f"{v['words_enhanced'][0]:9.2f}/{v.get('words_other_sentence', [float('nan')])[0]:.2f}")
        lines.append(f"{'':8} per target: " + ", ".join(f"{t} {100 * p:.0f} %"
                                                       for t, p in s["conversion"]["per_target"].items()))
    return lines


def real_takes_table(summary: dict) -> list[str]:
    lines = [f"{'corpus':8} {'target top-1':>20} {'voice':>6} {'words':>6}"]
    for corpus, s in summary.items():
        top1 = s["conversion"]["top1"]
        lines.append(f"{corpus:8} {100 * top1[0]:5.1f} [{100 * top1[1]:5.1f}, {100 * top1[2]:5.1f}]     "
                     f"{s['voice'][0]:6.2f} {s['words'][0]:6.2f}   n={s['conversion']['n']}")
        lines.append(f"{'':8} per target: " + ", ".join(f"{t} {100 * p:.0f} %"
                                                       for t, p in s["conversion"]["per_target"].items()))
        if "clarity" in s:
            c = s["clarity"]
            lines.append(f"{'':8} own emotion, clip -> its stronger take: {100 * c['top1_before'][0]:.1f} -> "
                         f"{100 * c['top1_after'][0]:.1f} % (change {100 * c['change'][0]:+.1f} "
                         f"[{100 * c['change'][1]:+.1f}, {100 * c['change'][2]:+.1f}], n={c['n']})")
    return lines


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.summarise_only:
        result = json.loads(args.out.read_text())
        summarise_rows = summarise_real_takes if result["args"].get("real_takes") else summarise
        result["summary"] = {name: summarise_rows(result["per_clip"], name) for name in result["summary"]}
        save_json(result, args.out)
        return result
    records = index_corpora(args.data_root, EMOTIONS)
    _, test = speaker_fold(records, args.fold)
    pipe, judges = load_pipeline(args.pipeline), Judges(args.judge)
    heard = set(read_metadata(args.pipeline).get("train_speakers", []))
    if heard & {r.speaker for r in test}:
        raise SystemExit(f"The generator heard {sorted(heard & {r.speaker for r in test})}: pick its held-out fold.")
    if args.real_takes:
        rows = [measure_real_takes(r, records, pipe, judges)
                for r in tqdm(choose_clips(test, args.per_cell, args.seed), desc="clips", unit="clip")]
        return write(args, heard, {name: summarise_real_takes(rows, name) for name in judges.models}, rows,
                     real_takes_table)
    prepare = None
    if args.prosody:
        if not args.prosody.is_file():
            ProsodyStats.measure([r for r in records if r.speaker in heard], pipe.mel_config.sample_rate).save(
                args.prosody)
        stats = ProsodyStats.load(args.prosody)
        prepare = lambda samples, rate, source, target: stats.move(samples, rate, source, target,  # noqa: E731
                                                                    args.prosody_amount)
    rows = evaluate(records, test, pipe, judges, args.per_cell, args.strength, args.steps, args.guidance, args.seed,
                    prepare, steer=args.steer, keep_envelope=args.keep_envelope)
    return write(args, heard, {name: summarise(rows, name) for name in judges.models}, rows, table)


def write(args, heard: set, summaries: dict, rows: list[dict], show) -> dict:
    """Print each judge's `show(summary)` table and write the JSON."""
    for name, summary in summaries.items():
        print(f"judge {name}:", *show(summary), sep="\n")
    result = {"args": json.loads(json.dumps(vars(args), default=str)),
              "generator_speakers": sorted(heard), "summary": summaries, "per_clip": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
