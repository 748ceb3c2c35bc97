"""train/evaluate.py: any data root, speaker-normalised members, ensembles."""
import json

import numpy as np
import pytest

import emodiff.evaluation
from emodiff.classifier import ClassifierConfig, EmotionClassifier
from emodiff.data import index_corpora, speaker_means, speech_mels
from emodiff.evaluation import window_logits

from .conftest import MEL, ROOT, flat_normalizer, planted


@pytest.fixture
def evaluate(script):
    return script("train/evaluate")


def test_evaluate_any_data_root(data_root, tmp_path, capsys, small_root, evaluate):
    """The shipped classifier on a foreign folder: per-corpus JSON, PNGs, and a warning that
    these speakers were heard in training."""
    root = small_root
    out = tmp_path / "m" / "metrics.json"
    metrics = evaluate.main(["--checkpoint", str(ROOT / "checkpoints" / "classifier"), "--data-root", str(root),
                             "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    saved = json.loads(out.read_text())
    assert saved["speakers"] == ["emodb_03", "emodb_08", "ravdess_01"]
    n_emodb = len(index_corpora(root, corpora=["emodb"]))
    assert saved["emodb"]["n"] == n_emodb and saved["all"]["n"] == n_emodb + saved["ravdess"]["n"]
    assert np.sum(saved["all"]["confusion_matrix"]) == saved["all"]["n"]
    assert set(saved["emodb"]["per_class"]["happy"]) == {"precision", "recall", "f1", "support"}
    assert saved["speakers_seen_in_training"] == saved["speakers"] == metrics["speakers"]
    assert "not speaker-independent" in capsys.readouterr().out
    for corpus in ("emodb", "ravdess", "all"):
        assert (out.parent / f"metrics_confusion_{corpus}.png").stat().st_size > 1000


def test_evaluate_speaker_normalised_model(data_root, tmp_path, capsys, monkeypatch, small_root, evaluate):
    """A speaker-normalised model is scored with each speaker's mean over their clips found in
    the folder, or with each clip alone under --single-clip."""
    root = small_root
    cfg = ClassifierConfig.small(width=8, crop_frames=32, speaker_norm=True)
    EmotionClassifier(cfg, flat_normalizer(0.0)).save_pretrained(tmp_path / "c")
    records = index_corpora(root)
    mels = speech_mels(records, MEL, tmp_path / "cache")
    means = speaker_means(records, [mels[r.path] for r in records])
    seen = []

    def spy(clf, mels, speaker_means=None, **kw):
        seen.append(speaker_means)
        return window_logits(clf, mels, speaker_means, **kw)

    monkeypatch.setattr(emodiff.evaluation, "window_logits", spy)
    for flags, said in (([], "from all their clips"), (["--single-clip"], "alone")):
        metrics = evaluate.main(["--checkpoint", str(tmp_path / "c"), "--data-root", str(root), "--out",
                                 str(tmp_path / "m.json"), "--cache-dir", str(tmp_path / "cache")] + flags)
        assert metrics["all"]["n"] == len(records) and said in capsys.readouterr().out
    with_speaker, alone = seen
    assert alone is None
    for r, ref in zip(records, with_speaker):
        np.testing.assert_array_equal(ref, means[r.speaker])


def test_evaluate_an_ensemble(data_root, tmp_path, capsys, monkeypatch, small_root, evaluate):
    """Several checkpoints are one ensemble: each member scored its own way (the speaker-
    normalised one with its speakers' means, the plain one without), seen speakers united."""
    root = small_root
    cfg = ClassifierConfig.small(width=8, crop_frames=32, speaker_norm=True)
    EmotionClassifier(cfg, flat_normalizer(0.0)).save_pretrained(tmp_path / "spk")
    seen = []

    def spy(clf, mels, speaker_means=None, **kw):
        seen.append((clf.cfg.speaker_norm, speaker_means is not None))
        return window_logits(clf, mels, speaker_means, **kw)

    monkeypatch.setattr(emodiff.evaluation, "window_logits", spy)
    metrics = evaluate.main(["--checkpoint", str(tmp_path / "spk"), str(ROOT / "checkpoints" / "classifier"),
                             "--data-root", str(root), "--out", str(tmp_path / "m.json"),
                             "--cache-dir", str(tmp_path / "cache")])
    assert seen == [(True, True), (False, False)]
    assert metrics["all"]["n"] == len(index_corpora(root))
    assert metrics["speakers_seen_in_training"] == metrics["speakers"]  # the shipped member heard them
    assert "from all their clips" in capsys.readouterr().out


def test_evaluate_speaker_normalised_functionals_by_speaker_or_by_groups(data_root, tmp_path, small_root, evaluate):
    """A speaker-normalised functionals model scores a folder with each speaker's clips, or with
    groups of a few of them; asked to score clips alone it stops with the reason."""
    from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig

    root = small_root
    x, labels, spk = planted(dim=88)
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02", speaker_norm=True), x, labels,
                              spk).save_pretrained(tmp_path / "fs")
    common = ["--checkpoint", str(tmp_path / "fs"), "--data-root", str(root), "--cache-dir", str(tmp_path / "c")]
    whole = evaluate.main(common + ["--out", str(tmp_path / "a.json")])
    grouped = evaluate.main(common + ["--out", str(tmp_path / "b.json"), "--reference-clips", "2"])
    assert whole["all"]["n"] == grouped["all"]["n"] == len(index_corpora(root))
    assert whole["speakers"] == grouped["speakers"]  # groups are not reported as speakers
    with pytest.raises(SystemExit, match="several clips"):
        evaluate.main(common + ["--out", str(tmp_path / "c.json"), "--single-clip"])
