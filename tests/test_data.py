from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emodiff.checkpoint import replace_atomically
from emodiff.data import (ALL_EMOTIONS, EMOTIONS, FeatureCache, center_crop, content_groups,
                          index_corpora, leave_one_speaker_out, random_crop, random_split,
                          sliding_windows, speaker_groups, speaker_kfold, speaker_subset, speakers,
                          trim_silence)
from emodiff.mel import MelConfig

from .conftest import MEL

DUPLICATES = ("03-01-03-01-02-01-07", "03-01-03-01-02-02-07")  # byte-identical in RAVDESS


@pytest.fixture(scope="module")
def records(data_root):
    return index_corpora(data_root, ALL_EMOTIONS)


def test_index_finds_every_clip_with_its_labels(records):
    corpora = Counter(r.corpus for r in records)
    assert len(records) == 1608 and corpora == {"emodb": 408, "ravdess": 1200}
    assert len(speakers(records)) == 28
    by_name = {r.name: r for r in records}
    r = by_name["03a01Fa"]
    assert (r.speaker, r.gender, r.emotion, r.text) == ("emodb_03", "male", "happy",
                                                        "Der Lappen liegt auf dem Eisschrank.")
    assert by_name["08a01Ab"].gender == "female" and by_name["08a01Ab"].emotion == "fear"
    r = by_name["03-01-05-02-01-01-12"]
    assert (r.speaker, r.gender, r.emotion, r.intensity, r.text) == (
        "ravdess_12", "female", "angry", "strong", "Kids are talking by the door.")
    assert by_name["03-01-07-01-02-02-01"].emotion == "disgust"
    assert by_name["03-01-07-01-02-02-01"].gender == "male"


def test_six_shared_emotions_by_default(data_root):
    six = index_corpora(data_root)
    assert {r.emotion for r in six} == set(EMOTIONS) and len(six) == 1230
    assert Counter(r.emotion for r in six if r.corpus == "emodb")["angry"] == 100
    with pytest.raises(ValueError, match="Unknown emotions"):
        index_corpora(data_root, ["joy"])


def _assert_no_leak(records, folds):
    for train, test in folds:
        assert not {records[i].speaker for i in train} & {records[i].speaker for i in test}
        assert sorted(train + test) == list(range(len(records)))


def test_leave_one_speaker_out(records):
    folds = leave_one_speaker_out(records)
    assert len(folds) == 28
    _assert_no_leak(records, folds)
    assert all(len({records[i].speaker for i in test}) == 1 for _, test in folds)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_speaker_kfold_covers_every_speaker_once_gender_balanced(records, k):
    folds = speaker_kfold(records, k, seed=3)
    _assert_no_leak(records, folds)
    tested = [records[i].speaker for _, test in folds for i in set(test)]
    assert sorted(set(tested)) == speakers(records)
    ravdess = [r for r in records if r.corpus == "ravdess"]
    for group in speaker_groups(ravdess, 5, seed=3):  # 20 actors -> 2 women + 2 men a fold
        genders = Counter("male" if int(s[-2:]) % 2 else "female" for s in group)
        assert genders == {"male": 2, "female": 2}
    assert speaker_groups(records, k, seed=3) == speaker_groups(records, k, seed=3)
    assert speaker_groups(records, k, seed=3) != speaker_groups(records, k, seed=4)


def test_speaker_subset_keeps_a_share_of_each_corpus_whole_speakers_genders_alternating(records):
    half = speaker_subset(records, 0.5, seed=1)
    kept = speakers(half)
    by_corpus = Counter(s.split("_")[0] for s in kept)
    assert by_corpus == {"emodb": 4, "ravdess": 10}  # of 8 and 20
    genders = Counter(r.gender for r in {r.speaker: r for r in half if r.corpus == "ravdess"}.values())
    assert genders == {"male": 5, "female": 5}
    assert half == [r for r in records if r.speaker in set(kept)]  # every clip of a kept speaker, in order
    assert speakers(speaker_subset(records, 0.5, seed=1)) == kept
    assert speakers(speaker_subset(records, 0.5, seed=2)) != kept
    assert speaker_subset(records, 1.0) == list(records)
    assert Counter(s.split("_")[0] for s in speakers(speaker_subset(records, 0.01))) == {"emodb": 1, "ravdess": 1}
    with pytest.raises(ValueError):
        speaker_subset(records, 0.0)


