import csv
import io

import numpy as np
import pytest

from emodiff.audio import save_audio
from emodiff.stats import clustered_mean, fleiss_kappa, wilson
from emodiff.study import Study, StudyError

from .conftest import SR, tone


@pytest.fixture
def study(tmp_path):
    s = Study(tmp_path / "study")
    for i, (source, emotion) in enumerate([("real", "angry"), ("real", "sad"), ("enhanced", "happy"),
                                           ("generated", "fear")]):
        save_audio(s.folder / f"c{i}.wav", tone(0.5), SR)
        s.add_clip(f"c{i}", f"c{i}.wav", source, emotion)
    return s


def test_blinded_order_is_per_annotator_and_resumes(study):
    assert sorted(study.order("ann1")) == ["c0", "c1", "c2", "c3"]
    assert study.order("ann1") == study.order("ann1")
    orders = {tuple(study.order(f"ann{i}")) for i in range(10)}
    assert len(orders) > 1  # not everyone hears the same order
    first, done, total = study.next_item("ann1")
    assert (done, total) == (0, 4)
    study.answer("ann1", first, "angry", 4, "ok")
    # A new Study object (a restarted server) continues where the annotator left off.
    again = Study(study.folder)
    nxt, done, _ = again.next_item("ann1")
    assert done == 1 and nxt != first and nxt == study.order("ann1")[1]


def test_answers_validate_and_are_never_overwritten(study):
    with pytest.raises(StudyError, match="annotator ID"):
        study.answer("", "c0", "angry", 3)
    with pytest.raises(StudyError, match="annotator ID"):
        study.answer("../../etc", "c0", "angry", 3)
    with pytest.raises(StudyError, match="choose one"):
        study.answer("ann1", "c0", "bored", 3)
    with pytest.raises(StudyError, match="1 \\(bad\\) to 5"):
        study.answer("ann1", "c0", "angry", 7)
    with pytest.raises(StudyError, match="Unknown clip"):
        study.answer("ann1", "nope", "angry", 3)
    assert study.answer("ann1", "c0", "angry", 3)
    assert not study.answer("ann1", "c0", "sad", 2)  # a repeat neither duplicates nor overwrites
    assert [(r["answered_emotion"], r["mos"]) for r in study.rows()] == [("angry", 3)]


def test_annotators_are_isolated(study):
    study.answer("alice", "c0", "angry", 5)
    study.answer("bob", "c0", "sad", 1)
    assert study.answered("alice") == {"c0"} and study.answered("bob") == {"c0"}
    rows = {r["annotator"]: r for r in study.rows()}
    assert rows["alice"]["answered_emotion"] == "angry" and rows["bob"]["answered_emotion"] == "sad"


def test_clip_files_must_stay_inside_the_folder(study):
    with pytest.raises(StudyError, match="inside the study folder"):
        study.add_clip("x", "../../etc/passwd", "real", "angry")


def test_summary_and_csv(study):
    for ann in ("a1", "a2", "a3"):
        for clip, emotion in zip(["c0", "c1", "c2", "c3"], ["angry", "sad", "happy", "neutral"]):
            study.answer(ann, clip, emotion, 4)
    s = study.summary()
    assert s["answers"] == 12 and (s["annotators"]["a1"]["answered"], s["annotators"]["a1"]["total"]) == (4, 4)
    assert s["sources"]["real"]["accuracy"] == 1.0 and s["sources"]["generated"]["accuracy"] == 0.0
    assert s["sources"]["real"]["mos"] == 4.0 and s["fleiss_kappa"] == pytest.approx(1.0)
    assert s["krippendorff_alpha"]["emotion"]["alpha"] == pytest.approx(1.0)
    assert s["krippendorff_alpha"]["mos"] is None  # every rating a 4: agreement is undefined, not perfect
    rows = list(csv.DictReader(io.StringIO(study.export_csv())))
    assert len(rows) == 12 and {"annotator", "clip", "source", "intended_emotion", "answered_emotion",
                                "mos"} <= set(rows[0])


