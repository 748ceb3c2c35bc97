import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emodiff.checkpoint import CheckpointError
from emodiff.classifier import ClassifierConfig, EmotionClassifier, ResNetSER
from emodiff.data import index_corpora
from emodiff.mel import MelNormalizer
from emodiff.metrics import classification_report

from .conftest import EMODB_CLIP, MEL, ROOT, SR


def test_resnet50_shapes_and_size():
    cfg = ClassifierConfig.resnet50()
    model = ResNetSER(cfg).eval()
    n = sum(p.numel() for p in model.parameters())
    assert 23e6 < n < 24e6  # ResNet-50 body (one input channel) + a 6-way head
    x = torch.randn(2, 80, 100)
    with torch.no_grad():
        assert model(x).shape == (2, 6) and model.embed(x).shape == (2, cfg.embedding_dim) == (2, 2048)


def test_mask_ignores_padding(tiny_classifier):
    clf = tiny_classifier()
    x = torch.randn(1, 80, 64)
    mask = torch.zeros(1, 64, dtype=torch.bool)
    mask[:, :32] = True
    padded = x.clone()
    padded[:, :, 32:] = 0  # different padding content, same mask
    with torch.no_grad():
        a, b = clf.model.embed(x, mask), clf.model.embed(padded, mask)
    # Receptive fields straddle the boundary, so only approximately equal; far closer than
    # the unmasked embeddings of the two inputs.
    with torch.no_grad():
        full = (clf.model.embed(x) - clf.model.embed(padded)).abs().mean()
    assert (a - b).abs().mean() < full


def test_any_length_and_predict(data_root, tiny_classifier):
    clf = tiny_classifier()
    probs = clf.predict(EMODB_CLIP)
    assert list(probs) == list(clf.emotions) and abs(sum(probs.values()) - 1) < 1e-5
    assert clf.embed(EMODB_CLIP).shape == (clf.cfg.embedding_dim,)
    short = clf.mel_probabilities(torch.full((80, 10), -5.0))  # shorter than one crop
    assert short.shape == (6,)


def test_save_load_round_trip_fp16(tmp_path, tiny_classifier):
    clf = tiny_classifier()
    clf.save_pretrained(tmp_path / "c")
    assert {p.name for p in (tmp_path / "c").iterdir()} == {"config.json", "model.safetensors",
                                                           "normalizer.json"}
    loaded = EmotionClassifier.from_pretrained(tmp_path / "c")
    mel = torch.randn(80, 100) * 2 - 5
    torch.testing.assert_close(loaded.mel_probabilities(mel), clf.mel_probabilities(mel), atol=2e-3, rtol=0)
    assert loaded.cfg == clf.cfg


def test_tampered_checkpoint_is_refused(tmp_path, tiny_classifier):
    tiny_classifier().save_pretrained(tmp_path / "c")
    weights = tmp_path / "c" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        EmotionClassifier.from_pretrained(tmp_path / "c")
    tiny_classifier().save_pretrained(tmp_path / "d")
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())
    cfg["width"] = 16
    (tmp_path / "d" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match"):
        EmotionClassifier.from_pretrained(tmp_path / "d")


def test_metrics_ua_wa():
    r = classification_report([0, 0, 0, 1], [0, 0, 1, 1], ["a", "b"])
    assert r["wa"] == 0.75 and r["ua"] == pytest.approx((2 / 3 + 1) / 2)
    assert r["confusion_matrix"] == [[2, 1], [0, 1]] and r["per_class"]["b"]["precision"] == 0.5


def train_tiny(tmp_path, out, *extra):
    """train_classifier.py on EmoDB with speaker 03 held out, a small net, no validation
    speakers; `extra` flags come last, so they override these."""
    cmd = [sys.executable, str(ROOT / "train" / "train_classifier.py"), "--arch", "small",
           "--corpora", "emodb", "--test-speakers", "emodb_03", "--val-speakers", "0", "--batch-size", "16",
           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / out), "--cpu"]
    return subprocess.run(cmd + list(extra), check=True, capture_output=True, text=True)


