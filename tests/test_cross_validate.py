import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
import cross_validate  # noqa: E402


def test_summary_keeps_protocols_apart_even_when_one_name_starts_another():
    def run(ua):
        return {"emodb": {"ua": ua, "wa": ua - 0.1}}

    runs = {"speaker_s0_f0": run(0.6), "speaker_s0_f1": run(0.8), "speaker-single-clip_s0_f0": run(0.4),
            "speaker-single-clip_s0_f1": run(0.5), "random_s0_f0": run(0.9)}
    summary = cross_validate.summarize(runs)
    assert summary["speaker/emodb"]["ua_mean"] == pytest.approx(0.7)
    assert summary["speaker/emodb"]["ua_std"] == pytest.approx(0.1)
    assert summary["speaker/emodb"]["n_runs"] == 2
    assert summary["speaker-single-clip/emodb"]["wa_mean"] == pytest.approx(0.35)
    assert summary["random/emodb"]["n_runs"] == 1 and "speaker/ravdess" not in summary
    table = cross_validate.table(summary)
    assert "one clip at a time | emodb | 45.0% ± 5.0%" in table and "random 8:2" in table


def test_paired_differences_use_only_runs_both_have():
    runs = {"speaker_s0_f0": {"emodb": {"ua": 0.8}}, "speaker_s0_f1": {"emodb": {"ua": 0.5}},
            "speaker_s1_f0": {"emodb": {"ua": 0.9}}}
    base = {"speaker_s0_f0": {"emodb": {"ua": 0.6}}, "speaker_s0_f1": {"emodb": {"ua": 0.6}}}
    d = cross_validate.paired(runs, base)["emodb"]
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.05) and d["better"] == d["worse"] == 1
