import json
from pathlib import Path

import numpy as np
import pytest

from emodiff.audio import Audio, load_audio
from emodiff.checkpoint import CheckpointError
from emodiff.data import EMOTIONS, Record
from emodiff.functionals import (FunctionalsClassifier, FunctionalsConfig, clip_functionals, functionals,
                                 speaker_zscore)

from .conftest import EMODB_CLIP, MEL, RAVDESS_CLIP, SR, planted


def test_features_of_real_speech_ignore_the_silence_around_it(data_root):
    """Leading and trailing silence is cut before the statistics, so padding a clip with a
    second of near-silence on each side barely moves them; a different clip moves them a lot."""
    cfg = FunctionalsConfig()
    speech = load_audio(EMODB_CLIP, sample_rate=SR).samples
    quiet = np.random.default_rng(0).normal(0, 1e-5, cfg.sample_rate).astype(np.float32)
    a = functionals(speech, cfg)
    b = functionals(np.concatenate([quiet, speech, quiet]), cfg)
    c = functionals(load_audio(RAVDESS_CLIP, sample_rate=SR).samples, cfg)
    assert a.shape == (6373,) and a.dtype == np.float32
    scale = np.nanstd(np.stack([a, c]), 0) + 1e-6
    assert np.nanmedian(np.abs(a - b) / scale) < 0.1 * np.nanmedian(np.abs(a - c) / scale)


def test_features_are_cached_by_content(tmp_path, data_root, monkeypatch):
    import emodiff.functionals as fn

    cfg = FunctionalsConfig(feature_set="eGeMAPSv02")
    first = clip_functionals([EMODB_CLIP, RAVDESS_CLIP], cfg, tmp_path)
    copy = tmp_path / "renamed.flac"
    copy.write_bytes(EMODB_CLIP.read_bytes())
    monkeypatch.setattr(fn, "functionals", lambda *a: pytest.fail("recomputed a cached clip"))
    again = clip_functionals([copy, RAVDESS_CLIP], cfg, tmp_path)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (2, 88)


def test_speaker_zscore_is_per_speaker_and_needs_two_clips():
    x = np.array([[1.0, 10], [3, 30], [100, 0], [300, 2]], np.float32)
    z = speaker_zscore(x, ["a", "a", "b", "b"])
    np.testing.assert_allclose(z, [[-1, -1], [1, 1], [-1, -1], [1, 1]], atol=1e-5)
    with pytest.raises(ValueError, match="two clips"):
        speaker_zscore(x[:3], ["a", "a", "b"])


def test_fit_learns_and_round_trips(tmp_path):
    """Planted emotion dimensions are learnt; the saved model (fp32) gives the same
    probabilities; a speaker-normalised model removes a new speaker's offset."""
    x, labels, spk = planted()
    clf = FunctionalsClassifier.fit(FunctionalsConfig(c=1.0), x, labels, metadata={"train_speakers": ["a"]})
    y = [EMOTIONS.index(e) for e in labels]
    assert (clf.probabilities(x).argmax(1) == y).mean() > 0.9
    clf.save_pretrained(tmp_path / "m")
    loaded = FunctionalsClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_allclose(loaded.probabilities(x), clf.probabilities(x), atol=1e-6)
    assert loaded.metadata == {"train_speakers": ["a"]} and loaded.cfg == clf.cfg

    spk_clf = FunctionalsClassifier.fit(FunctionalsConfig(c=1.0, speaker_norm=True), x, labels, spk)
    new_x, new_labels, new_spk = planted(speakers=("d", "e"), seed=1)  # unseen voices, new offsets
    acc = lambda c, s: (c.probabilities(new_x, s).argmax(1) == [EMOTIONS.index(e) for e in new_labels]).mean()  # noqa: E731
    assert acc(spk_clf, new_spk) > 0.9 > acc(clf, None) + 0.2
    with pytest.raises(ValueError, match="several clips"):
        spk_clf.probabilities(new_x[:1])


def test_refuses_other_folders(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        FunctionalsClassifier.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "emodiff-resnet-ser"}')
    with pytest.raises(CheckpointError, match="another kind"):
        FunctionalsClassifier.from_pretrained(tmp_path)