def test_statistics_helpers():
    lo, hi = wilson(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.98
    assert fleiss_kappa([["a", "b"], ["b", "a"]]) < 0
    assert fleiss_kappa([]) is None
    assert np.isclose(fleiss_kappa([["a", "a"], ["b", "b"]]), 1.0)


def test_mos_interval_resamples_annotators(study):
    """A lenient, a middling and a strict annotator over 20 clips: 60 answers but three
    opinions. The interval must be as wide as the annotators disagree, not shrink with the
    number of answers as if each were independent."""
    clips = [f"r{i}" for i in range(20)]
    for clip in clips:
        study.add_clip(clip, f"{clip}.wav", "real", "angry")
    for ann, mos in (("lenient", 5), ("strict", 1), ("middle", 3)):
        for clip in clips:
            study.answer(ann, clip, "angry", mos)
    real = study.summary()["sources"]["real"]
    assert real["annotators"] == 3 and real["mos_ci_resamples"] == "annotators" and real["mos"] == 3.0
    low, high = real["mos_ci95"]
    naive = 2 * 1.96 * np.std([5, 1, 3] * 20, ddof=1) / np.sqrt(60)  # answers taken as independent
    assert high - low > 2 * naive
    one = clustered_mean([4, 5, 3], ["a", "a", "a"])
    assert one["resamples"].startswith("answers") and one["ci95"][0] < 4 < one["ci95"][1]


def test_make_study_sets_every_clip_to_one_loudness_and_real_lengths(tiny_pipeline, data_root, tmp_path):
    """Level and length must not give a clip's source away: every clip within 0.5 LU of the
    target, generated clips as long as the real ones; catch trials mixed in: anchors of a clear
    emotion, repeats of clips already in the study."""
    import soundfile as sf

    from emodiff.data import EMOTIONS, index_corpora
    from emodiff.loudness import loudness
    from emodiff.make_study import ANCHOR_EMOTIONS, make_study

    records = [r for r in index_corpora(data_root, EMOTIONS) if r.speaker == "emodb_03"]
    study = make_study(tmp_path / "s", records, tiny_pipeline(), n_per_source=2, steps=2, target_lufs=-26.0)
    levels, lengths = {}, {}
    for clip in study.clip_ids():
        wave, rate = sf.read(study.clip_path(clip))
        levels[clip], lengths[clip] = loudness(wave, rate), len(wave) / rate
    assert len(levels) == 10 and all(abs(v + 26.0) <= 0.5 for v in levels.values()), levels
    clips = study.clips()
    catch = {k: c["meta"] for k, c in clips.items() if "catch" in c["meta"]}
    anchors = [k for k, m in catch.items() if m["catch"] == "anchor"]
    repeats = [m["of"] for m in catch.values() if m["catch"] == "repeat"]
    assert len(anchors) == 2 and {clips[k]["emotion"] for k in anchors} <= set(ANCHOR_EMOTIONS)
    assert len(repeats) == 2 and set(repeats) <= set(clips) - set(catch)
    real = sorted(lengths[c] for c, v in clips.items() if v["source"] == "real" and c not in catch)
    generated = sorted(lengths[c] for c, v in clips.items() if v["source"] == "generated")
    assert generated == pytest.approx(real, abs=0.1)  # to the mel frame and the sampler's rounding


def test_make_study_ab_and_mushra(tiny_pipeline, data_root, tmp_path):
    """An A/B study: pairs of the named comparisons plus anchor pairs; a MUSHRA study: per page a
    real reference, its hidden copy, the low-pass anchor, the vocoder alone and two enhancements."""
    from emodiff.data import EMOTIONS, index_corpora
    from emodiff.make_study import make_study

    records = [r for r in index_corpora(data_root, EMOTIONS) if r.speaker == "emodb_03"]
    ab = make_study(tmp_path / "ab", records, tiny_pipeline(), "ab", n_per_source=1, steps=2, anchors=1)
    trials = [ab.trial(t, "someone") for t in ab.items()]
    assert sorted(t["meta"]["comparison"] for t in trials) == ["anchor", "enhanced vs real (more of the target "
                                                                "emotion)", "generated vs real (more natural)"]
    anchor, = [t for t in trials if t["meta"].get("catch")]
    assert anchor["meta"]["expect"] in anchor["shown"]
    mushra = make_study(tmp_path / "mushra", records, tiny_pipeline(), "mushra", n_per_source=1, steps=2)
    page = mushra.trial(mushra.items()[0], "someone")
    clips = mushra.clips()
    assert clips[page["reference"]]["source"] == "real" and mushra.min_catch_pass == 0.85
    assert sorted(clips[c]["source"] for c in page["shown"]) == ["anchor", "clearer", "enhanced", "reference",
                                                                 "vocoded"]
