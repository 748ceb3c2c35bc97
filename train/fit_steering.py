"""Fit the statistics steering model (`emodiff.diffusion.steering`) on a diffusion pipeline's
own training speakers and save it beside it; enhancement's `steer` then uses it.

    python train/fit_steering.py --pipeline checkpoints/diffusion

Prints its unweighted accuracy on the pipeline's held-out speakers (a sanity check: it is a
direction to move in, not a recogniser). About a minute on two CPU threads.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.data import EMOTIONS, index_corpora
from emodiff.diffusion import training_speakers
from emodiff.diffusion.steering import STEERING_FILE, EmotionStatistics
from emodiff.mel import MelNormalizer, mel_of
from emodiff.metrics import classification_report
from emodiff.training import add_data_args


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, default=Path("checkpoints/diffusion"))
    add_data_args(p)
    args = p.parse_args(argv)
    # The mel the pipeline reads is its normaliser's; the networks need not load.
    mel_config = MelNormalizer.load(args.pipeline / "normalizer.json").mel_config
    speakers = training_speakers(args.pipeline)
    records = index_corpora(args.data_root, EMOTIONS)
    mel = lambda r: mel_of(r.path, mel_config)  # noqa: E731
    train = [r for r in records if r.speaker in speakers]
    model = EmotionStatistics.fit([mel(r) for r in train], [r.emotion for r in train], EMOTIONS)
    model.save(args.pipeline / STEERING_FILE)
    held_out = [r for r in records if r.speaker not in speakers]
    ua = None
    if held_out:
        guess = [model.emotions[int(model.log_probs(mel(r)[None]).argmax())] for r in held_out]
        ua = classification_report([EMOTIONS.index(r.emotion) for r in held_out],
                                   [EMOTIONS.index(g) for g in guess], EMOTIONS)["ua"]
        print(f"held-out speakers ({len({r.speaker for r in held_out})}): UA {100 * ua:.1f} %")
    return {"train_clips": len(train), "held_out_ua": ua}


if __name__ == "__main__":
    main()
