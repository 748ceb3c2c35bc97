import subprocess
import sys

from emodiff.cli import main

import pytest

from .conftest import EMODB_CLIP, bad_and_odd_inputs, encode, tone


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
    short.write_bytes(encode(tone(0.1), 22050))
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
