"""Which recipe for a domain? Pretrain each candidate recipe on the domain's pretraining
data and score its linear probe on a *validation* split of the task's training items
(``eval.split=validation``: the test split is never read), against the random-init
encoder of the same shape on the same label draws. Prints one Markdown table.

    python benchmarks/recipe_choice.py sines
    python benchmarks/recipe_choice.py ecg --recipe "lejepa=recipe=lejepa,train.steps=300"

A recipe is ``NAME=KEY=VALUE,KEY=VALUE...``; the defaults are the three of the README's
"Which recipe" section. Domain variants are left out (the domain's first framing only).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile

import numpy as np
from time_to_accuracy import layered

from jepakit import get_domain
from jepakit.bench import pretraining_summary, primary_metric, run_bench
from jepakit.config import parse_sets

RECIPES = {
    "ijepa": "",
    "ijepa+sigreg": "loss.sigreg=0.05",
    "lejepa": "recipe=lejepa",
}


def _parse_recipe(text: str) -> tuple[str, list[str]]:
    name, _, sets = text.partition("=")
    # split on the commas that start a new KEY=VALUE, not those inside [lists]
    return name, [s for s in re.split(r",(?=[A-Za-z_]+(?:\.[A-Za-z_]+)?=)", sets) if s]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("domain")
    ap.add_argument("--recipe", action="append", default=[], metavar="NAME=SETS", help="candidate (default: the three recipes)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applies to every candidate")
    ap.add_argument("--quick", action="store_true", help="on the quick preset instead of the bench preset")
    ap.add_argument("--dataset", help="one of the domain's default datasets")
    ap.add_argument("--fractions", default="0.01,0.1")
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()

    dom = get_domain(args.domain)
    dom = dataclasses.replace(dom, variants={}, datasets={})  # one framing, one dataset per call
    recipes = [_parse_recipe(f"{name}={sets}") for name, sets in RECIPES.items()] if not args.recipe else [_parse_recipe(r) for r in args.recipe]
    fractions = [float(f) for f in args.fractions.split(",")]
    common = parse_sets(args.set)
    if args.dataset:
        common = layered({"data": dict(get_domain(args.domain).datasets[args.dataset])}, common)
    print(f"| {args.domain} recipe | " + " | ".join(f"jepa {f:g} | random {f:g} | ahead" for f in fractions)
          + " | RankMe (guard) | pretrain s |")
    print("|---" * (2 + 3 * len(fractions)) + "|---|")
    for name, sets in recipes:
        over = layered(common, parse_sets(sets), {
            "train": {"progress": False},
            "eval": {"split": "validation", "supervised": False, "fractions": fractions, "seeds": args.draws, "heads": ["linear"]},
        })
        with tempfile.TemporaryDirectory() as out:
            result = run_bench(dom, quick=args.quick, overrides=over, out=out, echo=False)
        cells = []
        for frac in fractions:
            rows = [r for r in result.rows if r["fraction"] == frac]
            metric = primary_metric(rows[0]["kind"])
            mine = {(r["task"], r["seed"]): r[metric] for r in rows if r["method"] == "jepa/linear"}
            rand = {(r["task"], r["seed"]): r[metric] for r in rows if r["method"] == "random-init/linear"}
            keys = sorted(mine)
            a, b = np.array([mine[k] for k in keys]), np.array([rand[k] for k in keys])
            cells += [f"{a.mean():.3f} ± {a.std():.3f}", f"{b.mean():.3f}", f"{(a > b).sum()}/{len(keys)}"]
        p = pretraining_summary(next(iter(result.runs.values())))
        guard = "–" if p["rankme"] is None else f"{p['rankme']:.1f}" + (" collapsed" if p["collapsed"] else "")
        print(f"| {name} | " + " | ".join(cells) + f" | {guard} | {p['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
