"""`emodiff augment` / `augment_folder`: a folder of labelled clips in, WAVs and a manifest out;
deterministic, resumable, refusing bad input with reasons."""
import csv
import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from emodiff.augment_folder import augment_folder, labelled_clips, plan
from emodiff.cli import main
from emodiff.loudness import loudness

from .conftest import MEL, SR, encode, tone


@pytest.fixture
def clips(data_root, tmp_path):
    """Six clips in a folder of one's own: two EmoDB speakers' (names carry the labels)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("03a01Fa", "03a01Wa", "03a02Ta", "08a01Fd", "08a01Wa", "08a02Tb"):
        shutil.copy(data_root / "emodb" / "wav" / f"{name}.flac", folder / f"{name}.flac")
    return folder


def run(clips, tiny_release, out, **kw):
    return augment_folder(clips, out, pipeline=tiny_release / "diffusion", judge=[tiny_release / "classifier"],
                          steps=3, progress=False, max_seconds=1.0, **kw)


def rows(out) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_folder_becomes_wavs_and_a_manifest(clips, tiny_release, tmp_path):
    summary = run(clips, tiny_release, tmp_path / "out", mode="both", per_clip=2, save_mels=True)
    manifest = rows(tmp_path / "out")
    assert summary["planned"] == len(manifest) == 6 * 2 * 2 and summary["complete"]
    for row in manifest:
        wav = tmp_path / "out" / row["path"]
        info = sf.info(str(wav))
        assert info.samplerate == MEL.sample_rate and row["emotion"] in row["path"]
        assert row["speaker"] == "emodb_" + row["source"][:2]  # styled on its own speaker only
        assert 0 <= float(row["judge_confidence"]) <= 1 and row["kept"] == "1" and len(row["model"]) == 16
        source = tmp_path / "in" / row["source"]
        if row["mode"] == "enhance":
            assert row["strength"] == "0.5"
        # loudness matched to the source, unless the peak limit held a clip back (then it is quieter)
        made, src = sf.read(str(wav))[0], sf.read(str(source))
        difference = loudness(made, MEL.sample_rate) - loudness(src[0], src[1])
        assert abs(difference) < 0.5 or (difference < 0 and np.abs(made).max() > 0.97)
        assert (tmp_path / "out" / "mels" / row["path"][4:]).with_suffix(".npy").is_file()
    from emodiff.augment_sets import load_generated
    from emodiff.data import EMOTIONS

    mels, labels, corpora = load_generated(summary["training_set"], 24, EMOTIONS, MEL)  # what training reads
    assert len(mels) == 24 and mels[0].shape == (80, 160) and set(corpora) == {"emodb"}
    assert len({EMOTIONS[k] for k in labels[:3]}) == 3  # emotions in turn: any prefix is balanced
    card = (tmp_path / "out" / "README.md").read_text()
    assert "manifest.csv" in card and json.loads(card.split("```json")[1].split("```")[0])["summary"]["kept"] == 24


def test_same_seed_same_clips_whatever_the_workers_and_interruptions(clips, tiny_release, tmp_path):
    run(clips, tiny_release, tmp_path / "a", per_clip=1, seed=3)
    partial = run(clips, tiny_release, tmp_path / "b", per_clip=1, seed=3, max_clips=2)  # "killed" after 2
    assert not partial["complete"] and len(rows(tmp_path / "b")) == 2
    resumed = run(clips, tiny_release, tmp_path / "b", per_clip=1, seed=3, workers=2)
    assert resumed["complete"] and len(rows(tmp_path / "b")) == 6
    run(clips, tiny_release, tmp_path / "d", per_clip=1, seed=3)  # the first run again
    assert sorted(r["path"] for r in rows(tmp_path / "a")) == sorted(r["path"] for r in rows(tmp_path / "b"))
    for row in rows(tmp_path / "a"):
        a, b, d = (sf.read(str(tmp_path / run_ / row["path"]))[0] for run_ in "abd")
        np.testing.assert_array_equal(a, d)  # same seed, same settings: the same samples
        # another number of threads sums in another order: the same clip to a few 16-bit steps
        np.testing.assert_allclose(a, b, atol=4 / 32768)
    other = run(clips, tiny_release, tmp_path / "c", per_clip=1, seed=4)
    assert other["complete"]
    with pytest.raises(ValueError, match="other settings .*seed"):
        run(clips, tiny_release, tmp_path / "b", per_clip=1, seed=4)


def test_filtering_keeps_the_confident_ones(clips, tiny_release, tmp_path):
    summary = run(clips, tiny_release, tmp_path / "out", per_clip=2, filter_confidence=0.17)
    manifest = rows(tmp_path / "out")
    kept = [r for r in manifest if r["kept"] == "1"]
    assert summary["kept"] == len(kept) and all(float(r["judge_confidence"]) >= 0.17 for r in kept)
    for r in manifest:
        assert (tmp_path / "out" / r["path"]).exists() == (r["kept"] == "1")


def test_labels_csv_per_emotion_and_bad_inputs(clips, tiny_release, tmp_path):
    (clips / "03a01Fa.flac").rename(clips / "take1.flac")  # a name that carries no label
    (clips / "broken.wav").write_bytes(b"not audio at all")
    found, skipped = labelled_clips(clips)
    assert "take1.flac" in skipped and "broken.wav" in skipped and len(found) == 5
    labels = tmp_path / "labels.csv"
    labels.write_text("path,emotion,speaker\ntake1.flac,happy,anna\nbroken.wav,sad,bob\n03a01Wa.flac,angry,anna\n")
    summary = run(clips, tiny_release, tmp_path / "out", labels=labels, per_emotion=3)
    manifest = rows(tmp_path / "out")
    assert {r["emotion"] for r in manifest} == {"happy", "angry"} and len(manifest) == 6
    assert list(summary["unreadable_inputs"]) == ["broken.wav"] and not summary["complete"]
    assert "not audio" in summary["unreadable_inputs"]["broken.wav"]
    assert {r["speaker"] for r in manifest} == {"anna"}
    labels.write_text("path,emotion\ntake1.flac,joyful\n")
    with pytest.raises(ValueError, match="Unknown emotions .'joyful'."):
        labelled_clips(clips, labels)
    with pytest.raises(ValueError, match="No labelled clips of the emotions disgust .* files skipped"):
        labelled_clips(clips, emotions=("disgust",))
    with pytest.raises(ValueError, match="Unknown mode"):
        plan(found, mode="remix")


def test_per_emotion_plans_balance_the_emotions_and_alternate_modes(clips):
    found, _ = labelled_clips(clips)
    jobs = plan(found, mode="both", per_emotion=5)
    by_emotion = {}
    for j in jobs:
        by_emotion.setdefault(j.source.emotion, []).append(j.mode)
    assert {e: len(m) for e, m in by_emotion.items()} == {"happy": 5, "angry": 5, "sad": 5}
    assert all(m[:2] == ["generate", "enhance"] for m in by_emotion.values())
    assert all(j.reference.speaker == j.source.speaker for j in jobs)
    assert len({j.out_name for j in jobs}) == len(jobs)


@pytest.mark.slow
def test_the_command_resumes_after_a_kill(clips, tiny_release, tmp_path):
    cmd = [sys.executable, "-m", "emodiff", "--checkpoints", str(tiny_release), "augment", str(clips),
           "--out", str(tmp_path / "out"), "--per-clip", "6", "--steps", "3", "--seed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(rows(tmp_path / "out") if (tmp_path / "out" / "manifest.csv").exists()
                                            else []) < 3:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(rows(tmp_path / "out"))
    assert 3 <= before < 36
    subprocess.run(cmd, check=True, capture_output=True)
    manifest = rows(tmp_path / "out")
    assert len(manifest) == len({r["path"] for r in manifest}) == 36  # each clip once, none lost


def test_the_command_reports_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["augment", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "No labelled clips" in capsys.readouterr().err
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "clip.wav").write_bytes(encode(tone(1.0), SR))
    assert main(["augment", str(tmp_path / "one"), "--out", str(tmp_path / "o")]) == 2
    assert "no label" in capsys.readouterr().err.lower()
