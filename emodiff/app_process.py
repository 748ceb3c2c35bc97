"""The web app as a process: started on loopback, stopped with SIGKILL, as the load test,
the reliability tests and the screenshot script need it (the app itself is `app.py`)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoints: Path, study_dir: Path, token: str, port: int, python=sys.executable,
                 app: Path = APP) -> subprocess.Popen:
    """`app` run by `python` (another venv's, to check an install) in its own folder."""
    env = {**os.environ, "EMODIFF_CHECKPOINTS": str(checkpoints), "EMODIFF_STUDY_DIR": str(study_dir),
           "EMODIFF_ADMIN_TOKEN": token, "GRADIO_SERVER_PORT": str(port), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(python), str(app)], env=env, cwd=Path(app).parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the app exited during start-up")
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the app did not start within 120 s")


@contextlib.contextmanager
def serving(checkpoints: Path, study_dir: Path, token: str = "t", python=sys.executable, app: Path = APP):
    """A running app for the block; yields (process, url); SIGKILLs it on exit if still up."""
    port = free_port()
    proc = start_server(checkpoints, study_dir, token, port, python, app)
    try:
        yield proc, f"http://127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait()


def make_study(study_dir: Path, n_clips: int) -> None:
    """A listening test of `n_clips` short tones: something to answer, with no model needed."""
    import numpy as np

    from emodiff.audio import save_audio
    from emodiff.study import Study

    study, rate = Study(study_dir), 16000  # any rate: a study serves its files as they are
    t = np.arange(int(0.4 * rate)) / rate
    for i in range(n_clips):
        save_audio(study.folder / f"c{i:03d}.wav", 0.3 * np.sin(2 * np.pi * (150 + 5 * i) * t), rate)
        study.add_clip(f"c{i:03d}", f"c{i:03d}.wav", ["real", "enhanced", "generated"][i % 3], "angry")
