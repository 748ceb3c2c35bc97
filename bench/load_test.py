"""Load and crash test of the running app on loopback: concurrent annotators, kill -9, restart.

    python bench/load_test.py [--annotators 20] [--answers 50] [--classify 20]

Starts `app.py` as a real server process (the shipped models, or --checkpoints), then:
1. N annotators answer M clips each at the same time through gradio_client -> rows counted;
2. the same again, with the server killed by SIGKILL mid-run, then restarted: SQLite
   integrity, no partial rows, every acknowledged answer present;
3. K simultaneous classify requests: peak resident memory of the server.
Prints a table. The test suite runs a reduced size of the same functions.
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from emodiff.app_process import free_port, make_study, start_server
from emodiff.benchmark import save_bench
from emodiff.service import CHECKPOINTS

ROOT = Path(__file__).resolve().parents[1]


def annotate(url: str, annotators: int, answers: int, acknowledged: list, errors: list,
             stop: threading.Event | None = None, retried: list | None = None) -> None:
    """Each annotator in its own thread: start, then submit `answers` answers in order.
    A dropped connection is retried (as a browser would; answers are idempotent upserts) up
    to 3 times and counted in `retried`; a dead server ends the run."""
    from gradio_client import Client

    retried = [] if retried is None else retried

    def attempt(fn):
        for i in range(4):
            try:
                return fn()
            except Exception as e:
                if i == 3 or "Connection refused" in repr(e) or "AppError" in type(e).__name__:
                    raise
                retried.append(repr(e))
                time.sleep(0.2)

    def one(k: int) -> None:
        name = f"annotator_{k:02d}"
        try:
            client = attempt(lambda: Client(url, verbose=False))
            clip, _, _ = attempt(lambda: client.predict(name, api_name="/study_next"))
            for j in range(answers):
                if stop is not None and stop.is_set():
                    return
                nxt, *_ = attempt(lambda: client.predict(name, clip, "angry", 1 + j % 5, f"answer {j}",
                                                         api_name="/study_submit"))
                acknowledged.append((name, clip))
                clip = nxt
        except Exception as e:  # a killed server ends the run; anything else is reported
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(annotators)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def check_db(study_dir: Path) -> tuple[str, int, int]:
    """(integrity_check result, rows, rows with missing fields)."""
    db = sqlite3.connect(study_dir / "study.sqlite")
    ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    rows = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    partial = db.execute("SELECT COUNT(*) FROM answers WHERE emotion IS NULL OR mos IS NULL OR "
                         "created IS NULL OR clip IS NULL").fetchone()[0]
    db.close()
    return ok, rows, partial


def stored(study_dir: Path) -> set:
    db = sqlite3.connect(study_dir / "study.sqlite")
    out = set(db.execute("SELECT annotator, clip FROM answers"))
    db.close()
    return out


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def concurrent_classify(url: str, n: int, clip: Path, pid: int) -> tuple[float, float, int]:
    """n simultaneous classify requests -> (RSS before MB, peak RSS MB, failures)."""
    from gradio_client import Client, handle_file

    before, peak, failures = rss_mb(pid), [rss_mb(pid)], []
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak.append(rss_mb(pid))
            time.sleep(0.05)

    def one():
        try:
            Client(url, verbose=False).predict(handle_file(str(clip)), api_name="/classify")
        except Exception as e:
            failures.append(repr(e))

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    return before, max(peak), len(failures)


def concurrent(args, tmp: Path) -> list[dict]:
    """Start-up, concurrent annotators, then simultaneous classify requests on one server."""
    study = tmp / "study"
    make_study(study, args.answers)
    port, start = free_port(), time.perf_counter()
    server = start_server(args.checkpoints, study, "t", port)
    rows = [{"scenario": "page up after start", "seconds": time.perf_counter() - start,
             "result": f"{time.perf_counter() - start:.1f} s (models warm up in the background)"}]
    url, acked, errors, retried = f"http://127.0.0.1:{port}/", [], [], []
    start = time.perf_counter()
    annotate(url, args.annotators, args.answers, acked, errors, retried=retried)
    elapsed = time.perf_counter() - start
    ok, stored_rows, partial = check_db(study)
    for e in sorted(set(errors))[:3]:
        print("error:", e[:300], file=sys.stderr)
    rows.append({"scenario": "concurrent annotators", "rows": stored_rows, "expected": args.annotators * args.answers,
                 "errors": len(errors), "retried": len(retried), "answers_per_second": len(acked) / elapsed,
                 "integrity": ok, "result": f"{args.annotators} x {args.answers}: {stored_rows} rows (expected "
                 f"{args.annotators * args.answers}), {len(errors)} errors, {len(retried)} dropped connections "
                 f"retried, {len(acked) / elapsed:.0f} answers/s, integrity {ok}"})
    before, peak, failures = concurrent_classify(url, args.classify, ROOT / "examples" / "ravdess_angry_actor12.wav",
                                                 server.pid)
    rows.append({"scenario": f"{args.classify} simultaneous classify", "rss_before_mb": before, "rss_peak_mb": peak,
                 "failures": failures,
                 "result": f"server RSS {before:.0f} MB -> peak {peak:.0f} MB, {failures} failures"})
    server.kill()
    server.wait()
    return rows


def kill_restart(args, tmp: Path) -> dict:
    """Annotators answering while the server is SIGKILLed a third of the way through, then restarted."""
    study = tmp / "study_kill"
    make_study(study, args.answers)
    port = free_port()
    server = start_server(args.checkpoints, study, "t", port)
    acked, errors = [], []
    writer = threading.Thread(target=annotate, args=(f"http://127.0.0.1:{port}/", args.annotators, args.answers,
                                                     acked, errors))
    writer.start()
    deadline = time.time() + 120
    while len(acked) < args.annotators * args.answers // 3 and time.time() < deadline:
        time.sleep(0.02)  # kill about a third of the way through
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    writer.join()
    server = start_server(args.checkpoints, study, "t", free_port())
    ok, stored_rows, partial = check_db(study)
    missing = set(acked) - stored(study)
    server.kill()
    return {"scenario": "kill -9 mid-run, restart", "acknowledged": len(acked), "rows": stored_rows,
            "missing": len(missing), "partial": partial, "integrity": ok,
            "result": f"{len(acked)} acknowledged, {stored_rows} rows stored, {len(missing)} acknowledged missing, "
                      f"{partial} partial rows, integrity {ok}"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--annotators", type=int, default=20)
    p.add_argument("--answers", type=int, default=50)
    p.add_argument("--classify", type=int, default=20)
    p.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, help="model folders (default: %(default)s)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    rows = [*concurrent(args, tmp), kill_restart(args, tmp)]
    lines = ["| scenario | result |", "|---|---|", *(f"| {r['scenario']} | {r['result']} |" for r in rows)]
    save_bench("load_test", sys.argv, rows, lines, None, annotators=args.annotators, answers=args.answers,
               checkpoints=str(args.checkpoints))


if __name__ == "__main__":
    main()
