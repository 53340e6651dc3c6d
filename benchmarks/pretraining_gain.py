"""Does pretraining pay? One ``jepakit bench`` run at a single label fraction over many
label draws (the same labelled rows for every method in a draw), then, draw by draw, in
how many the pretrained encoder beats the random-init encoder of the same shape and each
of the domain's baselines with the same head.

    JEPAKIT_PLUGINS=tabular python benchmarks/pretraining_gain.py tabular --dataset digits \\
        --set train.steps=3000 --draws 10
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from jepakit import get_domain
from jepakit.bench import primary_metric, run_bench
from jepakit.config import parse_sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("domain")
    ap.add_argument("--dataset", help="one of the domain's default datasets")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--head", default="linear")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--draws", type=int, default=10)
    args = ap.parse_args()

    overrides = parse_sets(args.set)
    if args.dataset:
        overrides.setdefault("data", {}).update(get_domain(args.domain).datasets[args.dataset])
    overrides.setdefault("train", {})["progress"] = False
    overrides.setdefault("eval", {}).update(fractions=[args.fraction], seeds=args.draws, heads=[args.head], supervised=False)
    with tempfile.TemporaryDirectory() as out:
        result = run_bench(args.domain, overrides=overrides, out=out, echo=False)
    for task in dict.fromkeys(r["task"] for r in result.rows):
        rows = [r for r in result.rows if r["task"] == task]
        metric = primary_metric(rows[0]["kind"])
        by_method: dict[str, dict[int, float]] = {}
        for r in rows:
            by_method.setdefault(r["method"], {})[r["seed"]] = r[metric]
        mine = by_method.pop(f"jepa/{args.head}")
        seeds = sorted(mine)
        ours = np.array([mine[s] for s in seeds])
        print(f"{args.domain} {task}: {args.head} head, {metric} at {args.fraction:g} labels, {len(seeds)} draws, {result.seconds:.0f} s")
        print(f"  {'jepa/' + args.head:<20} {ours.mean():.3f} +- {ours.std():.3f}")
        for method, scores in by_method.items():
            other = np.array([scores[s] for s in seeds])
            print(f"  {method:<20} {other.mean():.3f} +- {other.std():.3f}   pretrained ahead in {(ours > other).sum()}/{len(seeds)} draws")


if __name__ == "__main__":
    main()
