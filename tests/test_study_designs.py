"""Catch trials, the exclusion rule, per-annotator reliability and the three designs (label, A/B,
MUSHRA), checked against numbers worked out by hand on small fixed data sets; the analysis of an
exported CSV must equal the admin view's."""
import json

import numpy as np
import pytest

from emodiff.audio import save_audio
from emodiff.cli import main
from emodiff.stats import wilson
from emodiff.study import Study, StudyError
from emodiff.study_analysis import analyse, read_export, summary_markdown

from .conftest import SR, tone


def _clips(study: Study, clips: dict) -> None:
    """clips: id -> (source, emotion[, meta])."""
    for i, (clip, (source, emotion, *meta)) in enumerate(clips.items()):
        save_audio(study.folder / f"{clip}.wav", tone(0.4, freq=150 + 20 * i), SR)
        study.add_clip(clip, f"{clip}.wav", source, emotion, *meta)


def make_label_study(folder) -> Study:
    """Four clips, an anchor and a repeat of r1; alice and bob attentive, carol not."""
    study = Study(folder, "label")
    _clips(study, {"r1": ("real", "angry"), "r2": ("real", "sad"), "e1": ("enhanced", "happy"),
                   "g1": ("generated", "neutral"), "k1": ("real", "angry", {"catch": "anchor"}),
                   "p1": ("real", "angry", {"catch": "repeat", "of": "r1"})})
    answers = {"alice": [("angry", 5), ("sad", 4), ("happy", 3), ("sad", 2), ("angry", 5), ("angry", 4)],
               "bob": [("angry", 4), ("sad", 4), ("angry", 2), ("neutral", 3), ("angry", 4), ("angry", 4)],
               "carol": [("happy", 1), ("angry", 5), ("sad", 5), ("fear", 1), ("sad", 3), ("neutral", 3)]}
    for annotator, given in answers.items():
        for clip, (emotion, mos) in zip(["r1", "r2", "e1", "g1", "k1", "p1"], given):
            assert study.answer(annotator, clip, emotion, mos)
    return study


@pytest.fixture
def label_study(tmp_path):
    return make_label_study(tmp_path / "label")


def test_catch_trials_exclusion_and_statistics_match_a_hand_computation(label_study):
    s = label_study.summary()
    people = s["annotators"]
    assert [(people[a]["catch_passed"], people[a]["catch_trials"]) for a in ("alice", "bob", "carol")] == \
        [(2, 2), (2, 2), (0, 2)]
    assert s["excluded"] == ["carol"] and "75%" in s["exclusion_rule"]
    # agreement with the others on the four clips that are not catch trials: alice and bob agree
    # on r1 and r2 (2 of their 8 pairings each); carol with no one
    assert (people["alice"]["agreement"], people["bob"]["agreement"], people["carol"]["agreement"]) == (0.25, 0.25, 0)
    real, enhanced = s["sources"]["real"], s["sources"]["enhanced"]
    assert (real["n"], real["accuracy"], real["mos"]) == (4, 1.0, 4.25)  # carol and the catch clips left out
    assert (enhanced["n"], enhanced["accuracy"], enhanced["mos"]) == (2, 0.5, 2.5)
    assert real["accuracy_ci95"] == list(wilson(4, 4))
    assert s["per_emotion"]["enhanced/happy"]["accuracy"] == 0.5
    # alpha = 1 - D_o / D_e = 1 - (4/8) / (44/56) = 4/11; Fleiss: (1/2 - 20/64) / (1 - 20/64) = 3/11
    assert s["krippendorff_alpha"]["emotion"]["alpha"] == pytest.approx(4 / 11)
    assert s["fleiss_kappa"] == pytest.approx(3 / 11) and s["fleiss_kappa_rests_on"].startswith("4 clips")
    text = summary_markdown(s)
    assert "| carol | 6 of 6 | 0 of 2 | 0 % | yes |" in text and "0.36 [" in text and "Array" not in text
    label_study.min_catch_pass = 0.0  # a rule that keeps everyone
    assert label_study.summary()["excluded"] == []


def test_export_analysed_outside_the_app_equals_the_admin_view(label_study, tmp_path, capsys):
    (tmp_path / "answers.csv").write_text(label_study.export_csv())
    rows = read_export(tmp_path / "answers.csv")
    assert len(rows) == 18 and rows[0]["design"] == "label" and isinstance(rows[0]["mos"], int)
    outside = analyse(rows, "label", label_study.min_catch_pass, items=6)
    assert json.dumps(outside, sort_keys=True) == json.dumps(label_study.summary(), sort_keys=True)
    code = main(["analyse-study", str(tmp_path / "answers.csv"), "--out", str(tmp_path / "summary.json"),
                 "--plot", str(tmp_path / "summary.png")])
    assert code == 0 and "excluded: carol" in capsys.readouterr().out
    assert json.loads((tmp_path / "summary.json").read_text())["sources"]["real"]["mos"] == 4.25
    assert (tmp_path / "summary.png").stat().st_size > 10_000
    assert main(["analyse-study", str(label_study.folder)]) == 0  # a study folder directly


