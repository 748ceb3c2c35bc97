"""The augmentation study's sets (emodiff.augment_sets), conditions and statistics
(emodiff.augment_study, emodiff.stats) and the pooling of folds (train/augment_pool.py)."""
import json

import numpy as np
import pytest
import torch

import emodiff.augment_sets as sets
import emodiff.augment_study as study
from emodiff.data import EMOTIONS, index_corpora
from emodiff.stats import paired_bootstrap, unweighted_accuracy

from .conftest import MEL, wake


def test_generated_set_follows_training_clips(data_root, tmp_path, tiny_pipeline):
    train = index_corpora(data_root, corpora=["emodb"])[:5]
    mels = {r.path: np.full((80, 50), -5.0, np.float32) for r in train}
    path = tmp_path / "gen.npz"
    sets.generate_set(tiny_pipeline(), train, mels, 7, 32, 2, 2.0, path, batch=3)
    data = np.load(path)
    assert data["mels"].shape == (7, 80, 32) and data["mels"].dtype == np.float16
    # Round-robin over the (shuffled) training clips: every clip's emotion appears.
    assert sorted(set(data["emotions"])) == sorted({r.emotion for r in train})
    assert set(data["corpora"]) == {"emodb"}
    mels_, labels, corpora = sets.load_generated(path, 4, EMOTIONS, MEL)
    assert len(mels_) == len(labels) == len(corpora) == 4 and mels_[0].dtype == np.float32


def test_ddpm_set_is_sampled_ancestrally_and_says_so(data_root, tmp_path, tiny_pipeline):
    train = index_corpora(data_root, corpora=["emodb"])[:3]
    mels = {r.path: np.full((80, 50), -5.0, np.float32) for r in train}
    made = {}
    for sampler in ("dpm", "ddpm"):
        path = tmp_path / f"{sampler}.npz"
        sets.generate_set(tiny_pipeline(), train, mels, 3, 32, 4, 2.0, path, sampler=sampler)
        made[sampler] = np.load(path)
        assert str(made[sampler]["sampler"]) == sampler and int(made[sampler]["steps"]) == 4
    # Same seed, same start: the ancestral sampler's injected noise makes the mels differ.
    assert not np.allclose(made["dpm"]["mels"], made["ddpm"]["mels"])
    assert np.isfinite(made["ddpm"]["mels"].astype(np.float32)).all()


def test_enhanced_set_is_its_control_crops_lightly_touched_and_labelled_as_them(data_root, tmp_path, tiny_pipeline):
    train = index_corpora(data_root, corpora=["emodb"])[:3]
    # Clips far apart in level, one longer and one shorter than the crop.
    mels = {r.path: np.full((80, n), level, np.float32) for r, level, n in zip(train, (-9.0, -5.0, -1.0), (40, 60, 20))}
    sets.generate_set(tiny_pipeline(), train, mels, 6, 32, 10, 2.0, tmp_path / "enhanced.npz", strength=0.2)
    sets.crop_set(train, mels, 6, 32, tmp_path / "crops.npz", MEL, source="crops")
    enhanced, crops = np.load(tmp_path / "enhanced.npz"), np.load(tmp_path / "crops.npz")
    assert enhanced["mels"].shape == crops["mels"].shape == (6, 80, 32) and float(enhanced["strength"]) == 0.2
    sources = sets.round_robin(train, 6)
    assert list(enhanced["emotions"]) == list(crops["emotions"]) == [r.emotion for r in sources]
    # The control is the crops themselves: each its clip's level, the short clip padded with silence.
    for crop, r in zip(crops["mels"].astype(np.float32), sources):
        n = min(mels[r.path].shape[1], 32)
        assert np.allclose(crop[:, :n], mels[r.path][0, 0]) and (crop[:, n:] < -9).all()
    # A light touch: the crop nearest each enhanced one is its own (or an identical one: a clip
    # drawn twice gives the same crop here).
    e, c = enhanced["mels"].astype(np.float32), crops["mels"].astype(np.float32)
    nearest = np.abs(e[:, None] - c[None]).mean(axis=(2, 3)).argmin(1)
    assert np.array_equal(c[nearest], c)


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 300)
    a = rng.random(300) < 0.6
    diff, lo, hi = paired_bootstrap(a.astype(float), a.astype(float), y, n=200)
    assert diff == 0 and lo == 0 and hi == 0
    better = np.ones(300)
    diff, lo, hi = paired_bootstrap(better, a.astype(float), y, n=200)
    assert diff > 0.3 and lo > 0.3 and hi >= diff


