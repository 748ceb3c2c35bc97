import sys
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from emodiff.data import EMOTIONS

from .test_diffusion import tiny_pipeline, wake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
import evaluate_generation  # noqa: E402


def test_sets_are_judged_on_each_emotions_first_clips_beside_real_crops_of_their_length(tmp_path):
    path = tmp_path / "set.npz"
    mels = np.arange(18, dtype=np.float16)[:, None, None] * np.ones((18, 80, 16), np.float16)  # clip i is all i
    np.savez(path, mels=mels, emotions=np.array([EMOTIONS[i % 6] for i in range(18)]), source="made here")
    seen = []

    def judged(fake, target):
        seen.append((fake, target))
        return {"n": len(fake)}

    recs = [SimpleNamespace(emotion=EMOTIONS[i % 6], speaker=f"s{i % 2}") for i in range(12)]
    train_mels = [np.full((80, 10 + 5 * i), float(i), np.float32) for i in range(12)]
    test_mels = [np.full((80, 30), -3.0, np.float32)] * 3
    out = evaluate_generation.judge_sets(Namespace(sets=[path], set_n=2), judged, tiny_pipeline(), recs,
                                         train_mels, test_mels)
    (fake, target), (crops, crop_target) = seen
    # The set's first two clips of each emotion, emotion by emotion.
    assert fake[:, 0, 0].tolist() == [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]
    assert target.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert out[str(path)]["source"] == "made here" and out[str(path)]["frames"] == 16
    # Real training clips cut (or padded) to the set's 16 frames, two per emotion, each its own emotion.
    assert crops.shape == (12, 80, 16) and crop_target.tolist() == target.tolist()
    assert [EMOTIONS[int(c[0, 0]) % 6] for c in crops] == [EMOTIONS[k] for k in crop_target]
    assert out["real training crops"]["frames"] == 16
    # Beside each, how far its voices are from the training speakers', and real unseen speakers' crops for scale.
    assert all(entry["voice_distance"] > 0 for entry in out.values())
    assert out["real unseen-speaker crops"]["n"] == 3


def test_voice_distance_is_zero_on_the_training_voices_and_grows_away_from_them():
    pipe = tiny_pipeline()
    wake(pipe.unet)
    rng = np.random.default_rng(0)
    voices = [rng.normal(-5, 2, (80, 40)).astype(np.float32) for _ in range(2)]  # one clip per speaker
    centroids = torch.cat([pipe.style_of(torch.from_numpy(m)) for m in voices])
    assert evaluate_generation.voice_distance(pipe, centroids, voices) < 1e-5
    near, far = (evaluate_generation.voice_distance(pipe, centroids, [voices[0] + shift]) for shift in (0.5, 3.0))
    assert 0 < near < far
