"""Cross-validation summaries (emodiff.stats, emodiff.reports) and train/ensemble_cv.py."""
import json

import pytest

from emodiff.reports import cv_table
from emodiff.stats import paired_runs, summarize_runs


def test_summary_keeps_protocols_apart_even_when_one_name_starts_another():
    def run(ua):
        return {"emodb": {"ua": ua, "wa": ua - 0.1}}

    runs = {"speaker_s0_f0": run(0.6), "speaker_s0_f1": run(0.8), "speaker-single-clip_s0_f0": run(0.4),
            "speaker-single-clip_s0_f1": run(0.5), "random_s0_f0": run(0.9)}
    summary = summarize_runs(runs)
    assert summary["speaker/emodb"]["ua_mean"] == pytest.approx(0.7)
    assert summary["speaker/emodb"]["ua_std"] == pytest.approx(0.1)
    assert summary["speaker/emodb"]["n_runs"] == 2
    assert summary["speaker-single-clip/emodb"]["wa_mean"] == pytest.approx(0.35)
    assert summary["random/emodb"]["n_runs"] == 1 and "speaker/ravdess" not in summary
    table = cv_table(summary)
    assert "one clip at a time | emodb | 45.0% [" in table and "] | 5.0% |" in table and "random 8:2" in table


def test_paired_differences_use_only_runs_both_have():
    runs = {"speaker_s0_f0": {"emodb": {"ua": 0.8}}, "speaker_s0_f1": {"emodb": {"ua": 0.5}},
            "speaker_s1_f0": {"emodb": {"ua": 0.9}}}
    base = {"speaker_s0_f0": {"emodb": {"ua": 0.6}}, "speaker_s0_f1": {"emodb": {"ua": 0.6}}}
    d = paired_runs(runs, base)["emodb"]
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.05) and d["better"] == d["worse"] == 1
    assert d["fold_diffs"] == pytest.approx([0.2, -0.1]) and 0 < d["wilcoxon_p"] <= 1


def fake_runs(tiny_classifier, run, folds, speaker_norm, ua, seed=0) -> dict:
    """A cross-validation output folder of tiny classifiers whose metrics.json report `ua`
    (+ fold / 10); returns the last fold's metrics."""
    for fold, test in enumerate(folds):
        clf = tiny_classifier(fold + 10 * seed)
        clf.cfg.speaker_norm = speaker_norm
        clf.save_pretrained(run / f"speaker_s{seed}_f{fold}" / "best")
        metrics = {"seed": seed, "test_speakers": test,
                   "test": {c: {"ua": ua + fold / 10, "wa": ua} for c in ("emodb", "all")}}
        (run / f"speaker_s{seed}_f{fold}" / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def test_ensemble_cv_scores_each_folds_members_together_on_their_test_speakers(data_root, tmp_path, small_root,
                                                                               script, tiny_classifier):
    from emodiff.data import index_corpora

    ensemble_cv = script("train/ensemble_cv")
    root = small_root
    folds = [["emodb_03", "ravdess_01"], ["emodb_08"]]
    for run, speaker_norm, ua in (("plain", False, 0.5), ("spk", True, 0.7)):
        metrics = fake_runs(tiny_classifier, tmp_path / run, folds, speaker_norm, ua)
    args = ["--runs", str(tmp_path / "plain"), str(tmp_path / "spk"), "--n-folds", "2", "--data-root", str(root),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "e.json")]
    summary = ensemble_cv.main(args)
    saved = json.loads((tmp_path / "e.json").read_text())
    records = index_corpora(root)
    assert saved["runs"]["ensemble_s0_f1"]["emodb"]["n"] == sum(r.speaker == "emodb_08" for r in records)
    assert "ravdess" not in saved["runs"]["ensemble_s0_f1"]
    assert saved["runs"]["ensemble_s0_f0"]["all"]["n"] == sum(r.speaker in folds[0] for r in records)
    assert summary["ensemble/emodb"]["n_runs"] == 2
    assert summary["spk-member/emodb"]["ua_mean"] == pytest.approx(0.75)  # members as they scored alone
    assert summary["plain-member/emodb"]["ua_mean"] == pytest.approx(0.55)

    metrics["test_speakers"] = ["emodb_03"]  # the last member tested on other speakers than its partner
    (tmp_path / "spk" / "speaker_s0_f1" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SystemExit, match="different speakers"):
        ensemble_cv.main(args)


