"""Does the Space work as uploaded? The files `emodiff deploy-space` would upload, copied to an
empty folder (no corpora beside it, no tests, no git), a fresh venv with requirements.txt only,
the app started there, and each tab used through its API.

    python bench/check_space.py [--python python3.11] [--keep]

Prints a table: install time, start-up, and each action's result and time.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emodiff.app_process import make_study, serving
from emodiff.benchmark import save_bench
from emodiff.space import ROOT, space_files


def install(folder: Path, python: str) -> tuple[Path, float]:
    """A venv in `folder`/.venv with the Space's requirements.txt; returns (its python, seconds)."""
    start = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(folder / ".venv")], check=True)
    py = folder / ".venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(folder / "requirements.txt")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return py, time.perf_counter() - start


def long_example() -> Path:
    """The example clips one after another, a second of near-silence between: a long recording."""
    import numpy as np
    import soundfile as sf

    clips = [sf.read(str(p), dtype="float32") for p in sorted((ROOT / "examples").glob("*.wav"))]
    rate = clips[0][1]
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    path = Path(tempfile.mkdtemp()) / "examples_joined.wav"
    sf.write(path, np.concatenate([x for clip, _ in clips for x in (quiet, clip)] + [quiet] * 8), rate)
    return path


def use_every_tab(url: str) -> list[tuple[str, str]]:
    """Recognise, enhance, generate and one listening-test answer, as a browser would ask."""
    from gradio_client import Client, handle_file

    client, rows, clip = Client(url, verbose=False), [], ROOT / "examples" / "ravdess_angry_actor12.wav"

    def timed(name, call, show):
        start = time.perf_counter()
        result = call()
        rows.append((name, f"{show(result)} ({time.perf_counter() - start:.1f} s)"))
        return result

    timed("recognise (example clip; models may still be warming up)",
          lambda: client.predict(handle_file(str(clip)), api_name="/classify"), lambda r: f"top: {r[0]['label']}")
    timed("recognise again", lambda: client.predict(handle_file(str(clip)), api_name="/classify"),
          lambda r: f"top: {r[0]['label']}")
    timed("enhance toward sad", lambda: client.predict(handle_file(str(clip)), "change it to sad", "medium", 25, 0,
                                                        api_name="/enhance"), lambda r: f"after: {r[4]['label']}")
    timed("generate happy, 3 s", lambda: client.predict("happy", None, 3.0, 25, 3.0, 0, api_name="/generate"),
          lambda r: Path(r[2]).name)
    timed("timeline of the three examples, 20 s", lambda: client.predict(handle_file(str(long_example())), 2.0,
                                                                          api_name="/timeline"),
          lambda r: f"{len(r[1]['data'])} segments")
    first = timed("listening test: start", lambda: client.predict("checker_1", api_name="/study_next"),
                  lambda r: r[2])
    timed("listening test: answer",
          lambda: client.predict("checker_1", first[0], "angry", 4, "", api_name="/study_submit"), lambda r: r[2])
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", default=sys.executable, help="the interpreter the Space would run")
    p.add_argument("--keep", action="store_true", help="keep the folder (printed)")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="emodiff_space_"))
    files = space_files(ROOT)
    for name, _ in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    py, seconds = install(folder, args.python)
    version = subprocess.check_output([str(py), "--version"], text=True).strip()
    rows = [("files", f"{len(files)}, {sum(s for _, s in files) / 1e6:.1f} MB"),
            ("venv + requirements.txt", f"{seconds:.0f} s ({version})")]
    study = folder / "study"
    make_study(study, 3)
    start = time.perf_counter()
    with serving(folder / "checkpoints", study, python=py, app=folder / "app.py") as (_, url):
        rows.append(("page up", f"{time.perf_counter() - start:.1f} s"))
        rows += use_every_tab(url)
    lines = ["| step | result |", "|---|---|", *(f"| {name} | {result} |" for name, result in rows)]
    save_bench("space", sys.argv, [{"step": name, "result": result} for name, result in rows], lines, None,
               python=args.python)
    if args.keep:
        print(f"\nkept: {folder}")
    else:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
