"""``python -m jepakit_vision.tables RUN/metrics.json``: the vision bench's tables as the
closing note shows them -- label efficiency per dataset, the aggregate evaluation, and the
invariant vs equivariant probes of the shapes -- from a ``jepakit bench vision`` run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

FRACTIONS = (0.01, 0.1, 1.0)
METHODS = [("I-JEPA", "jepa[ijepa]/linear"), ("DSeq-JEPA", "jepa[dseq]/linear"), ("LeJEPA", "jepa[lejepa]/linear"),
           ("seq-JEPA (per view)", "jepa[seq]/linear"), ("random init", "random-init/linear"), ("supervised (scratch)", "supervised"),
           ("raw pixels (PCA-64)", "pixels-pca/linear")]
AGGREGATE = [("I-JEPA", "jepa[ijepa]"), ("DSeq-JEPA", "jepa[dseq]"), ("LeJEPA", "jepa[lejepa]"), ("seq-JEPA", "jepa[seq]"),
             ("random init", "random-init")]
EQUIVARIANT = [("rotation R²", "rotation"), ("scale R²", "scale"), ("shift_x R²", "shift_x"), ("colour R²", "colour")]


def tables(metrics: dict) -> str:
    summary = metrics["summary"]

    def get(task: str, method: str, frac: float, metric: str):
        for s in summary:
            if s["task"] == task and s["method"] == method and abs(s["fraction"] - frac) < 1e-9:
                return s.get(metric), s.get(metric + "_std"), s.get("n_labels")
        return None, None, None

    def cell(v, sd):
        return "–" if v is None else f"{v:.3f} ± {sd:.3f}"

    tasks = {s["task"] for s in summary}
    out: list[str] = []
    for task in sorted(t for t in tasks if t.endswith((":digit", ":shape", ":class"))):
        ns = [get(task, "supervised", f, "accuracy")[2] for f in FRACTIONS]
        out += [f"\n**{task}** (accuracy; linear probe on mean-pooled tokens; mean ± std over the label draws)\n",
                "| method | " + " | ".join(f"{f:.0%} (n={n})" for f, n in zip(FRACTIONS, ns)) + " |", "|---|" + "---|" * len(FRACTIONS)]
        out += [f"| {name} | " + " | ".join(cell(*get(task, m, f, "accuracy")[:2]) for f in FRACTIONS) + " |" for name, m in METHODS]
    for task in sorted(t for t in tasks if t.endswith(":seq-invariant")):
        out += [f"\n**{task}** (class accuracy from the aggregate of 3 views / the mean of their embeddings / one view)\n",
                "| method | " + " | ".join(f"{f:.0%}" for f in FRACTIONS) + " |", "|---|" + "---|" * len(FRACTIONS)]
        for name, m in AGGREGATE:
            cells = []
            for f in FRACTIONS:
                a, b, c = (get(task, m, f, k)[0] for k in ("accuracy", "mean_views_accuracy", "view_accuracy"))
                cells.append("–" if a is None else f"{a:.3f} / {b:.3f} / {c:.3f}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    prefix = next((t.split(":")[0] + ":" for t in tasks if t.endswith(":rotation")), "" if "rotation" in tasks else None)
    if prefix is not None:
        for f in (0.1, 1.0):
            out += [f"\n**invariant vs equivariant, {f:.0%} labels** (aggregate: class from 3 views; the rest per-view linear probes)\n",
                    "| method | aggregate acc | shape acc | " + " | ".join(c for c, _ in EQUIVARIANT) + " |",
                    "|---|---|---|" + "---|" * len(EQUIVARIANT)]
            for name, m in METHODS:
                base = m.split("/")[0]
                agg = get(f"{prefix}seq-invariant", base, f, "accuracy")[0]
                row = [cell(*get(f"{prefix}shape", m, f, "accuracy")[:2])]
                row += [cell(*get(f"{prefix}{t}", m, f, "r2")[:2]) for _, t in EQUIVARIANT]
                out.append(f"| {name} | {'–' if agg is None else f'{agg:.3f}'} | " + " | ".join(row) + " |")
    ranks = metrics.get("rankme") or {}
    keep = [k for k in ranks if k.endswith((":digit", ":shape", ":class"), 0, k.rfind(":"))]
    if keep:
        out.append("\nRankMe of the pooled test embeddings: " + ", ".join(f"{k} {ranks[k]:.1f}" for k in keep))
    out.append(f"\nwall time {metrics.get('seconds', 0):.0f} s")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m jepakit_vision.tables RUN/metrics.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {path}: cannot read the bench's metrics ({exc})", file=sys.stderr)
        return 2
    print(tables(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