def test_ensemble_cv_takes_each_runs_own_seeds(data_root, tmp_path, small_root, script, tiny_classifier):
    """`RUN:1` takes only seed 1 of RUN; a run missing every seed asked for is refused."""
    ensemble_cv = script("train/ensemble_cv")
    root = small_root
    folds = [["emodb_03"], ["emodb_08"]]
    fake_runs(tiny_classifier, tmp_path / "plain", folds, False, 0.5, seed=0)
    fake_runs(tiny_classifier, tmp_path / "plain", folds, False, 0.3, seed=1)
    fake_runs(tiny_classifier, tmp_path / "func", folds, False, 0.9, seed=0)
    common = ["--n-folds", "2", "--data-root", str(root), "--cache-dir", str(tmp_path / "cache"),
              "--out", str(tmp_path / "e.json")]
    summary = ensemble_cv.main(["--runs", f"{tmp_path / 'plain'}:1", str(tmp_path / "func"), "--seeds", "0", "1"]
                               + common)
    assert summary["plain-member/emodb"]["ua_mean"] == pytest.approx(0.35)  # seed 1 only
    assert summary["plain-member/emodb"]["n_runs"] == summary["func-member/emodb"]["n_runs"] == 2
    with pytest.raises(SystemExit, match="no fold-0 run"):
        ensemble_cv.main(["--runs", f"{tmp_path / 'plain'}:2"] + common)


def test_calibrate_writes_each_folds_temperature_and_the_ensemble_reports_its_calibration(
        data_root, tmp_path, small_root, script, tiny_classifier):
    """train/calibrate.py on two folds: fold 0's temperature is the one fold 1's predictions
    alone give, and the reverse; the shipped copy gets the temperature of both; the JSON and the
    reliability diagram are written; train/ensemble_cv.py then scores the calibrated members
    and pools the folds' calibration."""
    from emodiff.calibration import fit_temperature, out_of_fold
    from emodiff.data import index_corpora
    from emodiff.evaluation import sharpen

    root, run, shipped = small_root, tmp_path / "plain", tmp_path / "shipped"
    fake_runs(tiny_classifier, run, [["emodb_03", "ravdess_01"], ["emodb_08"]], False, 0.5)
    tiny_classifier(seed=5).save_pretrained(shipped)
    common = ["--n-folds", "2", "--data-root", str(root), "--cache-dir", str(tmp_path / "cache")]
    result = script("train/calibrate").main(["--run", str(run), "--ship", str(shipped),
                                            "--out", str(tmp_path / "cal" / "cnn.json")] + common)
    folds = out_of_fold(run, [0], 2, index_corpora(root), tmp_path / "cache")
    for f in (0, 1):
        other = folds[1 - f]
        assert result["fold_temperatures"][f] == pytest.approx(fit_temperature([(other.scorers[0], other.y)]),
                                                               rel=1e-3)
        config = json.loads((run / f"speaker_s0_f{f}" / "best" / "config.json").read_text())
        assert config["temperature"] == pytest.approx(result["fold_temperatures"][f], abs=1e-4)
    assert json.loads((shipped / "config.json").read_text())["temperature"] == pytest.approx(
        result["temperature"], abs=1e-4)
    saved = json.loads((tmp_path / "cal" / "cnn.json").read_text())
    assert saved["before"]["all"]["n"] == len(index_corpora(root)) and 0 <= saved["after"]["emodb"]["ece"] <= 1
    assert (tmp_path / "cal" / "cnn.png").stat().st_size > 1000

    script("train/ensemble_cv").main(["--runs", str(run), "--out", str(tmp_path / "e.json")] + common)
    pooled = json.loads((tmp_path / "e.json").read_text())["pooled"]
    assert pooled["all"]["n"] == len(index_corpora(root))
    assert pooled["all"]["ece"] == pytest.approx(saved["after"]["all"]["ece"], abs=1e-4)  # same members, calibrated
    assert (tmp_path / "e.png").stat().st_size > 1000

    # the ensemble's own temperature: each fold's from the other fold, all folds' shipped
    release = tmp_path / "release" / "ensembles.json"
    release.parent.mkdir()
    script("train/ensemble_cv").main(["--runs", str(run), "--out", str(tmp_path / "c.json"), "--calibrate",
                                      "--ship", f"{release}:one_clip"] + common)
    calibrated = json.loads((tmp_path / "c.json").read_text())
    probs = [f.scorers[0](result["fold_temperatures"][f.index]) for f in folds]  # the calibrated members
    for f in (0, 1):
        other = (lambda t, p=probs[1 - f]: sharpen(p, t), folds[1 - f].y)
        assert calibrated["fold_temperatures"][str(f)] == pytest.approx(fit_temperature([other]), rel=5e-3)
    assert json.loads(release.read_text())["one_clip"]["temperature"] == pytest.approx(
        calibrated["temperature"], abs=1e-4)
    assert calibrated["pooled"]["all"]["ua"] == pooled["all"]["ua"]  # a temperature never changes the ranking
