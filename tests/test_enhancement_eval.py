"""What the enhancement evaluation measures, on signals whose answer is known: the words
distance ignores timing but not content, the voice similarity tells speakers apart, the prosody
step moves pitch level and rate by the statistics' ratios, and the real-takes ceiling picks
the speaker's own sentence and counts only the targets it has."""
from pathlib import Path

import numpy as np
import pytest

from emodiff.audio import load_audio
from emodiff.data import EMOTIONS, Record
from emodiff.enhancement_eval import content_distance, real_takes, summarise_real_takes, words

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


def test_real_takes_are_the_speakers_own_sentence_in_other_emotions():
    def rec(name, speaker, emotion, text):
        return Record(Path(name), "emodb", speaker, "male", emotion, "normal", text)

    source = rec("03a01Nc", "emodb_03", "neutral", "a01")
    records = [source, rec("03a01Fa", "emodb_03", "happy", "a01"), rec("03a01Fb", "emodb_03", "happy", "a01"),
               rec("03a02Wa", "emodb_03", "angry", "a02"), rec("08a01Wa", "emodb_08", "angry", "a01"),
               rec("03a01Nd", "emodb_03", "neutral", "a01")]
    assert {e: r.name for e, r in real_takes(source, records).items()} == {"happy": "03a01Fa"}


def test_a_stronger_take_of_its_own_emotion_is_the_clearer_one():
    def rec(name, emotion, intensity):
        return Record(Path(name), "ravdess", "ravdess_12", "female", emotion, intensity, "kids")

    normal, strong = rec("03-01-03-01-01-01-12", "happy", "normal"), rec("03-01-03-02-01-01-12", "happy", "strong")
    sad = rec("03-01-04-01-01-01-12", "sad", "normal")
    records = [normal, strong, sad]
    assert {e: r.name for e, r in real_takes(normal, records).items()} == {"happy": strong.name, "sad": sad.name}
    assert set(real_takes(strong, records)) == {"sad"}


def test_real_takes_summary_counts_only_the_recorded_targets():
    def probs(winner):
        return [1.0 if e == winner else 0.0 for e in EMOTIONS]

    def take(heard):
        return {"judges": {"j": probs(heard)}, "voice": 0.8, "words": 1.5}

    rows = [{"clip": "a", "corpus": "emodb", "speaker": "s1", "emotion": "neutral", "before": {"j": probs("neutral")},
             "happy": take("happy"), "angry": take("fear")},
            {"clip": "b", "corpus": "ravdess", "speaker": "s2", "emotion": "sad", "before": {"j": probs("sad")},
             **{e: take(e) for e in EMOTIONS if e != "sad"}},
            {"clip": "c", "corpus": "emodb", "speaker": "s3", "emotion": "fear", "before": {"j": probs("fear")}}]
    summary = summarise_real_takes(rows, "j")
    assert summary["emodb"]["conversion"]["n"] == 2 and summary["emodb"]["conversion"]["top1"][0] == 0.5
    assert summary["emodb"]["conversion"]["per_target"] == {"happy": 1.0, "angry": 0.0}
    assert summary["both"]["conversion"]["n"] == 7 and summary["both"]["conversion"]["top1"][0] == pytest.approx(6 / 7)
    assert summary["both"]["words"][0] == pytest.approx(1.5)
    assert "clarity" not in summary["both"]
    rows[1]["sad"] = take("sad")  # a stronger take of the clip's own emotion: clarity, not conversion
    rows[1]["before"] = {"j": probs("fear")}
    summary = summarise_real_takes(rows, "j")
    assert summary["both"]["conversion"]["n"] == 7
    clarity = summary["ravdess"]["clarity"]
    assert clarity["n"] == 1 and clarity["top1_before"][0] == 0.0 and clarity["top1_after"][0] == 1.0
