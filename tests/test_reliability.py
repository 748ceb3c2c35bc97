"""Reduced-size runs of bench/load_test.py against a real server process; the full size is
`python bench/load_test.py`."""
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from emodiff.app_process import make_study, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def load_test(script):
    return script("bench/load_test")


@pytest.fixture(scope="module")
def ckpt(tiny_release):
    return tiny_release


def test_concurrent_annotators_lose_nothing(ckpt, tmp_path, load_test):
    study = tmp_path / "study"
    make_study(study, 10)
    acked, errors = [], []
    with serving(ckpt, study) as (_, url):
        load_test.annotate(url, 6, 10, acked, errors)
    ok, rows, partial = load_test.check_db(study)
    assert errors == [], errors
    assert ok == "ok" and partial == 0
    assert rows == 60 == len(acked) == len(set(acked))


def test_kill_9_mid_run_keeps_every_acknowledged_answer(ckpt, tmp_path, load_test):
    study = tmp_path / "study"
    make_study(study, 40)
    acked, errors = [], []
    with serving(ckpt, study) as (server, url):
        writer = threading.Thread(target=load_test.annotate, args=(url, 4, 40, acked, errors))
        writer.start()
        deadline = time.time() + 60
        while len(acked) < 10 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        writer.join()
    assert 10 <= len(acked) < 160, (len(acked), errors)  # killed mid-run
    with serving(ckpt, study):
        pass  # the restarted server opens the database cleanly
    ok, rows, partial = load_test.check_db(study)
    assert ok == "ok" and partial == 0
    assert set(acked) <= load_test.stored(study) and rows >= len(acked)


def test_file_routes_serve_nothing_outside_allowed_folders(ckpt, tmp_path, load_test):
    study = tmp_path / "study"
    make_study(study, 2)
    with serving(ckpt, study) as (_, url):
        for target in ["/etc/passwd", "../../../../etc/passwd", str(study / "study.sqlite"),
                       str(Path(__file__).resolve())]:
            for route in ("gradio_api/file=", "file="):
                try:
                    with urllib.request.urlopen(f"{url}{route}{target}", timeout=10) as r:
                        body = r.read()
                    assert b"root:" not in body and b"SQLite" not in body and b"import" not in body
                    assert r.status != 200 or len(body) < 2000  # at most an HTML error page
                except urllib.error.HTTPError as e:
                    assert e.code in (400, 403, 404, 405)
