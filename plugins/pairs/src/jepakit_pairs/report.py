"""The retrieval tables of a ``jepakit bench pairs`` run, from its ``metrics.json``:

    python -m jepakit_pairs.report runs/bench-pairs/metrics.json

prints (1) Recall@1/5/10, median rank and genre@10 in both directions for every
pretrained variant at its own training weight and for random init, and (2) the
inference-time weight's effect: pair Recall@1 and genre@10 at each ``w`` of
:data:`jepakit_pairs.retrieval.KNOB`, per variant and direction. The bench's own
``report.md`` shows only each evaluation's primary metric (R@1)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .retrieval import KNOB

DIRECTIONS = {"v2a": "video -> music", "a2v": "music -> video"}


def _rows(metrics: dict[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    """(direction, method) -> the metrics of its first label fraction and seed (retrieval
    fits nothing, so every fraction and seed gives the same numbers)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for r in metrics.get("rows") or []:
        task = str(r.get("task", "")).split(":")[-1]
        if r.get("kind") == "evaluation" and task in DIRECTIONS:
            out.setdefault((task, r["method"]), r)
    return out


def tables(metrics: dict[str, Any]) -> str:
    rows = _rows(metrics)
    methods = list(dict.fromkeys(m for _, m in rows))
    lines = ["| direction | encoder | w | R@1 | R@5 | R@10 | median rank | genre@10 | genre@50 |", "|---|---|---|---|---|---|---|---|---|"]
    for d, name in DIRECTIONS.items():
        for m in methods:
            r = rows.get((d, m))
            if r is None:
                continue
            w = "–" if m == "random-init" else f"{r['w']:g}"
            lines.append(f"| {name} | {m} | {w} | {r['R@1']:.3f} | {r['R@5']:.3f} | {r['R@10']:.3f} | {r['medR']:g} | {r['genre@10']:.3f} | {r.get('genre@50', float('nan')):.3f} |")
    knob = ["", "| direction | encoder | " + " | ".join(f"w={w:g}" for w in KNOB) + " |", "|---|---|" + "---|" * len(KNOB)]
    for d, name in DIRECTIONS.items():
        for m in methods:
            r = rows.get((d, m))
            if r is None or m == "random-init":
                continue
            cells = [f"{r[f'R@1_w{w:g}']:.3f} / {r[f'genre@10_w{w:g}']:.3f} / {r.get(f'genre@50_w{w:g}', float('nan')):.3f}" for w in KNOB]
            knob.append(f"| {name} | {m} | " + " | ".join(cells) + " |")
    knob.insert(1, "R@1 / genre@10 / genre@50 at each inference-time weight w (0: pair heads, 1: label heads):")
    return "\n".join(lines + knob)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m jepakit_pairs.report RUN/metrics.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    if path.is_dir():
        path = path / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {path}: cannot be read ({type(exc).__name__}); give the metrics.json of a jepakit bench pairs run", file=sys.stderr)
        return 2
    if not _rows(metrics):
        print(f"error: {path}: holds no pairs retrieval rows; give the metrics.json of a jepakit bench pairs run", file=sys.stderr)
        return 2
    print(tables(metrics))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

__all__ = ["main", "tables"]
