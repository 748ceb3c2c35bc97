import sys
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from emodiff.data import EMOTIONS

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

    recs = [SimpleNamespace(emotion=EMOTIONS[i % 6]) for i in range(12)]
    train_mels = [np.full((80, 10 + 5 * i), float(i), np.float32) for i in range(12)]
    out = evaluate_generation.judge_sets(Namespace(sets=[path], set_n=2), judged, recs, train_mels)
    (fake, target), (crops, crop_target) = seen
    # The set's first two clips of each emotion, emotion by emotion.
    assert fake[:, 0, 0].tolist() == [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]
    assert target.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert out[str(path)]["source"] == "made here" and out[str(path)]["frames"] == 16
    # Real training clips cut (or padded) to the set's 16 frames, two per emotion, each its own emotion.
    assert crops.shape == (12, 80, 16) and crop_target.tolist() == target.tolist()
    assert [EMOTIONS[int(c[0, 0]) % 6] for c in crops] == [EMOTIONS[k] for k in crop_target]
    assert out["real training crops"]["frames"] == 16
