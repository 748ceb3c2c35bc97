import subprocess
import sys

import pytest

from emodiff.cli import main
from emodiff.service import CHECKPOINTS, EmoDiff

from .conftest import EMODB_CLIP, MEL, SR, bad_and_odd_inputs, encode, tone


def test_index_command(data_root, capsys):
    assert main(["index", "--data-root", str(data_root), "--all-emotions"]) == 0
    out = capsys.readouterr().out
    assert "1608 clips" in out and "emodb" in out and "ravdess" in out


def test_mel_and_vocode_commands(data_root, tmp_path, capsys):
    assert main(["mel", str(EMODB_CLIP), "--png", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["vocode", str(EMODB_CLIP), "--out", str(tmp_path / "v.wav"),
                 "--vocoder", "griffin-lim"]) == 0
    assert (tmp_path / "v.wav").stat().st_size > 10_000


def test_bad_audio_is_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    run = subprocess.run([sys.executable, "-m", "emodiff", "mel", str(bad)], capture_output=True,
                         text=True)
    assert run.returncode == 2
    assert "not audio we can read" in run.stderr and "Traceback" not in run.stderr
    short = tmp_path / "short.wav"
    short.write_bytes(encode(tone(0.1), SR))
    assert main(["mel", str(short)]) == 2


CASES = bad_and_odd_inputs()


@pytest.mark.parametrize("name", CASES)
def test_cli_answers_every_odd_input(tmp_path, capsys, name):
    data, suffix, phrase = CASES[name]
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    code = main(["mel", str(path), "--png", str(tmp_path / "m.png")])
    err = capsys.readouterr().err
    if phrase is None:
        assert code == 0 and (tmp_path / "m.png").exists()
    else:
        assert code == 2 and phrase in err and "Traceback" not in err


def test_classify_one_clip_or_several_of_one_speaker(data_root, tmp_path, capsys):
    """One clip: confidences as bars or JSON. Several: one line each, an unreadable one reported
    without losing the others (exit 2), by default from the shipped speaker ensemble. A speaker-
    normalised checkpoint takes them as one speaker; several checkpoints vote."""
    import json

    import numpy as np

    from emodiff.audio import load_audio
    from emodiff.classifier import ClassifierConfig, EmotionClassifier
    from emodiff.mel import MelNormalizer

    assert main(["classify", str(EMODB_CLIP), "--json"]) == 0
    probs = json.loads(capsys.readouterr().out)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    other = data_root / "emodb" / "wav" / "03a01Wa.flac"
    assert main(["classify", str(EMODB_CLIP), str(bad), str(other), "--json"]) == 2
    captured = capsys.readouterr()
    both = json.loads(captured.out)
    assert list(both) == [str(EMODB_CLIP), str(other)]
    shipped = EmoDiff(CHECKPOINTS).speaker_classifier  # several clips: the speaker ensemble
    assert len(shipped.members) > 1 and shipped.members[0].cfg.speaker_norm
    expected = shipped.predict_speaker([load_audio(p, crop=True, sample_rate=SR) for p in (EMODB_CLIP, other)])
    assert both[str(EMODB_CLIP)] == pytest.approx(expected[0], abs=1e-6)
    assert "bad.wav" in captured.err and "1 of 3 clips could not be read" in captured.err
    assert "taken as one speaker" in captured.err
    assert main(["classify", str(bad), str(bad)]) == 2 and "None of the 2" in capsys.readouterr().err

    cfg = ClassifierConfig.small(width=8, crop_frames=32, speaker_norm=True)
    EmotionClassifier(cfg, MelNormalizer(np.zeros(80), np.full(80, 2.0), MEL)).save_pretrained(tmp_path / "spk")
    assert main(["classify", str(EMODB_CLIP), str(other), "--checkpoint", str(tmp_path / "spk")]) == 0
    captured = capsys.readouterr()
    assert "taken as one speaker" in captured.err and len(captured.out.splitlines()) == 2
    assert main(["classify", str(EMODB_CLIP), "--checkpoint", str(tmp_path / "spk")]) == 0
    assert "much less accurate" in capsys.readouterr().err
    ensemble = ["--checkpoint", str(tmp_path / "spk"), str(CHECKPOINTS / "classifier"), "--json"]
    assert main(["classify", str(EMODB_CLIP), str(other)] + ensemble) == 0
    voted = json.loads(capsys.readouterr().out)[str(EMODB_CLIP)]
    assert main(["classify", str(EMODB_CLIP), "--checkpoint", str(CHECKPOINTS / "classifier"), "--json"]) == 0
    probs = json.loads(capsys.readouterr().out)
    assert main(["classify", str(EMODB_CLIP), str(other), "--checkpoint", str(tmp_path / "spk"), "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)[str(EMODB_CLIP)]
    assert voted == pytest.approx({e: (alone[e] + probs[e]) / 2 for e in probs}, abs=1e-5)  # mean of the two
