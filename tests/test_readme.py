"""The README's numbers are read from files, not typed: every number in its results tables
is found in a committed results file, and its benchmark tables are exactly what
docs/readme_tables.py renders from results/bench/."""
import functools
import json
import re
import subprocess
import sys

import numpy as np

from .conftest import ROOT

# Columns that describe a row (what was run) rather than report a result.
LABELS = {"condition", "folds", "models (NAME)", "model", "guidance", "sampler", "the speaker's other clips",
          "test speakers (EmoDB + RAVDESS)"}
NUMBER = re.compile(r"(?<![\w.])[−+-]?\d+(?:\.\d+)?")


@functools.cache
def numbers_in(paths: tuple) -> np.ndarray:
    """Every number in these JSON files but per-clip, per-run and per-fold details."""
    found = []

    def walk(x):
        if isinstance(x, bool):
            return
        if isinstance(x, (int, float)):
            found.append(float(x))
        elif isinstance(x, dict):
            for k, v in x.items():
                if k not in ("per_clip", "confusion_matrix", "runs", "per_fold"):  # tables quote summaries
                    walk(v)
        elif isinstance(x, list) and len(x) <= 100:
            for v in x:
                walk(v)

    for path in paths:
        walk(json.loads(path.read_text()))
    return np.unique(np.array(found))


def named_files(text: str) -> list:
    """The results files a passage names: `results/x.json`, a folder (every JSON in it), a glob,
    or `results/dir/NAME.json` (every file of the folder)."""
    paths = []
    for ref in re.findall(r"results/[\w./*-]+", text):
        ref = ref.rstrip(".").replace("NAME", "*")
        path = ROOT / ref
        paths += sorted(path.rglob("*.json")) if path.is_dir() else sorted(ROOT.glob(ref))
    return [p for p in paths if p.suffix == ".json"]


def results_tables(text: str) -> list[tuple[list[list[str]], str]]:
    """The Markdown tables of the README's "Results" section and of the timeline's measurement,
    outside the benchmark blocks (those are rendered, and checked below), each with the passage
    that introduces and follows it (from the previous table to the paragraph after it)."""
    text = re.sub(r"<!-- bench: .*?<!-- /bench -->", "", text, flags=re.S)
    parts = [text[text.index("## Results"):text.index("## Layout")],
             text[text.index("**Measured** on long recordings"):text.index("## Hugging Face Space")]]
    tables = []
    for part in parts:
        previous = 0
        for m in re.finditer(r"(?:^\|.*\|\n)+", part, flags=re.M):
            after = part.find("\n\n", m.end() + 1)
            context = part[previous:after if after > 0 else len(part)]
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in m.group().splitlines()]
            tables.append((rows, context))
            previous = m.end()
    return tables


def reported(table) -> list[tuple[str, str, bool, list[str]]]:
    """(number, cell, whether it is followed by %, the row's `names`) for each number in a
    result cell: not the header, not the row's label (first column) nor a column that
    describes the run, not inside `code`, not the "95" of "95 % interval"."""
    header, _, *body = table
    out = []
    for row in body:
        names = re.findall(r"`([^`]*)`", row[0])
        for name, cell in list(zip(header, row))[1:]:
            if name in LABELS:
                continue
            plain = re.sub(r"`[^`]*`|95 % (?=interval|CI)", "", cell)
            out += [(m.group(), cell, plain[m.end():].lstrip().startswith("%"), names)
                    for m in NUMBER.finditer(plain)]
    return out


def found(number: str, values: np.ndarray, percent: bool = False) -> bool:
    """Whether some value rounds to `number`: a fraction shown in percent (or in points), or,
    unless the number is marked %, the value as it is."""
    v = float(number.replace("−", "-"))
    decimals = len(number.split(".")[1]) if "." in number else 0
    tol = 0.5 * 10 ** -decimals + 1e-9
    return any(np.any(np.abs(values * scale - v) <= tol) for scale in ((100,) if percent else (1, 100)))


def test_every_number_in_the_results_tables_is_in_a_results_file_named_beside_it():
    tables = results_tables((ROOT / "README.md").read_text())
    assert len(tables) >= 7 and sum(len(reported(t)) for t, _ in tables) > 150  # the parser still sees them
    missing = []
    for table, context in tables:
        files = named_files(context)
        assert files, f"no results file named near the table headed {table[0]}"
        for n, cell, percent, names in reported(table):
            own = [f for f in files if f.stem in names]  # a row that names its file is held to it
            if not found(n, numbers_in(tuple(own or files)), percent):
                missing.append(f"{n} in '{cell}'")
    assert not missing, "typed, not in the files named beside the table: " + "; ".join(missing)


def test_a_typed_number_is_caught():
    values = np.array([0.819, 0.6632, 30.12])
    assert found("81.9", values) and found("66.3", values) and found("30.1", values)
    assert not found("82.0", values) and not found("+4.7", values) and not found("30.1", values, percent=True)
    table = [["model", "EmoDB UA"], ["---", "---"], ["one clip (`k = 3`)", "81.9 % [76.1, 87.8]"]]
    cell = "81.9 % [76.1, 87.8]"
    assert reported(table) == [("81.9", cell, True, ["k = 3"]), ("76.1", cell, False, ["k = 3"]),
                               ("87.8", cell, False, ["k = 3"])]
    readme = "## Results\nSee `results/cv_small.json`.\n\n| a | b |\n|---|---|\n| x | 1 |\n\n## Layout\n"
    (table, context), = results_tables(readme + "**Measured** on long recordings\n## Hugging Face Space")
    assert named_files(context) == [ROOT / "results" / "cv_small.json"]


def test_benchmark_tables_are_rendered_from_their_files():
    every = {p.stem for p in (ROOT / "results" / "bench").glob("*.json")}
    marked = set(re.findall(r"<!-- bench: ([\w-]+) -->", (ROOT / "README.md").read_text()
                            + (ROOT / "docs" / "results_history.md").read_text()))
    assert marked == every, "a benchmark without its table, or a table without its file"
    check = subprocess.run([sys.executable, "docs/readme_tables.py", "--check"], cwd=ROOT, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
