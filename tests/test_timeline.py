"""Emotion over time: speech found where it is, segments cut where the emotion changes, long
files read a block at a time, silence and bad files told apart."""
import json

import numpy as np
import pytest
import soundfile as sf

from emodiff.audio import AudioError, stream_audio
from emodiff.cli import main
from emodiff.data import EMOTIONS, index_corpora
from emodiff.evaluation import Ensemble
from emodiff.timeline import Segment, Timeline, build_recording, score, split_by_emotion, timeline

from .conftest import SR


@pytest.fixture(scope="module")
def recording(data_root, tmp_path_factory):
    """Five EmoDB clips of known emotions joined by 0.5-2.5 s pauses, as a 16 kHz WAV."""
    records = index_corpora(data_root, corpora=["emodb"])
    samples, layout = build_recording(records, 5, 16000, seed=2, pauses=(0.5, 2.5))
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(path, samples, 16000, subtype="PCM_16")
    return path, layout


def test_speech_is_found_where_the_clips_are(recording, tiny_classifier, tmp_path):
    path, layout = recording
    result = timeline(path, tiny_classifier(), window=2.0, hop=1.0)
    scored = score(result, layout, EMOTIONS)
    assert scored["clips_found"] == 5  # every clip overlaps a segment
    assert scored["boundary_error_median"] < 0.3  # seconds, against each clip's own speech
    speech = sum(s.end - s.start for s in result.segments)  # and little is found in the pauses between
    assert speech < 1.3 * sum(c["end"] - c["start"] for c in layout)
    assert abs(result.seconds - sf.info(str(path)).duration) < 1e-6
    assert len(result.envelope) == pytest.approx(result.seconds / 0.032, abs=2)
    assert all(abs(sum(s.confidences.values()) - 1) < 1e-4 for s in result.segments)
    rows = result.rows()
    assert list(rows[0])[:3] == ["start", "end", "emotion"] and set(EMOTIONS) <= set(rows[0])
    assert json.loads(result.to_json())["segments"][0]["emotion"] == rows[0]["emotion"]
    assert result.to_csv().splitlines()[0].startswith("start,end,emotion")


def test_a_segment_is_cut_where_the_emotion_changes_and_a_blip_is_smoothed_away():
    def window(t, top):
        probs = {e: 0.02 for e in EMOTIONS}
        probs[top] = 0.9
        return (t, t + 2.0, probs)

    tops = ["sad"] * 4 + ["happy"] + ["sad"] * 3 + ["angry"] * 5
    windows = [window(float(i), top) for i, top in enumerate(tops)]
    segments = split_by_emotion(windows, (0.0, len(tops) + 1.0), smooth=3)
    assert [s.emotion for s in segments] == ["sad", "angry"]  # the lone happy window is smoothed away
    assert segments[0].start == 0.0 and segments[-1].end == len(tops) + 1.0
    assert segments[0].end == pytest.approx(8.5)  # halfway between the last sad and the first angry centre
    assert [s.emotion for s in split_by_emotion(windows, (0.0, 14.0), smooth=1)] == ["sad", "happy", "sad", "angry"]


def test_scoring_a_perfect_timeline():
    layout = [{"start": 1.0, "end": 3.0, "emotion": "sad"}, {"start": 4.0, "end": 6.5, "emotion": "angry"}]
    perfect = Timeline(7.0, [Segment(c["start"], c["end"], c["emotion"], {}) for c in layout])
    scored = score(perfect, layout, EMOTIONS)
    assert scored["ua"] == 1.0 and scored["boundary_error_mean"] == 0.0 and scored["predicted"] == ["sad", "angry"]
    shifted = Timeline(7.0, [Segment(1.5, 3.0, "sad", {}), Segment(4.0, 6.5, "happy", {})])
    scored = score(shifted, layout, EMOTIONS)
    assert scored["ua"] == 0.5 and scored["boundary_error_mean"] == pytest.approx(0.5 / 4)


def test_long_files_are_read_a_block_at_a_time(tmp_path):
    path = tmp_path / "ten_minutes.flac"
    t = np.arange(600 * 8000) / 8000
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000)
    blocks = list(stream_audio(path, 16000, block_seconds=30))
    assert max(len(b) for b in blocks) <= 30.1 * 16000  # one block (and what the resampler held back) at most
    assert abs(sum(len(b) for b in blocks) - 600 * 16000) < 16  # all of it, at 16 kHz


def test_silence_and_bad_files_get_a_sentence(tmp_path, tiny_classifier):
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, 1e-4 * np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32), SR)
    with pytest.raises(AudioError, match="No speech found in the recording .5.0 s."):
        timeline(quiet, tiny_classifier())
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        timeline(tmp_path / "empty.wav", tiny_classifier())
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(AudioError, match="not audio"):
        timeline(tmp_path / "notes.wav", tiny_classifier())
    with pytest.raises(AudioError, match="is 5 s long; the limit is 1 s"):
        timeline(quiet, tiny_classifier(), max_seconds=1)


def test_the_command_prints_segments(recording, tiny_release, capsys):
    path, layout = recording
    common = ["--checkpoints", str(tiny_release), "timeline", str(path)]
    assert main(common) == 0
    assert "segments in" in capsys.readouterr().out
    assert main(common + ["--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("start,end,emotion") and len(lines) >= 6
    assert main(common + ["--json", "--window", "1.5", "--hop", "0.5"]) == 0
    assert len(json.loads(capsys.readouterr().out)["segments"]) >= 5


@pytest.mark.slow
def test_a_ten_minute_recording(data_root, tmp_path, tiny_release):
    """The app's and the CLI's limit case: ten minutes of speech and pauses, every clip found."""
    records = index_corpora(data_root)
    samples, layout = build_recording(records, 150, 22050, seed=5, pauses=(0.5, 2.0))
    samples = samples[:600 * 22050]
    layout = [c for c in layout if c["end"] <= 600]
    path = tmp_path / "ten.flac"
    sf.write(path, samples, 22050)
    result = timeline(path, Ensemble.from_pretrained([tiny_release / "classifier"]))
    assert result.seconds == pytest.approx(600, abs=0.1)
    assert score(result, layout, EMOTIONS)["clips_found"] >= 0.95 * len(layout)
