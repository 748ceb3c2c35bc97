"""Classifying a 3 s clip end to end on the CPU (decode -> features -> model), p50 and p95.

    python bench/bench_classifier.py [--checkpoint checkpoints/classifier] [--repeats 30]

Also times the shipped statistics models (openSMILE's functionals, the voice encoder's) and the
ensemble the app uses for one clip (when shipped) and the paper's ResNet-50 at random weights,
so the sizes can be compared.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from emodiff.audio import load_audio
from emodiff.benchmark import save_bench, time_it, timing
from emodiff.classifier import ClassifierConfig, EmotionClassifier
from emodiff.data import DEFAULT_DATA_ROOT
from emodiff.evaluation import Ensemble
from emodiff.functionals import VOICE_ENCODER, FunctionalsClassifier
from emodiff.mel import MelNormalizer
from emodiff.service import CHECKPOINTS, EmoDiff
from emodiff.voice_encoder import shipped as voice_encoder

KINDS = {"ComParE_2016": "functionals (ComParE + logistic regression)",
         VOICE_ENCODER: "voice statistics (voice encoder + logistic regression)"}


def clip_bytes(data_root: Path, rate: int) -> bytes:
    """A real 3 s clip, as a user would upload it (16-bit WAV at the models' rate)."""
    audio = load_audio(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac", sample_rate=rate)
    buf = io.BytesIO()
    sf.write(buf, np.resize(audio.samples, 3 * rate), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def measure(clf, data: bytes, repeats: int) -> dict:
    clf.predict(data)  # warm-up
    return timing(time_it(lambda: clf.predict(data), repeats))


def parameters(model) -> int:
    """Weights a model runs, the voice encoder's included (it lives outside the model's folder)."""
    own = sum(p.numel() for p in model.model.parameters())
    voice = isinstance(model, FunctionalsClassifier) and model.cfg.feature_set == VOICE_ENCODER
    return own + (sum(p.numel() for p in voice_encoder().parameters()) if voice else 0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=CHECKPOINTS / "classifier")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    resnet = ClassifierConfig.resnet50()
    data = clip_bytes(args.data_root, resnet.mel.sample_rate)
    norm = MelNormalizer(np.full(resnet.mel.n_mels, -5.0), np.full(resnet.mel.n_mels, 2.0), resnet.mel)
    models = {"ResNet-50 (random weights)": EmotionClassifier(resnet, norm)}
    if (args.checkpoint / "config.json").exists():
        shipped = EmoDiff(args.checkpoint.parent).classifier.members if args.checkpoint.name == "classifier" else []
        statistics = {f"shipped {KINDS.get(m.cfg.feature_set, m.cfg.feature_set)}": m for m in shipped
                      if isinstance(m, FunctionalsClassifier)}
        models = {f"shipped ({args.checkpoint.name})": EmotionClassifier.from_pretrained(args.checkpoint),
                  **statistics,
                  **({f"shipped ensemble ({len(shipped)} models, the app's)": Ensemble(shipped)}
                     if len(shipped) > 1 else {}),
                  **models}
    rows = [{"model": name, "parameters": sum(parameters(m) for m in getattr(clf, "members", [clf])),
             **measure(clf, data, args.repeats)}
            for name, clf in models.items()]
    lines = ["| model | parameters | p50 | p95 | goal |", "|---|---|---|---|---|"]
    for r in rows:
        n = r["parameters"]
        size = f"{n / 1e6:.1f} M" if n >= 1e5 else f"{n / 1e3:.0f} k"
        lines.append(f"| {r['model']} | {size} | {r['p50'] * 1e3:.0f} ms | {r['p95'] * 1e3:.0f} ms | <= 100 ms p50 |")
    save_bench("classifier", sys.argv, rows, lines, clip="3 s RAVDESS clip as 16-bit WAV bytes")


if __name__ == "__main__":
    main()
