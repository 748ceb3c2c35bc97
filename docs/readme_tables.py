"""Render the benchmark tables of the README and docs/results_history.md from
results/bench/*.json, so that no timing in them is typed by hand.

    python docs/readme_tables.py          # rewrite the files in place
    python docs/readme_tables.py --check  # exit 1 if a file differs from what its JSONs give

A table lives between `<!-- bench: NAME -->` and `<!-- /bench -->`; NAME is the file's stem.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from emodiff.benchmark import RESULTS, device_line

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", ROOT / "docs" / "results_history.md"]
BLOCK = re.compile(r"(<!-- bench: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench -->)", re.S)


def render(name: str) -> str:
    """The block's body: the machine and date, then the table, from results/bench/NAME.json."""
    data = json.loads((RESULTS / f"{name}.json").read_text())
    return (f"{device_line(data['machine'])}; `{data['command']}`, {data['date'][:10]} "
            f"(`results/bench/{name}.json`)\n\n{data['table']}\n")


def rendered(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if a file is stale")
    args = p.parse_args()
    stale = []
    for path in FILES:
        text = path.read_text()
        new = rendered(text)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new)
        print(f"{path.name}: {len(BLOCK.findall(text))} tables" + (", stale" if new != text else ""))
    if args.check and stale:
        sys.exit(f"stale: {', '.join(stale)}; run python docs/readme_tables.py")


if __name__ == "__main__":
    main()
