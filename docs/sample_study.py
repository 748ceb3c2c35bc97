"""A listening test run end to end by a script, for the README's sample summary: what the admin
view and `emodiff analyse-study` print. The annotators are simulated, so the numbers say
nothing about EmoDiff; they show what a study reports and how the exclusion rule acts.

    python docs/sample_study.py --out results/sample_study

Makes a labelling study from fold 0's speakers with the shipped models (`make_study`), then
five simulated annotators answer every clip through the same `Study` calls the app makes: four
attentive ones mostly name the emotion the shipped recogniser hears (else one drawn from its
confidences) and rate naturalness with a bias of their own; a careless one answers at random.
Writes the CSV export, the summary (JSON, and Markdown as the admin view shows it) and its plot.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np

from emodiff.cli import main as emodiff
from emodiff.data import DEFAULT_DATA_ROOT, EMOTIONS, index_corpora, speaker_fold
from emodiff.make_study import make_study
from emodiff.service import EmoDiff
from emodiff.study import Study

ANNOTATORS = {"sim_a": -0.5, "sim_b": 0.0, "sim_c": 0.3, "sim_d": 0.8, "sim_careless": None}  # naturalness bias


def answer_all(study: Study, svc: EmoDiff, seed: int) -> None:
    rng = np.random.default_rng(seed)
    heard = {c: svc.recognise(svc.load(study.clip_path(c))) for c in study.clip_ids()}
    for annotator, bias in ANNOTATORS.items():
        clip, *_ = study.next_item(annotator)
        while clip is not None:
            if bias is None:
                emotion, mos = str(rng.choice(EMOTIONS)), int(rng.integers(1, 6))
            else:  # mostly what the recogniser hears most, now and then a less likely emotion
                probs = np.array([heard[clip][e] for e in EMOTIONS])
                emotion = EMOTIONS[int(probs.argmax())] if rng.random() < 0.8 else \
                    str(rng.choice(EMOTIONS, p=probs / probs.sum()))
                mos = int(np.clip(round(3.2 + bias + rng.normal(0, 0.7)), 1, 5))
            study.answer(annotator, clip, emotion, mos, plays=1, seconds=float(rng.uniform(4, 15)))
            clip, *_ = study.next_item(annotator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/sample_study"))
    parser.add_argument("--n", type=int, default=4, help="clips per source (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    svc = EmoDiff()
    _, test = speaker_fold(index_corpora(DEFAULT_DATA_ROOT, EMOTIONS), 0)
    folder = Path(tempfile.mkdtemp()) / "study"
    study = make_study(folder, test, svc.pipeline, "label", n_per_source=args.n, seed=args.seed)
    answer_all(study, svc, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "answers.csv").write_text(study.export_csv())
    with open(args.out / "summary.md", "w") as md, contextlib.redirect_stdout(md):
        emodiff(["analyse-study", str(args.out / "answers.csv"), "--out", str(args.out / "summary.json"),
                 "--plot", str(args.out / "summary.png")])
    summary = json.loads((args.out / "summary.json").read_text())
    print(f"{summary['answers']} answers; excluded: {summary['excluded']}")


if __name__ == "__main__":
    main()
