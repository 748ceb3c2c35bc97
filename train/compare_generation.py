"""Is one sampler as accurate as another? The difference in how often the judge recognises the
requested emotion between two rows of an evaluate_generation.py result (same judge, same
guidance), with a 95 % interval (Newcombe's, over all clips: every emotion has as many).

    python train/compare_generation.py results/generation_guidance3.json dpm-12 ddpm-1000 \
        --out results/generation_guidance3_dpm12_vs_ddpm.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from emodiff.stats import rate_difference
from emodiff.training import save_json


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("result", type=Path, help="an evaluate_generation.py JSON")
    p.add_argument("a", help="a row of its 'generation', e.g. dpm-12")
    p.add_argument("b", help="the row it is compared with, e.g. ddpm-1000")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    rows = json.loads(args.result.read_text())["generation"]
    hits = {}
    for name in (args.a, args.b):
        row = rows[name]
        hits[name] = (round(sum(row["target_recognised"].values()) * row["n_per_emotion"]),
                      row["n_per_emotion"] * len(row["target_recognised"]))
    d, low, high = rate_difference(*hits[args.a], *hits[args.b])
    report = {"result": str(args.result), "a": args.a, "b": args.b, "hits": hits,
              "difference": d, "ci95": [low, high], "method": "Newcombe hybrid score (Wilson) interval"}
    save_json(report, args.out)
    print(f"{args.a} {hits[args.a][0]}/{hits[args.a][1]} vs {args.b} {hits[args.b][0]}/{hits[args.b][1]}: "
          f"{d:+.1%} [{low:+.1%}, {high:+.1%}]")
    return report


if __name__ == "__main__":
    main()