def test_ensemble_with_functionals_members(tmp_path, data_root, monkeypatch, tiny_classifier):
    """CNN and functionals members vote together: on audio every member counts, the
    speaker-normalised functionals model with the speaker's clips; on a bare mel only the CNNs;
    `evaluate` scores the same average from the records' files."""
    from emodiff.evaluation import Ensemble, evaluate, member_probabilities, reports

    paths = [EMODB_CLIP, RAVDESS_CLIP, EMODB_CLIP.with_name("03a01Wa.flac")]
    x, labels, spk = planted(dim=88)  # eGeMAPS has 88 statistics; what they were fitted on does not matter here
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02"), x, labels).save_pretrained(tmp_path / "f")
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02", speaker_norm=True), x, labels,
                              spk).save_pretrained(tmp_path / "fs")
    tiny_classifier(0).save_pretrained(tmp_path / "cnn")
    ens = Ensemble.from_pretrained([tmp_path / "cnn", tmp_path / "f", tmp_path / "fs"])
    assert [m.cfg.speaker_norm for m in ens.members] == [False, False, True] and ens.networks == ens.members[:1]

    clips = [load_audio(p, crop=True, sample_rate=SR) for p in paths]
    import emodiff.functionals as fn

    calls, analyse = [], fn.functionals
    monkeypatch.setattr(fn, "functionals", lambda *a: calls.append(1) or analyse(*a))
    together = ens.predict_speaker(clips)
    assert len(calls) == len(clips)  # both functionals members share one analysis per clip
    alone = [m.predict_speaker(clips) for m in ens.members]
    for i, probs in enumerate(together):
        assert probs == pytest.approx({e: np.mean([a[i][e] for a in alone]) for e in EMOTIONS}, abs=1e-6)
    with pytest.raises(ValueError, match="several clips"):
        ens.predict(clips[0])  # the speaker-normalised functionals model cannot see one clip
    with pytest.raises(ValueError, match="at least two"):
        ens.predict_speaker(clips[:1])
    single = Ensemble(ens.members[:2])
    assert single.predict(clips[0]) == pytest.approx(
        {e: (ens.members[0].predict(clips[0])[e] + ens.members[1].predict(clips[0])[e]) / 2 for e in EMOTIONS})
    mel = ens.members[0].mel(clips[0])
    assert ens.confidences(mel) == ens.members[0].confidences(mel)

    records = [Record(p, "emodb", "emodb_03", "male", e, "normal", "")
               for p, e in zip(paths, ["happy", "angry", "angry"])]
    mels = [ens.members[0].mel(c).numpy() for c in clips]
    mean = np.mean([member_probabilities(m, mels, records, cache_dir=tmp_path) for m in ens.members], 0)
    assert evaluate(ens, mels, records, cache_dir=tmp_path) == reports(ens.emotions, records, mean)


def test_a_lone_audio_object_is_analysed_as_is():
    """An `Audio` passed in is not decoded again (the app hands over what it loaded)."""
    x, labels, _ = planted(dim=88)
    clf = FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02"), x, labels)
    t = np.arange(SR) / SR
    clip = Audio((0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32),
                 SR, SR, 1)
    probs = clf.predict(clip)
    assert list(probs) == list(EMOTIONS) and sum(probs.values()) == pytest.approx(1, abs=1e-5)


def ravdess_root(data_root, tmp_path, actors=("01", "02", "03", "04")) -> Path:
    """Four RAVDESS actors, every emotion twice: the smallest data every fold can learn from."""
    root = tmp_path / "data"
    for actor in actors:
        folder = root / "ravdess" / f"Actor_{actor}"
        folder.mkdir(parents=True)
        for clip in sorted((data_root / "ravdess" / f"Actor_{actor}").glob("03-01-0[134567]-01-01-0[12]-*")):
            (folder / clip.name).symlink_to(clip)
    return root