def test_paired_bootstrap_over_speakers_is_wider_when_a_voice_decides():
    """A gain that 13 voices get and 7 lose looks sure over 600 clips, not over 20
    speakers: the speaker bootstrap must say so."""
    rng = np.random.default_rng(1)
    speakers = np.repeat(np.arange(20), 30)
    y = rng.integers(0, 6, 600)
    b = (rng.random(600) < 0.5).astype(float)
    helped = np.isin(speakers, rng.permutation(20)[:13])  # 13 voices gain, 7 lose
    a = np.where(helped, 1.0, 0.0 * b)
    _, clip_lo, clip_hi = paired_bootstrap(a, b, y, n=300)
    diff, lo, hi = paired_bootstrap(a, b, y, n=300, groups=speakers)
    assert lo < diff < hi and hi - lo > 3 * (clip_hi - clip_lo)
    assert lo < 0 < clip_lo  # only the clip interval (wrongly) excludes no gain


def test_each_augmented_condition_is_compared_with_its_recipe_without_its_addition():
    for cond, c in study.CONDITIONS.items():
        own = study.counterpart(cond)
        if c.enhanced:  # its inputs untouched
            assert study.CONDITIONS[own] == study.Condition(c.specaugment, c.ratio, crops=True)
        elif c.fade or c.mixed_style or c.ddpm or c.voice:  # the same generated set without the variant
            assert study.CONDITIONS[own] == c._replace(fade=False, mixed_style=False, ddpm=False, voice="")
        elif c.vtlp and c.ratio:  # what the generated data add to VTLP
            assert study.CONDITIONS[own] == study.Condition(c.specaugment, vtlp=c.vtlp)
        elif c.ratio or c.mixup or c.vtlp or c.speakers < 1:  # same recipe, SpecAugment as in cond, nothing else
            assert study.CONDITIONS[own] == study.Condition(c.specaugment)
        else:
            assert own is None


