"""Three source / enhanced mel pairs at the app's defaults, for the README: held-out speakers'
clips changed to another emotion, each titled with what a held-out judge hears.

    python docs/enhance_examples.py --judge runs/cv_small/speaker_s1_f0/best --out docs/enhance_pairs.png

The clips are fold 0's (speakers the shipped generator never heard); the judge is a classifier
that never heard them either and had no part in the generator.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.data import DEFAULT_DATA_ROOT, EMOTIONS, index_corpora, speaker_fold
from emodiff.enhancement_eval import Judges
from emodiff.plotting import plot_mel_grid, save_figure
from emodiff.sampling import DEFAULT_INTENSITY, INTENSITY
from emodiff.service import EmoDiff

PAIRS = [("emodb", "neutral", "angry"), ("emodb", "angry", "sad"), ("ravdess", "sad", "happy")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--judge", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("docs/enhance_pairs.png"))
    args = p.parse_args()
    svc, judge = EmoDiff(), Judges([args.judge])
    name = next(iter(judge.models))
    _, test = speaker_fold(index_corpora(DEFAULT_DATA_ROOT, EMOTIONS), 0)
    rows, titles = [], []
    for corpus, source, target in PAIRS:
        record = next(r for r in test if r.corpus == corpus and r.emotion == source)
        audio = svc.load(record.path)
        out = svc.enhance(audio, target, guidance=INTENSITY[DEFAULT_INTENSITY])
        heard = [EMOTIONS[judge(w, svc.sample_rate)[name].argmax()] for w in (audio.samples, out.wave.numpy())]
        rows.append([out.source_mel.numpy(), out.mel.numpy()])
        titles.append(f"{record.name}\n{source} → {target}\njudge: {heard[0]} → {heard[1]}")
    fig = plot_mel_grid(rows, titles, ["source", f"enhanced ({DEFAULT_INTENSITY})"], svc.mel_config,
                        title="held-out speakers, the app's defaults", panel=(4.2, 2.0))
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()