def test_identical_pair_never_straddles_a_split(records):
    idx = [i for i, r in enumerate(records) if r.name in DUPLICATES]
    groups = content_groups([records[i] for i in idx])
    assert len(idx) == 2 and groups[0] == groups[1]
    for train, test in speaker_kfold(records, 5) + [random_split(records, 0.2, seed=s) for s in range(5)]:
        assert len({i in test for i in idx}) == 1


def test_random_split_is_8_to_2(records):
    train, test = random_split(records, 0.2, seed=0)
    assert abs(len(test) / len(records) - 0.2) < 0.01 and not set(train) & set(test)


def test_feature_cache_keyed_by_content_and_config(tmp_path, data_root, records):
    paths = [records[0].path, records[500].path, records[1000].path]
    cache = FeatureCache(tmp_path, MEL)
    mels = cache.build(paths, workers=2)
    assert all(m.shape[0] == 80 and m.dtype == np.float32 for m in mels)
    assert len(list(cache.dir.glob("*.npy"))) == 3
    stamp = cache.path_for(paths[0]).stat().st_mtime_ns
    np.testing.assert_array_equal(cache.get(paths[0]), mels[0])  # a hit: nothing rewritten
    assert cache.path_for(paths[0]).stat().st_mtime_ns == stamp
    # A copy of the file under another name hits the same entry.
    copy = tmp_path / "renamed.flac"
    copy.write_bytes(paths[0].read_bytes())
    assert cache.path_for(copy) == cache.path_for(paths[0])
    # Another mel config lives elsewhere.
    other = FeatureCache(tmp_path, MelConfig(n_mels=40))
    assert other.dir != cache.dir and other.get(paths[0]).shape[0] == 40


def test_crops_and_masks():
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(80, 300)).astype(np.float32)
    crop, mask = random_crop(mel, 128, rng, MEL.silence)
    assert crop.shape == (80, 128) and mask.all()
    start = int(np.flatnonzero((mel == crop[:, :1]).all(axis=0))[0])
    np.testing.assert_array_equal(mel[:, start:start + 128], crop)
    short, mask = center_crop(mel[:, :100], 128, MEL.silence)
    assert mask.sum() == 100 and (short[:, 100:] == MEL.silence).all()
    windows, masks = sliding_windows(mel, 128, MEL.silence, 64)
    assert windows.shape == (4, 80, 128) and masks.all()  # starts 0, 64, 128, 172
    np.testing.assert_array_equal(windows[-1], mel[:, -128:])  # the end is covered
    windows, masks = sliding_windows(mel[:, :50], 128, MEL.silence)
    assert windows.shape == (1, 80, 128) and masks.sum() == 50


def test_trim_silence_drops_quiet_edges():
    mel = np.full((80, 200), MEL.silence, np.float32)
    mel[:, 60:140] = -2.0
    trimmed = trim_silence(mel, top_db=40, margin=4)
    assert trimmed.shape[1] == 80 + 8


def test_reference_groups_deal_each_speakers_clips():
    """Groups of the size asked within each speaker, the remainder joining a group; 0 keeps speakers."""
    from emodiff.data import Record, reference_groups

    records = [Record(Path(f"{s}{i}.wav"), "ravdess", s, "male", "sad", "normal", "") for s in "ab" for i in range(13)]
    grouped = reference_groups(records, 6)
    assert reference_groups(records, 0) == records
    names = [r.speaker for r in grouped]
    assert sorted(names.count(g) for g in set(names)) == [6, 6, 7, 7]  # the 13th clip joins a group
    assert all(g.speaker.split("#")[0] == r.speaker and g.path == r.path for g, r in zip(grouped, records))
    assert reference_groups(records, 6) == grouped  # seeded


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    """Caches and generated sets are shared by parallel workers: a file is either the old one
    or the new one, and a write that dies leaves no debris."""
    target = tmp_path / "set.npz"
    replace_atomically(target, lambda tmp: np.savez_compressed(tmp, x=np.arange(3)))

    def dies(tmp):
        tmp.write_bytes(b"half a fi")
        raise OSError("disk full")
    with pytest.raises(OSError):
        replace_atomically(target, dies)
    assert np.load(target)["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]
