"""The real app, served on loopback, driven through gradio_client as a user's browser would.
Every test here talks to a server: all are `slow`."""
import contextlib
import csv
import json
import os
import shutil
import socket

import gradio as gr
import pytest
from gradio_client import Client, handle_file

import app
from emodiff.audio import save_audio
from emodiff.study import ACR
from emodiff.study_page import admin

from .conftest import EMODB_CLIP, SR, bad_and_odd_inputs, tone

pytestmark = pytest.mark.slow
TOKEN = "s3cret-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(study: "app.Study", release):
    """The app on loopback over `study` with the models in `release`; yields its URL."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EMODIFF_CHECKPOINTS", str(release))
    mp.setenv("EMODIFF_STUDY_DIR", str(study.folder))
    mp.setenv("EMODIFF_ADMIN_TOKEN", TOKEN)
    for cached in (app.models, app.study):
        cached.cache_clear()
    demo = app.build_demo().queue(default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=app.MAX_UPLOAD)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        mp.undo()
        for cached in (app.models, app.study):
            cached.cache_clear()


@pytest.fixture(scope="module")
def served(tmp_path_factory, data_root, tiny_release):
    """Tiny models (fast, no shipped weights needed), a prepared study, the app on loopback."""
    root = tmp_path_factory.mktemp("app")
    study = app.Study(root / "study")
    for i, source in enumerate(["real", "enhanced", "generated"]):
        save_audio(study.folder / f"clip{i}.wav", tone(0.6, freq=200 + 50 * i), SR)
        study.add_clip(f"clip{i}", f"clip{i}.wav", source, "angry")
    save_audio(study.folder / "clip3.wav", tone(0.6, freq=400), SR)  # two catch trials
    study.add_clip("clip3", "clip3.wav", "real", "angry", {"catch": "anchor"})
    study.add_clip("clip4", "clip0.wav", "real", "angry", {"catch": "repeat", "of": "clip0"})
    with serving(study, tiny_release) as url:
        yield Client(url, verbose=False), root, url


def test_classify(served):
    client, *_ = served
    label, plot = client.predict(handle_file(str(EMODB_CLIP)), api_name="/classify")
    assert label["label"] in app.EMOTIONS and len(label["confidences"]) == 6
    assert abs(sum(c["confidence"] for c in label["confidences"]) - 1) < 1e-3


def test_enhance_and_generate(served):
    client, *_ = served
    plot, original, enhanced, before, after, verdict = client.predict(
        handle_file(str(EMODB_CLIP)), "change it to sad", "strong", 5, 0, api_name="/enhance")
    assert original and enhanced and before["label"] in app.EMOTIONS and after["label"] in app.EMOTIONS
    if before["label"] != "sad":
        assert verdict.startswith("Reached" if after["label"] == "sad" else "Not reached") and "**sad**" in verdict
    *_, verdict = client.predict(handle_file(str(EMODB_CLIP)), app.CLEARER, "subtle", 5, 0, api_name="/enhance")
    assert verdict.split(":")[0] in ("Clearer", "Not clearer") and f"**{before['label']}**" in verdict
    plot, audio, wav = client.predict("angry", None, 1.0, 5, 3.0, 1, api_name="/generate")
    assert audio and wav.endswith(".wav")


def test_bad_upload_is_a_readable_error_and_server_survives(served, tmp_path):
    client, *_ = served
    bad = tmp_path / "notes.wav"
    bad.write_text("this is text, not audio")
    with pytest.raises(Exception, match="not audio we can read"):
        client.predict(handle_file(str(bad)), api_name="/classify")
    label, _ = client.predict(handle_file(str(EMODB_CLIP)), api_name="/classify")
    assert label["label"] in app.EMOTIONS


CASES = bad_and_odd_inputs()


@pytest.mark.parametrize("name", CASES)
def test_every_odd_upload_gets_an_answer_and_the_server_stays_up(served, tmp_path, name):
    client, *_ = served
    data, suffix, phrase = CASES[name]
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    if phrase is None:
        label, _ = client.predict(handle_file(str(path)), api_name="/classify")
        assert label["label"] in app.EMOTIONS
    else:
        with pytest.raises(Exception, match=phrase):
            client.predict(handle_file(str(path)), api_name="/classify")
    label, _ = client.predict(handle_file(str(EMODB_CLIP)), api_name="/classify")  # next one succeeds
    assert label["label"] in app.EMOTIONS


def test_classify_several_clips_of_one_speaker(served, data_root, tmp_path):
    client, *_ = served
    other = data_root / "emodb" / "wav" / "03a01Wa.flac"
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    table = client.predict([handle_file(str(EMODB_CLIP)), handle_file(str(bad)), handle_file(str(other))],
                           api_name="/classify_speaker")
    rows = table["data"]
    assert [r[0] for r in rows] == [EMODB_CLIP.name, other.name]  # the unreadable one skipped
    assert all(r[1] in app.EMOTIONS and 0 < r[2] <= 1 and r[4] <= r[2] for r in rows)
    assert [m.cfg.speaker_norm for m in app.models().speaker_classifier.members] == [True, False]  # both models
    with pytest.raises(Exception, match="at least two"):
        client.predict([handle_file(str(EMODB_CLIP))], api_name="/classify_speaker")
    with pytest.raises(Exception, match="Fewer than two"):
        client.predict([handle_file(str(EMODB_CLIP)), handle_file(str(bad))], api_name="/classify_speaker")


def test_upload_size_limit(served, tmp_path):
    client, *_ = served
    big = tmp_path / "big.wav"
    limit_mb = int(app.MAX_UPLOAD.removesuffix("mb"))
    with open(big, "wb") as f:  # a few MB past the limit, written sparsely
        f.truncate((limit_mb + 5) * 1024 * 1024)
    with pytest.raises(Exception, match="(?i)size|large|exceed"):
        client.predict(handle_file(str(big)), api_name="/classify")
    label, _ = client.predict(handle_file(str(EMODB_CLIP)), api_name="/classify")
    assert label["label"] in app.EMOTIONS


def test_listening_test_writes_resumes_and_exports(served, tmp_path):
    client, *_ = served
    clip, audio, status = client.predict("annotator_1", api_name="/study_next")
    assert clip and "Clip 1 of 5" in status
    clip2, _, status, *_ = client.predict("annotator_1", clip, "angry", 4, "clear", api_name="/study_submit")
    assert "Clip 2 of 5" in status and clip2 != clip
    # Reload: a fresh request with the same ID continues at clip 2.
    again, _, status = client.predict("annotator_1", api_name="/study_next")
    assert again == clip2 and "Clip 2 of 5" in status
    with pytest.raises(Exception, match="admin token"):
        client.predict("wrong", api_name="/study_summary")
    tables, summary = client.predict(TOKEN, api_name="/study_summary")
    assert summary["annotators"]["annotator_1"]["answered"] == 1 and "| annotator_1 | 1 of 5 |" in tables
    answers, summary_file = client.predict(TOKEN, api_name="/study_export")
    rows = list(csv.DictReader(open(answers)))
    assert len(rows) == 1 and rows[0]["annotator"] == "annotator_1" and rows[0]["mos"] == "4"
    assert json.loads(open(summary_file).read())["design"] == "label"


def test_handlers_directly(data_root, monkeypatch, tmp_path):
    """A user's mistake is a message without a traceback; the admin view tells "off" from a
    wrong token; answers go where they last; `gradio app.py` finds a module-level demo."""
    with pytest.raises(gr.Error, match="upload or record") as refused:
        app.classify(None)
    assert refused.value.print_exception is False
    monkeypatch.delenv("EMODIFF_ADMIN_TOKEN", raising=False)
    with pytest.raises(gr.Error, match="admin view is off"):
        admin(app.Study(tmp_path / "any"), "anything")
    monkeypatch.setenv("EMODIFF_STUDY_DIR", str(tmp_path / "answers"))
    assert app.study_folder(tmp_path) == (tmp_path / "answers", True)
    monkeypatch.delenv("EMODIFF_STUDY_DIR")
    monkeypatch.setenv("SPACE_ID", "someone/emodiff")  # on a Space without persistent storage
    folder, lasting = app.study_folder(tmp_path)
    assert lasting == (folder == app.Path("/data/emodiff-study"))
    assert isinstance(app.demo, gr.Blocks) and isinstance(app.build_demo(), gr.Blocks)


@pytest.fixture
def chromium() -> str:
    """Debian's chromium, or a skip (a failure where EMODIFF_REQUIRE_BROWSER is set, as in CI)."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("EMODIFF_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (EMODIFF_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("Debian chromium not installed")
    return path


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def start_listening(page, url: str, annotator: str):
    """Open the listening test as `annotator` and press Start; returns the Submit button."""
    page.goto(url)
    page.get_by_role("tab", name="Listening test").click()
    page.get_by_label("annotator ID").fill(annotator)
    page.get_by_role("button", name="Start / continue").click()
    return page.get_by_role("button", name="Submit answer (after listening)")


