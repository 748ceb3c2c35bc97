"""Measure the prosody step's statistics on a diffusion pipeline's own training speakers and
save them beside it (`emodiff.prosody`; the app's Enhance then uses them to change emotions).

    python train/measure_prosody.py --pipeline checkpoints/diffusion

Per emotion, relative to each speaker's neutral takes: pitch offset (semitones), pitch-range and
duration ratios, averaged over the speakers. About a minute on two CPU threads.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from emodiff.data import EMOTIONS, index_corpora
from emodiff.diffusion import training_speakers
from emodiff.prosody import PROSODY_FILE, ProsodyStats
from emodiff.training import add_data_args


def main(argv=None) -> ProsodyStats:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, default=Path("checkpoints/diffusion"))
    add_data_args(p)
    args = p.parse_args(argv)
    speakers = training_speakers(args.pipeline)
    records = [r for r in index_corpora(args.data_root, EMOTIONS) if r.speaker in speakers]
    stats = ProsodyStats.measure(records)
    stats.save(args.pipeline / PROSODY_FILE)
    for emotion in EMOTIONS:
        print(f"{emotion:8} {stats.semitones[emotion]:+5.1f} semitones, range x{stats.range[emotion]:.2f}, "
              f"duration x{stats.duration[emotion]:.2f}")
    return stats


if __name__ == "__main__":
    main()