def test_filter_keeps_the_judges_best_half_per_emotion(data_root, tmp_path, tiny_classifier, tiny_pipeline):
    train = index_corpora(data_root, corpora=["emodb"])[:6]
    mels = {r.path: np.full((80, 50), -5.0, np.float32) for r in train}
    pool, kept = tmp_path / "pool.npz", tmp_path / "kept.npz"
    sets.generate_set(tiny_pipeline(), train, mels, 12, 32, 2, 2.0, pool, batch=6, source="x")
    judge = tiny_classifier()
    info = sets.filter_set(pool, judge, kept, judge_id="j")
    data, sub = np.load(pool), np.load(kept)
    # What a rerun needs to skip scoring again: the set's source, the judge and its statistics.
    assert str(sub["source"]) == "x" and str(sub["judge"]) == "j"
    assert json.loads(str(sub["filtering"])) == info
    # A rerun with the same pool and judge reads those back instead of scoring (no judge needed).
    assert sets.filter_set(pool, None, kept, judge_id="j") == info
    for e in np.unique(data["emotions"]):
        n = int((data["emotions"] == e).sum())
        assert int((sub["emotions"] == e).sum()) == -(-n // 2)
    # The kept mels are a subsequence of the pool (order, hence balance, preserved) ...
    rows = [next(i for i in range(len(data["mels"])) if np.array_equal(data["mels"][i], m)) for m in sub["mels"]]
    assert rows == sorted(rows)
    # ... and the judge likes them at least as much as the pool on average.
    assert info["judge_target_prob_kept"] >= info["judge_target_prob_all"]


def test_vocoded_set_is_the_pools_prefix_after_a_round_trip(data_root, tmp_path):
    from emodiff.mel import mel_of
    from emodiff.metrics import mel_l1_by_level

    records = index_corpora(data_root, corpora=["emodb"])[:3]
    real = np.stack([mel_of(r.path, MEL)[:, :64].numpy() for r in records])
    pool, out = tmp_path / "pool.npz", tmp_path / "vocoded.npz"
    np.savez_compressed(pool, mels=real.astype(np.float16), emotions=np.array([r.emotion for r in records]),
                        corpora=np.array(["emodb"] * 3), steps=10, guidance=2.0, source="x",
                        mel_config=json.dumps(MEL.to_dict()))
    sets.vocode_set(pool, out, 2)
    data = np.load(out)
    assert data["mels"].shape == (2, 80, 64) and data["mels"].dtype == np.float16
    assert list(data["emotions"]) == [r.emotion for r in records[:2]] and str(data["source"]) == "x"
    # HiFi-GAN keeps what a wave can carry: the loud part of a real mel comes back.
    for before, after in zip(real, data["mels"].astype(np.float32)):
        assert mel_l1_by_level(before, after)[0] < 0.45
    stamp = out.stat().st_mtime_ns
    sets.vocode_set(pool, out, 2)  # already there: kept
    assert out.stat().st_mtime_ns == stamp
    sets.vocode_set(pool, out, 3)  # more wanted: made again
    assert len(np.load(out)["mels"]) == 3


def test_pooling_studies_of_two_folds(tmp_path, script):
    """Two folds' studies pool into one over all their test clips, on the seeds both ran; a
    fold's conditions or seeds run later join it."""
    augment_pool = script("train/augment_pool")

    rng = np.random.default_rng(0)
    gen = "real+specaug+gen(1,filtered)"

    def study(name, fold, speakers, seeds, n):
        y, corpora = rng.integers(0, 6, n), rng.choice(["emodb", "ravdess"], n)
        correct = {c: [(rng.random(n) < p).astype(int).tolist() for _ in seeds]
                   for c, p in (("real+specaug", 0.5), (gen, 0.7))}
        s = {"fold": fold, "test_speakers": speakers, "seeds": seeds, "epochs": 60,
             "per_clip": {"clips": [f"c{i}" for i in range(n)], "corpora": corpora.tolist(), "labels": y.tolist(),
                          "speakers": [speakers[i % len(speakers)] for i in range(n)], "correct": correct}}
        (tmp_path / name).mkdir()
        (tmp_path / name / "study.json").write_text(json.dumps(s))
        return s

    a, b = study("a", 0, ["emodb_10", "ravdess_05"], [0, 1, 2, 3, 4], 300), study("b", 1, ["emodb_03"], [0, 1, 2], 200)
    report = augment_pool.main(["--studies", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "p")])
    assert report["seeds"] == [0, 1, 2] and report["folds"] == [0, 1]
    y = np.array(a["per_clip"]["labels"] + b["per_clip"]["labels"])
    per_seed = [unweighted_accuracy(
        np.array(a["per_clip"]["correct"][gen][s] + b["per_clip"]["correct"][gen][s]), y) for s in range(3)]
    entry = report["summary"][gen]["all"]
    assert entry["ua_mean"] == pytest.approx(np.mean(per_seed)) and entry["seeds"] == 3
    assert entry["ci_low"] > 0.1  # 70 % against 50 % correct over 500 clips
    assert report["n_clips"]["emodb"] + report["n_clips"]["ravdess"] == 500
    assert (tmp_path / "p" / "study.png").stat().st_size > 1000
    assert (tmp_path / "p" / "forest.png").stat().st_size > 1000
    fold_a = report["per_fold"][0][gen]["all"]  # fold 0 alone, on the pooled seeds only
    assert fold_a["seeds"] == 3 and fold_a["ua_mean"] == pytest.approx(np.mean([unweighted_accuracy(
        np.array(a["per_clip"]["correct"][gen][s]), np.array(a["per_clip"]["labels"])) for s in range(3)]))
    study("c", 2, ["emodb_03"], [0], 10)
    with pytest.raises(ValueError, match="share test speakers"):
        augment_pool.main(["--studies", str(tmp_path / "b"), str(tmp_path / "c"), "--out", str(tmp_path / "q")])

    # fold 1's conditions split over two folders (one run later) pool as the whole study does
    for name, cond in (("b1", "real+specaug"), ("b2", gen)):
        (tmp_path / name).mkdir()
        part = {**b, "per_clip": {**b["per_clip"], "correct": {cond: b["per_clip"]["correct"][cond]}}}
        (tmp_path / name / "study.json").write_text(json.dumps(part))
    split = augment_pool.main(["--studies", str(tmp_path / "a"), str(tmp_path / "b1"), str(tmp_path / "b2"),
                               "--out", str(tmp_path / "s")])
    assert split["summary"] == report["summary"] and split["folds"] == [0, 1]
    (tmp_path / "b2" / "study.json").write_text(json.dumps({**b, "epochs": 20}))
    with pytest.raises(ValueError, match="differ"):
        augment_pool.main(["--studies", str(tmp_path / "b1"), str(tmp_path / "b2"), "--out", str(tmp_path / "t")])

    # seeds 3 and 4 of fold 1 run later, with one condition only: they join fold 1's seeds of that condition
    more = study("b3", 1, ["emodb_03"], [3, 4], 200)
    more["per_clip"] = {**b["per_clip"], "correct": {gen: more["per_clip"]["correct"][gen]}}
    (tmp_path / "b3" / "study.json").write_text(json.dumps(more))
    grown = augment_pool.main(["--studies", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "b3"),
                               "--out", str(tmp_path / "g")])
    assert grown["seeds"] == [0, 1, 2, 3, 4] and list(grown["summary"]) == [gen]
    runs_b = b["per_clip"]["correct"][gen] + more["per_clip"]["correct"][gen]
    assert grown["per_fold"][1][gen]["all"]["ua_mean"] == pytest.approx(np.mean([unweighted_accuracy(
        np.array(run), np.array(b["per_clip"]["labels"])) for run in runs_b]))
    (tmp_path / "b3" / "study.json").write_text(json.dumps({**more, "seeds": [2, 3]}))
    with pytest.raises(ValueError, match="share some seeds"):
        augment_pool.main(["--studies", str(tmp_path / "b"), str(tmp_path / "b3"), "--out", str(tmp_path / "h")])


