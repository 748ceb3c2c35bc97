"""Calibrated confidences: ECE by hand, temperature scaling, folds calibrated without their
own speakers, the temperature saved with a model and used by it."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emodiff.calibration import Fold, calibrate_run, fit_temperature, set_temperature
from emodiff.classifier import EmotionClassifier
from emodiff.data import EMOTIONS, Record
from emodiff.evaluation import clip_probabilities, load_classifier
from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig
from emodiff.metrics import calibration


def test_ece_and_reliability_bins_match_a_hand_computation():
    # four clips at 0.9 (three right) and two at 0.55 (both right): bins 9 and 5
    probs = np.array([[0.9, 0.1]] * 4 + [[0.45, 0.55]] * 2)
    y = np.array([0, 0, 0, 1, 1, 1])
    cal = calibration(probs, y)
    assert cal["bins"][9] == pytest.approx({"low": 0.9, "high": 1.0, "n": 4, "confidence": 0.9, "accuracy": 0.75})
    assert cal["bins"][5]["n"] == 2 and cal["bins"][5]["accuracy"] == 1.0
    assert cal["ece"] == pytest.approx((4 * 0.15 + 2 * 0.45) / 6)
    assert cal["nll"] == pytest.approx(-(3 * np.log(0.9) + np.log(0.1) + 2 * np.log(0.55)) / 6)
    assert sum(b["n"] for b in cal["bins"]) == 6


def overconfident(n: int, factor: float, seed: int):
    """Labels drawn from softmax(z), and a scorer that reads `factor` * z: calibrated at t = factor."""
    rng = np.random.default_rng(seed)
    z = torch.from_numpy(rng.normal(0, 1.5, (n, 6)))
    y = np.array([rng.choice(6, p=p) for p in z.softmax(-1).numpy()])
    return (lambda t: (factor * z / t).softmax(-1).numpy()), y


def test_temperature_scaling_finds_a_known_overconfidence_and_lowers_the_ece():
    scorer, y = overconfident(6000, 3.0, seed=0)
    t = fit_temperature([(scorer, y)])
    assert t == pytest.approx(3.0, rel=0.08)
    assert calibration(scorer(t), y)["ece"] < 0.03 < 0.15 < calibration(scorer(1.0), y)["ece"]
    assert (scorer(t).argmax(1) == scorer(1.0).argmax(1)).all()  # the ranking is untouched


def test_each_fold_is_calibrated_on_the_other_folds_only(tmp_path):
    """Fold 0's speakers are far more overconfident than the rest: its own temperature must not
    see that (it comes from folds 1-2), the shipped one (all folds) does; each fold's members get
    theirs written into their configs."""
    folds = []
    for f, factor in enumerate((6.0, 2.0, 2.0)):
        scorer, y = overconfident(3000, factor, seed=f)
        folder = tmp_path / f"speaker_s0_f{f}"
        (folder / "best").mkdir(parents=True)
        (folder / "best" / "config.json").write_text(json.dumps({"model_type": "x", "temperature": 1.0}))
        records = [Record(Path(f"{f}_{i}.wav"), ("emodb", "ravdess")[i % 2], f"spk{f}_{i % 4}", "female",
                          EMOTIONS[k], "normal", "") for i, k in enumerate(y)]
        folds.append(Fold(f, EMOTIONS, [folder], records, y, [scorer]))
    result = calibrate_run(folds)
    t = result["fold_temperatures"]
    assert t[0] == pytest.approx(2.0, rel=0.1) and t[1] > 2.5 and t[2] > 2.5
    assert t[1] == pytest.approx(t[2], rel=0.15) and 2.5 < result["temperature"] < 4.5
    for f in range(3):
        assert json.loads((tmp_path / f"speaker_s0_f{f}" / "best" / "config.json").read_text())[
            "temperature"] == pytest.approx(t[f], abs=1e-4)
    before, after = result["before"], result["after"]
    assert after["ravdess"]["ece"] < before["ravdess"]["ece"]
    assert before["all"]["ua"] == after["all"]["ua"] and before["all"]["n"] == 9000
    low, high = after["emodb"]["ece_ci95"]
    assert low <= after["emodb"]["ece"] <= high


def test_a_saved_temperature_is_read_back_and_flattens_the_probabilities(tmp_path, tiny_classifier):
    clf = tiny_classifier()
    clf.save_pretrained(tmp_path / "cnn")
    set_temperature(tmp_path / "cnn", 2.5)
    hot = load_classifier(tmp_path / "cnn")
    assert isinstance(hot, EmotionClassifier) and hot.cfg.temperature == 2.5
    mel = torch.randn(80, 100) - 5
    with torch.no_grad():
        crops, masks = clf.windows(mel)
        logits = clf.model(crops, masks)
    assert hot.mel_probabilities(mel).numpy() == pytest.approx((logits / 2.5).softmax(-1).mean(0).numpy(), abs=1e-5)
    assert clip_probabilities(hot, [mel.numpy()])[0] == pytest.approx(hot.mel_probabilities(mel).numpy(), abs=1e-5)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 5)).astype(np.float32)
    labels = [EMOTIONS[i % 6] for i in range(24)]
    x[:, 0] += np.arange(24) % 6  # something to learn
    func = FunctionalsClassifier.fit(FunctionalsConfig(c=10.0), x, labels)
    func.save_pretrained(tmp_path / "func")
    set_temperature(tmp_path / "func", 3.0)
    warm = load_classifier(tmp_path / "func")
    assert warm.cfg.temperature == 3.0
    assert warm.probabilities(x) == pytest.approx((func.logits(x) / 3.0).softmax(-1).numpy(), abs=1e-6)
    assert warm.probabilities(x).max(1).mean() < func.probabilities(x).max(1).mean()
