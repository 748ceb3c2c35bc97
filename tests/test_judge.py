"""emodiff.judge: a held-out classifier's view of generated mels."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emodiff.data import EMOTIONS
from emodiff.judge import Judge, judge_sets, voice_distance

from .conftest import wake


def test_sets_are_judged_on_each_emotions_first_clips_beside_real_crops_of_their_length(tmp_path, tiny_pipeline):
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
    out = judge_sets([path], 2, judged, tiny_pipeline(), recs, train_mels, test_mels)
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


def test_voice_distance_is_zero_on_the_training_voices_and_grows_away_from_them(tiny_pipeline):
    pipe = tiny_pipeline()
    wake(pipe.unet)
    rng = np.random.default_rng(0)
    voices = [rng.normal(-5, 2, (80, 40)).astype(np.float32) for _ in range(2)]  # one clip per speaker
    centroids = torch.cat([pipe.style_of(torch.from_numpy(m)) for m in voices])
    assert voice_distance(pipe, centroids, voices) < 1e-5
    near, far = (voice_distance(pipe, centroids, [voices[0] + shift]) for shift in (0.5, 3.0))
    assert 0 < near < far


def test_real_mels_judged_against_themselves_are_as_real_as_it_gets(tiny_classifier):
    """The judge's measures on the real unseen-speaker mels themselves: Fréchet distance zero,
    diversity equal to the real diversity, recognition equal to the judge's own accuracy."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 10)  # Fréchet distances need ten clips per emotion
    test = [rng.normal(-5 + 0.3 * k, 2, (80, 40)).astype(np.float32) for k in labels]
    train = [rng.normal(-5, 2, (80, 40)).astype(np.float32) for _ in range(60)]
    judge = Judge(tiny_classifier(), test, labels, train)
    entry = judge(np.stack(test), labels)
    assert entry["fd_generated_vs_real_test"] == pytest.approx(0, abs=1e-6)
    assert entry["diversity_generated"] == pytest.approx(entry["diversity_real_test"])
    assert entry["target_recognised_mean"] == pytest.approx(judge.real_test_ua)
    assert judge.real_train_vs_real_test_fd > 0