def test_mixed_style_references_are_another_emotion_of_the_same_corpus(data_root):
    train = index_corpora(data_root)
    sources = sets.round_robin(train, 40)
    partners = sets.style_partners(train, sources)
    assert len(partners) == len(sources)
    assert all(p.corpus == s.corpus and p.emotion != s.emotion for s, p in zip(sources, partners))
    assert sets.style_partners(train, sources) == partners  # a fixed draw
    assert len({p.path for p in partners}) > 1


def test_new_voices_blend_two_speakers_of_one_emotion_between_and_beyond(data_root):
    train = index_corpora(data_root)
    sources = sets.round_robin(train, 60)
    voices, w = sets.voice_partners(train, sources)
    assert all(v.corpus == s.corpus and v.emotion == s.emotion and v.speaker != s.speaker
               for s, v in zip(sources, voices))
    lo, hi = sets.VOICE_BLEND
    assert ((w >= lo) & (w <= hi)).all() and ((w < 0) | (w > 1)).any() and ((w > 0) & (w < 1)).any()
    again = sets.voice_partners(train, sources)  # a fixed draw
    assert again[0] == voices and np.array_equal(again[1], w)


@pytest.mark.parametrize("blend, styled_on", [((0.0, 0.0), "own"), ((1.0, 1.0), "partner")])
def test_new_voice_set_at_the_blends_ends_is_styled_on_either_voice(data_root, tmp_path, monkeypatch,
                                                                     blend, styled_on, tiny_pipeline):
    by_speaker = {}  # two angry clips of each of two speakers
    for r in index_corpora(data_root, corpora=["emodb"]):
        if r.emotion == "angry":
            by_speaker.setdefault(r.speaker, []).append(r)
    train = [r for clips in list(by_speaker.values())[:2] for r in clips[:2]]
    assert len({r.speaker for r in train}) == 2
    rng = np.random.default_rng(0)
    mels = {r.path: (rng.normal(-5, 2, (80, 40))).astype(np.float32) for r in train}
    pipe = tiny_pipeline()
    wake(pipe.unet)
    monkeypatch.setattr(sets, "VOICE_BLEND", blend)
    sets.generate_set(pipe, train, mels, 4, 32, 2, 2.0, tmp_path / "voices.npz", voice="blend")
    voices = np.load(tmp_path / "voices.npz")["mels"].astype(np.float32)
    sources = sets.round_robin(train, 4)
    refs = sources if styled_on == "own" else sets.voice_partners(train, sources)[0]
    expected = pipe.generate_batch([r.emotion for r in sources], 32, 2, 2.0, torch.Generator().manual_seed(0),
                                   [torch.from_numpy(mels[r.path]) for r in refs])
    np.testing.assert_allclose(voices, expected.numpy().astype(np.float16).astype(np.float32))


def test_exaggerated_voices_lie_gain_times_as_far_from_their_corpus_mean(data_root, monkeypatch, tiny_pipeline):
    train = index_corpora(data_root)
    rng = np.random.default_rng(0)
    mels = {r.path: rng.normal(-5, 2, (80, 40)).astype(np.float32) for r in train}
    pipe = tiny_pipeline()
    sources = sets.round_robin(train, 12)
    own = torch.cat([pipe.style_of(torch.from_numpy(mels[r.path])) for r in sources])
    monkeypatch.setattr(sets, "VOICE_GAIN", 1.0)  # no exaggeration: each clip's own voice
    torch.testing.assert_close(sets.voice_styles(pipe, train, mels, sources, "exaggerated"), own)
    monkeypatch.setattr(sets, "VOICE_GAIN", 3.0)
    far = sets.voice_styles(pipe, train, mels, sources, "exaggerated")
    centre = (3 * own - far) / 2  # m + 3 (s - m) = far  =>  m = (3 s - far) / 2
    corpora = [r.corpus for r in sources]
    for c in set(corpora):  # one centre per corpus, each its training clips' mean style
        rows = [i for i, k in enumerate(corpora) if k == c]
        every = torch.cat([pipe.style_of(torch.from_numpy(mels[r.path])) for r in train if r.corpus == c])
        torch.testing.assert_close(centre[rows], every.mean(0).expand(len(rows), -1), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="Unknown voice"):
        sets.voice_styles(pipe, train, mels, sources, "whisper")