def test_browser_upload_shows_confidences(served, chromium):
    """Headless Chromium: open the page, upload a clip, press Recognise, see the confidences."""
    from playwright.sync_api import sync_playwright

    *_, url = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(url)
        page.locator("input[type=file]").first.set_input_files(str(EMODB_CLIP))
        page.get_by_role("button", name="Recognise").click()
        label = page.get_by_test_id("label-output-value").first
        label.wait_for(timeout=60_000)
        text = label.inner_text()
        browser.close()
    assert text.strip() in app.EMOTIONS  # the top class, as a person sees it


def test_timeline_of_a_long_recording(served, data_root, tmp_path):
    import numpy as np
    import soundfile as sf

    from emodiff.data import index_corpora
    from emodiff.timeline import build_recording

    client, *_ = served
    samples, layout = build_recording(index_corpora(data_root, corpora=["emodb"]), 3, 16000, seed=0)
    sf.write(tmp_path / "long.wav", samples, 16000, subtype="PCM_16")
    plot, table, csv_path = client.predict(handle_file(str(tmp_path / "long.wav")), 2.0, api_name="/timeline")
    rows = table["data"]
    assert len(rows) >= 3 and all(r[2] in app.EMOTIONS and float(r[0]) < float(r[1]) for r in rows)
    assert open(csv_path).readline().startswith("start,end,emotion")
    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 4, np.float32), 16000)
    with pytest.raises(Exception, match="silent|No speech"):
        client.predict(handle_file(str(tmp_path / "quiet.wav")), 2.0, api_name="/timeline")