def test_cross_validation_keeps_test_speakers_out_and_chooses_c_on_training_speakers(data_root, tmp_path, script):
    root = ravdess_root(data_root, tmp_path)
    out = tmp_path / "cv"
    summary = script("train/cross_validate_functionals").main(
        ["--out", str(out), "--n-folds", "2", "--speaker-norm", "--feature-set", "eGeMAPSv02", "--cs", "0.01", "1",
         "--inner-folds", "2", "--data-root", str(root), "--cache-dir", str(tmp_path / "cache")])
    tested, uas = [], []
    for fold in range(2):
        metrics = json.loads((out / f"speaker_s0_f{fold}" / "metrics.json").read_text())
        model = FunctionalsClassifier.from_pretrained(out / f"speaker_s0_f{fold}" / "best")
        assert not set(metrics["test_speakers"]) & set(model.metadata["train_speakers"])
        assert metrics["c"] == model.cfg.c in (0.01, 1.0) and set(metrics["inner_cv_ua"]) == {"0.01", "1.0"}
        assert model.cfg.speaker_norm and metrics["test"]["ravdess"]["n"] == 24
        tested += metrics["test_speakers"]
        uas.append(metrics["test"]["ravdess"]["ua"])
    assert summary["speaker/ravdess"]["n_runs"] == 2 and summary["speaker/ravdess"]["ua_mean"] == pytest.approx(
        np.mean(uas))  # the table is the folds' own results
    assert sorted(tested) == [f"ravdess_0{a}" for a in range(1, 5)]


def test_an_outlying_statistic_cannot_decide_alone():
    """A clip far outside the training range on one statistic moves the logits no more than a
    clip 5 standard deviations out would."""
    from emodiff.functionals import Z_CLIP

    x, labels, _ = planted()
    clf = FunctionalsClassifier.fit(FunctionalsConfig(c=1.0), x, labels)
    far, edge = x[:1].copy(), x[:1].copy()
    far[0, 10] = clf.model.mean[10].item() + 1e6 * clf.model.scale[10].item()
    edge[0, 10] = clf.model.mean[10].item() + Z_CLIP * clf.model.scale[10].item()
    np.testing.assert_allclose(clf.probabilities(far), clf.probabilities(edge), atol=1e-6)


@pytest.mark.slow
def test_augmentation_of_the_functionals_model_vocodes_once_and_keeps_test_speakers_out(data_root, tmp_path,
                                                                                     monkeypatch, script):
    import emodiff.augment_sets
    from emodiff.data import index_corpora, speaker_fold, speech_mels

    root = ravdess_root(data_root, tmp_path)
    records = index_corpora(root)
    train, test = speaker_fold(records, 0, 2)
    mels = speech_mels(train, MEL, tmp_path / "cache")
    gen = tmp_path / "generated_fold0.npz"  # stand-in for a generated set: training speakers' mels
    np.savez(gen, mels=np.stack([mels[r.path][:, :96] for r in train]).astype(np.float16),
             emotions=np.array([r.emotion for r in train]), source=np.array("test"),
             mel_config=json.dumps(MEL.to_dict()))
    augment_functionals = script("train/augment_functionals")
    common = ["--fold", "0", "--n-folds", "2", "--cs", "0.1", "--inner-folds", "2", "--data-root", str(root),
              "--cache-dir", str(tmp_path / "cache")]
    report = augment_functionals.main(["--generated", str(gen), "--ratios", "0.5", "1",
                                       "--out", str(tmp_path / "a.json")] + common)
    assert list(report["summary"]) == ["real", "real+gen(0.5,vocoded)", "real+gen(1,vocoded)"]
    assert not set(report["test_speakers"]) & {r.speaker for r in train}
    assert len(report["per_clip"]["correct"]["real"]) == len(test) == len(report["per_clip"]["clips"])
    assert report["summary"]["real+gen(1,vocoded)"]["all"]["ci_low"] <= report["summary"]["real+gen(1,vocoded)"][
        "all"]["ua_diff_vs_real"] <= report["summary"]["real+gen(1,vocoded)"]["all"]["ci_high"]
    monkeypatch.setattr(emodiff.augment_sets, "vocoded_mels", lambda *a, **k: pytest.fail("vocoded the set again"))
    again = augment_functionals.main(["--generated", str(gen), "--ratios", "1", "--out", str(tmp_path / "b.json")]
                                     + common)
    assert again["summary"]["real+gen(1,vocoded)"] == report["summary"]["real+gen(1,vocoded)"]
    with pytest.raises(SystemExit, match="fold 1"):
        augment_functionals.main(["--generated", str(gen), "--out", str(tmp_path / "c.json")]
                                 + common[:1] + ["1"] + common[2:])
