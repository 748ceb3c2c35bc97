"""emodiff.stats: intervals that respect how the data were drawn."""
import numpy as np
import pytest

from emodiff.stats import (krippendorff_alpha, rate_difference, speaker_bootstrap_ua, t_interval, unweighted_accuracy,
                           wilcoxon_paired, wilson)


def test_speaker_bootstrap_is_wider_than_clip_bootstrap_when_speakers_differ():
    """Ten speakers of 40 clips each, some nearly always right, some nearly always wrong: the
    clips of a speaker move together, so the interval over speakers is the honest, wider one."""
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(10), 40)
    skill = np.repeat(rng.uniform(0.2, 0.95, 10), 40)
    y = rng.integers(0, 6, len(speakers))
    correct = rng.random(len(speakers)) < skill
    ua, low, high = speaker_bootstrap_ua(correct, y, speakers, n=500)
    _, clip_low, clip_high = speaker_bootstrap_ua(correct, y, np.arange(len(speakers)), n=500)  # each clip its own
    assert ua == pytest.approx(unweighted_accuracy(correct.astype(float), y))
    assert low < ua < high and (high - low) > 1.5 * (clip_high - clip_low)


def test_t_interval_and_wilcoxon():
    mean, low, high = t_interval([0.70, 0.74, 0.66, 0.72, 0.68])
    assert mean == pytest.approx(0.70) and low == pytest.approx(0.70 - 2.776 * np.std([.7, .74, .66, .72, .68],
                                                                                      ddof=1) / np.sqrt(5), abs=1e-4)
    assert np.isnan(t_interval([0.5])[1])
    assert wilcoxon_paired([0.8, 0.7, 0.9, 0.75, 0.6], [0.7, 0.6, 0.8, 0.7, 0.5]) == pytest.approx(0.0625)
    assert wilcoxon_paired([0.5, 0.6], [0.5, 0.6]) == 1.0
    lo, hi = wilson(8, 10)
    assert 0.49 < lo < 0.5 and 0.94 < hi < 0.95


def test_rate_difference_matches_newcombe_1998():
    """Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10."""
    d, low, high = rate_difference(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=5e-4) and high == pytest.approx(0.3339, abs=5e-4)


def test_krippendorff_alpha_matches_the_worked_example():
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 3-rater, 15-unit
    example with missing ratings: nominal 0.691, interval 0.811."""
    n = np.nan
    table = [[n, n, n, n, n, 3, 4, 1, 2, 1, 1, 3, 3, n, 3], [1, n, 2, 1, 3, 3, 4, 3, n, n, n, n, n, n, n],
             [n, n, 2, 1, 3, 4, 4, n, 2, 1, 1, 3, 3, n, 4]]
    nominal, interval = krippendorff_alpha(table, "nominal", n=200), krippendorff_alpha(table, "interval", n=200)
    assert nominal["alpha"] == pytest.approx(0.691, abs=1e-3) and interval["alpha"] == pytest.approx(0.811, abs=1e-3)
    assert nominal["clips"] == 12 and nominal["ci95"][0] < nominal["alpha"] <= nominal["ci95"][1]
    assert krippendorff_alpha([[1, 2], [n, n]], "nominal") is None  # no clip rated twice
