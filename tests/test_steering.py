"""Statistics steering (`emodiff.diffusion.steering`): the model reads what it says, its
direction raises the target's probability, and the sampler follows it only when asked."""
import numpy as np
import pytest
import torch

from emodiff.data import EMOTIONS, index_corpora
from emodiff.diffusion import mel_seed
from emodiff.diffusion.steering import STEERING_FILE, EmotionStatistics, clip_statistics

from .conftest import MEL


def tilted(tilt: float, n=6, frames=40, seed=0) -> list:
    """Raw log-mels whose spectrum falls by `tilt` nepers from the lowest band to the highest."""
    rng = np.random.default_rng(seed)
    slope = -tilt * np.linspace(0, 1, MEL.n_mels)[:, None]
    return [torch.tensor(-4 + slope + 0.3 * rng.standard_normal((MEL.n_mels, frames)), dtype=torch.float32)
            for _ in range(n)]


@pytest.fixture(scope="module")
def bright_vs_dull():
    """'angry' clips bright (flat spectrum), 'sad' clips dull (steep tilt), the rest in between."""
    tilts = {"angry": 0.0, "sad": 6.0, "neutral": 3.0, "happy": 1.0, "fear": 2.0, "disgust": 4.0}
    mels, labels = [], []
    for i, (e, t) in enumerate(tilts.items()):
        mels += tilted(t, seed=i)
        labels += [e] * 6
    return EmotionStatistics.fit(mels, labels, EMOTIONS, C=1.0)


def test_statistics_see_level_tilt_and_movement():
    flat, steep = tilted(0.0, n=1)[0], tilted(6.0, n=1)[0]
    s = clip_statistics(torch.stack([flat, steep]))
    assert s.shape == (2, 3 * MEL.n_mels + 4)
    n = MEL.n_mels
    # relative level of the top band vs the bottom band: about 6 nepers lower in the steep clip
    assert (s[0, n - 1] - s[0, 0]) - (s[1, n - 1] - s[1, 0]) == pytest.approx(6.0, abs=0.5)
    # a clip twice as loud on every frame: the same shape, the energy mean up by log 2 (nepers)
    s2 = clip_statistics(torch.stack([flat + np.log(2)]))
    assert torch.allclose(s2[0, :n], s[0, :n], atol=1e-5)
    assert s2[0, 3 * n] - s[0, 3 * n] == pytest.approx(np.log(2), abs=1e-4)


def test_direction_raises_the_target_probability(bright_vs_dull):
    model = bright_vs_dull
    dull = torch.stack(tilted(6.0, n=2, seed=9))
    before = model.log_probs(dull)[:, EMOTIONS.index("angry")]
    step = model.direction(dull, ["angry", "angry"])
    assert step.pow(2).mean(dim=(1, 2)).sqrt() == pytest.approx(torch.ones(2), abs=1e-4)  # unit RMS
    after = model.log_probs(dull + 0.3 * step)[:, EMOTIONS.index("angry")]
    assert (after > before + 0.1).all()
    # it brightens: the top bands gain against the bottom ones
    assert (step[:, -10:].mean() - step[:, :10].mean()) > 0


def test_saved_and_loaded(bright_vs_dull, tmp_path):
    bright_vs_dull.save(tmp_path / STEERING_FILE)
    back = EmotionStatistics.load(tmp_path / STEERING_FILE)
    x = torch.stack(tilted(3.0, n=1))
    assert torch.allclose(back.log_probs(x), bright_vs_dull.log_probs(x))


def test_enhance_steers_only_when_asked(tiny_pipeline, bright_vs_dull):
    pipe = tiny_pipeline()
    dull = tilted(6.0, n=1, frames=32, seed=3)[0]
    with pytest.raises(ValueError, match=STEERING_FILE):
        pipe.enhance_batch(dull[None], ["angry"], 0.6, steps=6, steer=1.0)
    pipe.steering = bright_vs_dull
    plain = pipe.enhance_batch(dull[None], ["angry"], 0.6, steps=6, generator=mel_seed(0))
    again = pipe.enhance_batch(dull[None], ["angry"], 0.6, steps=6, generator=mel_seed(0), steer=0.0)
    steered = pipe.enhance_batch(dull[None], ["angry"], 0.6, steps=6, generator=mel_seed(0), steer=1.0)
    assert torch.equal(plain, again)
    angry = EMOTIONS.index("angry")
    assert bright_vs_dull.log_probs(steered)[0, angry] > bright_vs_dull.log_probs(plain)[0, angry] + 0.5
    assert torch.isfinite(steered).all()


def test_fit_steering_fits_on_the_pipelines_own_speakers_and_saves_beside_it(tiny_pipeline, small_root, tmp_path,
                                                                              script):
    from emodiff.checkpoint import CheckpointError
    from emodiff.diffusion import load_pipeline

    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "silent")  # no metadata: whose statistics would they be?
    with pytest.raises(CheckpointError, match="does not say which speakers"):
        script("train/fit_steering").main(["--pipeline", str(tmp_path / "silent"), "--data-root", str(small_root)])
    pipe.metadata = {"train_speakers": ["emodb_03", "ravdess_01"]}
    pipe.save_pretrained(tmp_path / "p")
    out = script("train/fit_steering").main(["--pipeline", str(tmp_path / "p"), "--data-root", str(small_root)])
    records = index_corpora(small_root, EMOTIONS)
    assert out["train_clips"] == sum(r.speaker != "emodb_08" for r in records)  # emodb_08 held out
    assert 0.0 <= out["held_out_ua"] <= 1.0
    loaded = load_pipeline(tmp_path / "p").steering
    seen = sorted({r.emotion for r in records if r.speaker != "emodb_08"}, key=EMOTIONS.index)
    assert loaded.emotions == seen and np.asarray(loaded.weight).shape == (len(seen), 3 * MEL.n_mels + 4)
    x = torch.stack(tilted(3.0, n=1))
    assert loaded.direction(x, seen[:1]).shape == x.shape
    missing = sorted(set(EMOTIONS) - set(seen))
    if missing:
        with pytest.raises(ValueError, match="never saw"):
            loaded.direction(x, missing[:1])


def test_two_emotions_give_two_rows():
    model = EmotionStatistics.fit(tilted(0.0) + tilted(6.0, seed=1), ["angry"] * 6 + ["sad"] * 6, EMOTIONS)
    assert model.emotions == ["sad", "angry"]  # in EMOTIONS order
    dull = torch.stack(tilted(6.0, n=1, seed=5))
    angry = model.emotions.index("angry")
    assert model.log_probs(dull).exp().sum() == pytest.approx(1.0, abs=1e-5)
    assert model.log_probs(dull + 0.3 * model.direction(dull, ["angry"]))[0, angry] > model.log_probs(dull)[0, angry]