def test_ab_design_sides_are_shuffled_per_annotator_and_preferences_counted(tmp_path):
    study = Study(tmp_path / "ab", "ab")
    _clips(study, {"e1": ("enhanced", "happy"), "r1": ("real", "neutral"), "g1": ("generated", "sad"),
                   "r2": ("real", "sad"), "k1": ("real", "angry"), "n1": ("real", "neutral")})
    study.add_trial("t1", ["e1", "r1"], "Which clip sounds more happy?",
                    meta={"comparison": "enhanced vs real (more of the target emotion)"})
    study.add_trial("t2", ["g1", "r2"], "Which clip sounds more natural?",
                    meta={"comparison": "generated vs real (more natural)"})
    study.add_trial("t3", ["k1", "n1"], "Which clip sounds more angry?",
                    meta={"comparison": "anchor", "catch": "anchor", "expect": "k1"})
    with pytest.raises(StudyError, match="no trial of 3 clips"):
        study.add_trial("t4", ["e1", "r1", "g1"], "?")
    sides = {tuple(study.trial("t1", f"ann{i}")["shown"]) for i in range(12)}
    assert sides == {("e1", "r1"), ("r1", "e1")}  # A is not always the enhanced clip
    choices = {"alice": ["e1", "r2", "k1"], "bob": ["e1", "g1", "k1"], "carol": ["r1", "r2", "n1"]}
    for annotator, chosen in choices.items():
        for trial, clip in zip(["t1", "t2", "t3"], chosen):
            assert study.respond(annotator, trial, [study.trial(trial, annotator)["shown"].index(clip)])
        assert not study.respond(annotator, "t1", [0])  # the first answer stands
    with pytest.raises(StudyError, match="A or B"):
        study.respond("dave", "t1", [2])
    s = study.summary()
    assert s["excluded"] == ["carol"] and s["annotators"]["alice"]["catch_passed"] == 1
    comparisons = s["comparisons"]
    assert comparisons["enhanced vs real (more of the target emotion)"]["preferred"] == 1.0
    assert comparisons["generated vs real (more natural)"]["preferred"] == 0.5 and "anchor" not in comparisons
    rows = study.rows()
    assert {r["chosen"] for r in rows} <= {"A", "B"} and all(r[f"clip_{r['chosen'].lower()}"] == r["chosen_clip"]
                                                             for r in rows)


def test_mushra_design_hidden_reference_screens_annotators(tmp_path):
    study = Study(tmp_path / "mushra", "mushra")
    clips = {}
    for page in ("x", "y"):
        clips |= {f"{page}ref": ("real", "sad"), f"{page}h": ("reference", "sad"), f"{page}a": ("anchor", "sad"),
                  f"{page}v": ("vocoded", "sad"), f"{page}e": ("enhanced", "happy")}
    _clips(study, clips)
    for page in ("x", "y"):
        study.add_trial(f"t{page}", [f"{page}h", f"{page}a", f"{page}v", f"{page}e"], "How close?",
                        reference=f"{page}ref")
    scores = {"dave": {"h": 100, "a": 20, "v": 70, "e": 50}, "erin": {"h": 60, "a": 30, "v": 60, "e": 40},
              "fay": {"h": 95, "a": 10, "v": 80, "e": 30}}
    for annotator, given in scores.items():
        for page in ("x", "y"):
            shown = study.trial(f"t{page}", annotator)["shown"]
            study.respond(annotator, f"t{page}", [given[c[1:]] for c in shown])
    with pytest.raises(StudyError, match="every clip"):
        study.respond("gus", "tx", [50, 50])
    s = study.summary()
    assert s["excluded"] == ["erin"] and s["min_catch_pass"] == 0.85  # BS.1534-3: hidden reference below 90
    conditions = s["conditions"]
    assert list(conditions) == ["reference", "vocoded", "enhanced", "anchor"]  # best first
    assert conditions["reference"]["score"] == 97.5 and conditions["anchor"]["score"] == 15.0
    assert conditions["vocoded"]["n"] == 4 and conditions["vocoded"]["annotators"] == 2
    assert s["annotators"]["dave"]["agreement"] == pytest.approx(np.corrcoef([100, 20, 70, 50] * 2,
                                                                             [77.5, 20, 70, 35] * 2)[0, 1])


def test_a_design_is_fixed_once_a_study_has_items(label_study):
    with pytest.raises(StudyError, match="already holds a label study"):
        Study(label_study.folder, "ab")
    assert Study(label_study.folder).design == "label"
    with pytest.raises(StudyError, match="Unknown design"):
        Study(label_study.folder.parent / "other", "mos")
