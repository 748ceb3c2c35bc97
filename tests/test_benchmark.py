"""emodiff.benchmark.save_bench: what every benchmark prints and keeps."""
import json

from emodiff import benchmark


def test_save_bench_prints_the_machine_and_table_and_keeps_both(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(benchmark, "RESULTS", tmp_path)
    lines = ["| step | s |", "|---|---|", "| one | 1.5 |"]
    path = benchmark.save_bench("demo", ["bench/demo.py", "--fast"], [{"step": "one", "s": 1.5}], lines, "; a note",
                                repeats=3)
    printed = capsys.readouterr().out
    assert printed.startswith(benchmark.device_line() + "; a note\n\n") and printed.rstrip().endswith("| one | 1.5 |")
    saved = json.loads(path.read_text())
    assert saved["table"] == "\n".join(lines) and saved["rows"] == [{"step": "one", "s": 1.5}]
    assert saved["command"] == "python bench/demo.py --fast" and saved["repeats"] == 3 and saved["machine"]
    benchmark.save_bench("bare", ["x.py"], [], lines, None)
    assert capsys.readouterr().out.startswith("| step | s |")  # no header
