"""What the enhancement evaluation measures, on signals whose answer is known: the words
distance ignores timing but not content, the voice similarity tells speakers apart, and the
prosody step moves pitch level and rate by the statistics' ratios."""
import numpy as np
import pytest

from emodiff.audio import load_audio
from emodiff.enhancement_eval import content_distance, words

from .conftest import EMODB_CLIP, RAVDESS_CLIP

RATE = 16000


def clip(path):
    return load_audio(path, sample_rate=RATE).samples


def test_words_distance_ignores_timing_but_not_content():
    import librosa

    a = clip(EMODB_CLIP)
    slower = librosa.effects.time_stretch(a, rate=0.8)
    other = clip(RAVDESS_CLIP)
    same, stretched, different = (content_distance(words(a, RATE), words(b, RATE)) for b in (a, slower, other))
    assert same == pytest.approx(0, abs=1e-6) and stretched < 0.5 * different


def test_voice_similarity_tells_speakers_apart():
    pytest.importorskip("resemblyzer")
    from emodiff.enhancement_eval import voice

    a, other = clip(EMODB_CLIP), clip(RAVDESS_CLIP)
    louder = 0.5 * a / np.abs(a).max()
    assert voice(a, RATE) @ voice(louder, RATE) > 0.9 and voice(a, RATE) @ voice(other, RATE) < 0.75


def test_prosody_step_moves_pitch_and_rate():
    pytest.importorskip("parselmouth")
    from emodiff.prosody import ProsodyStats, prosody_of

    t = np.arange(int(1.5 * 22050)) / 22050
    f0 = 120 * (1 + 0.05 * np.sin(2 * np.pi * 2 * t))  # a gently moving voiced sound, 120 Hz
    phase = 2 * np.pi * np.cumsum(f0) / 22050
    source = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 12)) * np.hanning(len(t)) ** 0.2).astype(np.float32)
    stats = ProsodyStats(semitones={"neutral": 0.0, "angry": 7.0}, range={"neutral": 1.0, "angry": 1.0},
                         duration={"neutral": 1.0, "angry": 1.25}, speakers=[])
    moved = stats.move(source, 22050, "neutral", "angry")
    (f_src, _, _), (f_moved, _, _) = prosody_of(source, 22050), prosody_of(moved, 22050)
    assert 12 * np.log2(f_moved / f_src) == pytest.approx(7.0, abs=0.7)
    assert len(moved) / len(source) == pytest.approx(1.25, abs=0.05)
    assert stats.move(source, 22050, "angry", "angry") is source