@pytest.mark.slow
def test_tiny_training_run_overfits_and_resumes_exactly(data_root, tmp_path):
    """Two EmoDB speakers held out, a tiny net: the loss falls; a run killed mid-epoch and
    resumed ends with exactly the weights of an uninterrupted run."""
    from safetensors.torch import load_file

    def run(out, *extra):
        return train_tiny(tmp_path, out, "--crop-frames", "64", "--lr", "3e-3", "--epochs", "4", "--specaugment",
                          *extra)

    run("straight")
    run("killed", "--max-steps", "25")  # epoch 1 of 4, mid-epoch
    progress = json.loads((tmp_path / "killed" / "state" / "progress.json").read_text())
    assert progress["step"] == 25 and progress["epoch"] == 1
    assert "resumed at epoch 1, step 25" in run("killed").stdout
    a = load_file(str(tmp_path / "straight" / "best" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "best" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    metrics = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    losses = [h["train_loss"] for h in metrics["history"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert losses[2:] == [h["train_loss"] for h in resumed["history"]][2:]  # epoch 1 was split
    assert metrics["test_speakers"] == ["emodb_03"] and "emodb_03" not in metrics["train_speakers"]
    assert set(metrics["test"]["emodb"]) >= {"ua", "wa", "macro_f1", "per_class", "confusion_matrix"}
    # Per-clip predictions agree with the report's recall (they are what the report counts).
    predictions = metrics["test_predictions"]
    assert len(predictions) == metrics["test"]["emodb"]["n"]
    clips = [r for r in index_corpora(data_root, corpora=["emodb"]) if r.speaker == "emodb_03"]
    assert metrics["test"]["emodb"]["wa"] == pytest.approx(np.mean([predictions[r.name] == r.emotion for r in clips]))
    assert (tmp_path / "straight" / "confusion_emodb.png").exists()
    assert (tmp_path / "straight" / "curves.png").exists()


@pytest.mark.slow
def test_fewer_speakers_same_steps(data_root, tmp_path):
    """--speaker-share trains on a share of the training speakers at the whole set's draws per
    epoch: the data change, the compute does not."""
    def run(out, *extra):
        train_tiny(tmp_path, out, "--crop-frames", "32", "--epochs", "1", "--seed", "3", *extra)
        return json.loads((tmp_path / out / "metrics.json").read_text())

    full, half = run("full"), run("half", "--speaker-share", "0.5")
    assert len(full["train_speakers"]) == 7 and len(half["train_speakers"]) == 4  # of EmoDB's 8, one tested
    assert set(half["train_speakers"]) < set(full["train_speakers"])
    steps = [json.loads((tmp_path / out / "state" / "progress.json").read_text())["step"] for out in ("full", "half")]
    assert steps[0] == steps[1] > 0


def test_faded_items_leave_the_sampler_by_the_last_epoch():
    """Generated clips (the last 50) fade: the first epoch draws exactly as without fading,
    later epochs fewer and fewer of them, the last none; draws per epoch stay the same."""
    from emodiff.training import EpochSampler

    weights, generated = np.ones(100), np.arange(100) >= 50
    plain, faded = EpochSampler(100, 0, weights, 400), EpochSampler(100, 0, weights, 400, generated, epochs=5)
    shares = []
    for epoch in range(5):
        plain.set_epoch(epoch), faded.set_epoch(epoch)
        draws = list(faded)
        assert len(draws) == len(faded) == 400
        if epoch == 0:
            assert draws == list(plain)
        shares.append(np.mean(generated[draws]))
    assert 0.4 < shares[0] < 0.6 and shares[-1] == 0
    assert all(a > b for a, b in zip(shares, shares[1:]))


def test_utterance_norm_ignores_a_clips_overall_spectrum(tmp_path, tiny_classifier):
    """With utterance normalisation, a gain or a fixed spectral tilt (another microphone)
    changes nothing; without it, it does. The option survives save/load."""
    torch.manual_seed(0)
    mel = torch.randn(80, 120) - 5.0
    tilt = torch.linspace(-1.0, 2.0, 80)[:, None]
    cfg = ClassifierConfig.small(width=8, crop_frames=32, utterance_norm=True)
    clf = EmotionClassifier(cfg, MelNormalizer(np.zeros(80), np.full(80, 2.0), MEL))
    clf.save_pretrained(tmp_path / "c")
    loaded = EmotionClassifier.from_pretrained(tmp_path / "c")
    assert loaded.cfg.utterance_norm
    torch.testing.assert_close(loaded.mel_probabilities(mel + tilt), loaded.mel_probabilities(mel),
                               atol=1e-3, rtol=0)  # fp16 weights
    torch.testing.assert_close(loaded.windows(mel + tilt)[0], loaded.windows(mel)[0])
    plain = tiny_classifier()
    assert (plain.windows(mel + tilt)[0] - plain.windows(mel)[0]).abs().mean() > 0.3


def test_speaker_norm_removes_the_speaker_but_keeps_the_clip(tmp_path, tiny_classifier):
    """A speaker-normalised model sees a speaker's microphone tilt cancelled, yet a clip louder
    than that speaker's others stays louder; evaluation derives each speaker's mean from their
    own clips only, and a lone clip falls back to its own mean."""
    from emodiff.data import Record, speaker_means
    from emodiff.evaluation import clip_probabilities, speaker_references

    torch.manual_seed(0)
    cfg = ClassifierConfig.small(width=8, crop_frames=32, speaker_norm=True)
    clf = EmotionClassifier(cfg, MelNormalizer(np.zeros(80), np.full(80, 2.0), MEL))
    clf.save_pretrained(tmp_path / "c")
    clf = EmotionClassifier.from_pretrained(tmp_path / "c")
    assert clf.cfg.speaker_norm

    def rec(speaker, i):
        return Record(Path(f"{speaker}_{i}.wav"), "emodb", speaker, "female", "neutral", "normal", "")

    base = [np.random.default_rng(i).normal(-5, 1, (80, 60 + 10 * i)).astype(np.float32) for i in range(3)]
    loud = base[2] + 1.0  # the speaker's third clip, louder than their others
    tilt = np.linspace(-1.0, 2.0, 80, dtype=np.float32)[:, None]
    records = [rec("a", i) for i in range(3)] + [rec("b", i) for i in range(3)]
    mels = base[:2] + [loud] + [m + tilt for m in base[:2] + [loud]]  # speaker b: a's clips, other mic
    means = speaker_means(records, mels)
    np.testing.assert_allclose(means["b"] - means["a"], tilt[:, 0], atol=1e-5)
    refs = speaker_references(clf.cfg, records, mels)
    np.testing.assert_array_equal(refs[0], means["a"]), np.testing.assert_array_equal(refs[5], means["b"])
    probs = clip_probabilities(clf, mels, refs)
    np.testing.assert_allclose(probs[:3], probs[3:], atol=1e-5)  # the microphone is gone
    loud, quiet = torch.from_numpy(loud), torch.from_numpy(base[2])
    difference = clf.windows(loud, means["a"])[0] - clf.windows(quiet, means["a"])[0]
    assert difference.mean() == pytest.approx(0.5, abs=1e-4)  # +1 nat / std 2: kept
    # No reference: the clip's own mean, so the same loudness offset vanishes.
    torch.testing.assert_close(clf.windows(loud)[0], clf.windows(quiet)[0])
    assert speaker_references(tiny_classifier().cfg, records, mels) is None


def test_ensemble_averages_its_members_each_prepared_its_own_way(tmp_path, tiny_classifier):
    """A plain and a speaker-normalised member: the ensemble's predictions are the mean of
    what each gives alone (the normalised one with the speaker's clips), and evaluation
    scores that mean."""
    from emodiff.audio import Audio
    from emodiff.data import Record
    from emodiff.evaluation import Ensemble, clip_probabilities, evaluate, reports, speaker_references

    plain = tiny_classifier(0)
    spk = tiny_classifier(1)
    spk.cfg.speaker_norm = True
    plain.save_pretrained(tmp_path / "plain"), spk.save_pretrained(tmp_path / "spk")
    ens = Ensemble.from_pretrained([tmp_path / "spk", tmp_path / "plain"])
    assert ens.speaker_norm and ens.emotions == plain.emotions
    rng = np.random.default_rng(0)
    clips = [Audio(rng.normal(0, 0.1 * (i + 1), SR).astype(np.float32), SR, SR, 1) for i in range(3)]
    members = [m.predict_speaker(clips) for m in ens.members]
    for i, probs in enumerate(ens.predict_speaker(clips)):
        assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
        for e in ens.emotions:
            assert probs[e] == pytest.approx((members[0][i][e] + members[1][i][e]) / 2, abs=1e-6)
    assert members[0][0] != members[1][0]  # the members do differ

    records = [Record(Path(f"{i}.wav"), "emodb", "a", "female", e, "normal", "")
               for i, e in enumerate(["angry", "sad", "happy"])]
    mels = [ens.members[0].mel(c).numpy() for c in clips]
    loaded_spk, loaded_plain = ens.members
    mean = (clip_probabilities(loaded_spk, mels, speaker_references(spk.cfg, records, mels))
            + clip_probabilities(loaded_plain, mels)) / 2
    assert evaluate(ens, mels, records) == reports(ens.emotions, records, mean)
    other = tiny_classifier()
    other.cfg.emotions = ("angry", "sad")
    with pytest.raises(ValueError, match="share"):
        Ensemble([plain, other])
