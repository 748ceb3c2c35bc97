"""Classifying a 3 s clip end to end on the CPU (decode -> features -> model), p50 and p95.

    python bench/bench_classifier.py [--checkpoint checkpoints/classifier] [--repeats 30]

Also times the shipped functionals model and the ensemble the app uses for one clip (when
shipped) and the paper's ResNet-50 at random weights, so the sizes can be compared.
"""
from __future__ import annotations

import argparse
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emodiff.audio import MelNormalizer, load_audio  # noqa: E402
from emodiff.classifier import ClassifierConfig, EmotionClassifier, Ensemble  # noqa: E402
from emodiff.data import DEFAULT_DATA_ROOT  # noqa: E402
from emodiff.functionals import FunctionalsClassifier  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "classifier"


def clip_bytes(data_root: Path) -> bytes:
    """A real 3 s clip, as a user would upload it (16-bit WAV at 48 kHz)."""
    audio = load_audio(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")
    samples = np.resize(audio.samples, 3 * 22050)
    buf = io.BytesIO()
    sf.write(buf, samples, 22050, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def measure(clf, data: bytes, repeats: int) -> tuple[float, float]:
    clf.predict(data)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        clf.predict(data)
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    data = clip_bytes(args.data_root)
    norm = MelNormalizer(np.full(80, -5.0), np.full(80, 2.0))
    models = {"ResNet-50 (random weights)": EmotionClassifier(ClassifierConfig.resnet50(), norm)}
    if (args.checkpoint / "config.json").exists():
        shipped = Ensemble.shipped(args.checkpoint.parent).members if args.checkpoint.name == "classifier" else []
        functionals = [m for m in shipped if isinstance(m, FunctionalsClassifier)]
        models = {f"shipped ({args.checkpoint.name})": EmotionClassifier.from_pretrained(args.checkpoint),
                  **({"shipped functionals (ComParE + logistic regression)": functionals[0]} if functionals else {}),
                  **({f"shipped ensemble ({len(shipped)} models, the app's)": Ensemble(shipped)}
                     if len(shipped) > 1 else {}),
                  **models}
    print(f"device: cpu ({torch.get_num_threads()} threads), {platform.machine()}, torch {torch.__version__}\n")
    print("| model | parameters | p50 | p95 | goal |")
    print("|---|---|---|---|---|")
    for name, clf in models.items():
        p50, p95 = measure(clf, data, args.repeats)
        n = sum(p.numel() for m in getattr(clf, "members", [clf]) for p in m.model.parameters())
        size = f"{n / 1e6:.1f} M" if n >= 1e5 else f"{n / 1e3:.0f} k"
        print(f"| {name} | {size} | {p50 * 1e3:.0f} ms | {p95 * 1e3:.0f} ms | <= 100 ms p50 |")


if __name__ == "__main__":
    main()
