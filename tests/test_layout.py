"""The code's shape: one library, thin scripts. Every reusable piece lives in `emodiff/`;
scripts import only the library (never each other, never through `sys.path`), and no
function grows past a page."""
import ast
from pathlib import Path

import pytest

from .conftest import ROOT

SCRIPTS = sorted([*ROOT.glob("train/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("docs/*.py"), ROOT / "app.py"])
LIBRARY = sorted(ROOT.glob("emodiff/**/*.py"))
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400
UI_DECLARATIONS = {("app.py", "build_demo")}  # a list of widgets, read top to bottom


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_scripts_import_the_library_not_each_other():
    script_names = {p.stem for p in SCRIPTS}
    for path in SCRIPTS:
        assert not imported(path) & script_names, f"{path.relative_to(ROOT)} imports another script"
        assert "sys.path" not in path.read_text(), f"{path.relative_to(ROOT)} edits sys.path"


def test_the_library_reads_no_command_line_and_imports_no_script():
    for path in LIBRARY:
        text = path.read_text()
        assert "sys.argv" not in text and "sys.path" not in text, path.relative_to(ROOT)
        assert not imported(path) & {"train", "bench", "tests", "app"}, path.relative_to(ROOT)


@pytest.mark.parametrize("path", LIBRARY + SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_fit_a_page_and_files_stay_readable(path):
    text = path.read_text()
    assert len(text.splitlines()) < MAX_FILE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if (str(path.relative_to(ROOT)), node.name) in UI_DECLARATIONS:
                continue
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{node.name} is {length} lines"


def test_no_mel_config_is_made_up_at_a_call_site():
    """A `MelConfig()` as a default argument would let a caller analyse audio with a mel other
    than its model's; the configs come from the saved models."""
    for path in LIBRARY:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for default in node.args.defaults + node.args.kw_defaults:
                    assert not (isinstance(default, ast.Call) and getattr(default.func, "id", "") == "MelConfig"), \
                        f"{path.relative_to(ROOT)}: {node.name} defaults to MelConfig()"