def test_browser_listening_test_must_play_no_default_and_resume(served, chromium):
    """Headless Chromium as an annotator: Submit stays locked until the clip is played, no
    naturalness rating is preselected, a refused submit leaves every control usable, the answer
    keeps its plays and time, and after a reload the ID is still there and the test continues."""
    from playwright.sync_api import expect, sync_playwright

    *_, url = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        submit = start_listening(page, url, "browser_b1")
        expect(page.get_by_text("Clip 1 of 5")).to_be_visible(timeout=30_000)
        expect(submit).to_be_disabled()
        assert not any(page.get_by_role("radio", name=label).is_checked() for label, _ in ACR)
        page.get_by_label("Play", exact=True).first.click()
        expect(submit).to_be_enabled(timeout=15_000)
        submit.click()  # no emotion, no rating: refused with a message, and every control stays usable
        expect(page.get_by_text("Please choose one of").first).to_be_visible(timeout=15_000)
        page.get_by_role("radio", name="angry").check(timeout=5_000)
        page.get_by_role("radio", name="4 Good").check()
        submit.click()
        expect(page.get_by_text("Clip 2 of 5")).to_be_visible(timeout=30_000)
        page.reload()
        page.get_by_role("tab", name="Listening test").click()
        expect(page.get_by_label("annotator ID")).to_have_value("browser_b1", timeout=15_000)
        page.get_by_role("button", name="Start / continue").click()
        expect(page.get_by_text("Clip 2 of 5")).to_be_visible(timeout=30_000)
        browser.close()
    row, = [r for r in app.study().rows() if r["annotator"] == "browser_b1"]
    assert row["mos"] == 4 and row["plays"] >= 1 and row["seconds"] > 0
