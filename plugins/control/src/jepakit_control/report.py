"""The control benchmark's summary table: ``python -m jepakit_control.report BENCH_DIR``.

Reads ``BENCH_DIR/metrics.json`` of ``jepakit bench control`` and prints one Markdown
table: per demonstration count (the bench's datasets) and method, the held-out action
MSE, the closed-loop return and success rate (head fitted on the frozen encoder), the
same for the model's own head where pretraining trained one, and the state probes' R2
(mean over the probe tasks, and each). It adds the raw-state behaviour-cloning baseline (the same action
head on the raw observation window, :func:`jepakit_control.baselines.raw_policy`),
which the core's evaluation rows do not cover: it reloads each dataset from the saved
run configuration and scores the baseline on the same held-out episodes and the same
simulator seeds as the other rows.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

METHODS = ["jepa[act-jepa]", "jepa[action-only]", "jepa[jepa-only]", "random-init", "raw-bc"]


def raw_rows(bench_dir: Path, dataset: str, seeds: int) -> dict[str, list[float]]:
    """The raw-state baseline's metrics per seed on ``dataset`` (its saved config)."""
    import jepakit.config as C
    from jepakit.plugins import get_domain
    from jepakit.train import load_bundle

    from .baselines import raw_policy
    from .evaluate import score_actions, score_closed_loop

    run_dir = next(p for p in sorted((bench_dir / dataset).iterdir()) if (p / "config.json").is_file())
    cfg = C.merge(json.loads((run_dir / "config.json").read_text()), {"data": {"labelled_share": None}})
    dom = get_domain("control")
    bundle = load_bundle(dom, cfg)
    data = bundle.pretrain.control
    out: dict[str, list[float]] = defaultdict(list)
    for s in range(seeds):
        policy = raw_policy(bundle, 1.0, s, cfg)
        for k, v in {**score_actions(policy, data), **score_closed_loop(policy, data, s)}.items():
            out[k].append(v)
    out["n_labels"] = [float(len(data.demos))]
    return out


def build_table(bench_dir: str | Path, with_raw: bool = True) -> str:
    bench_dir = Path(bench_dir)
    metrics = json.loads((bench_dir / "metrics.json").read_text())
    summary = metrics["summary"]
    datasets = sorted({s["task"].split(":")[0] for s in summary if ":" in s["task"]}, key=lambda d: int(d.split("-")[-1]))
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    probe_names: list[str] = []
    for s in summary:
        if ":" not in s["task"]:
            continue
        ds, task = s["task"].split(":", 1)
        raw_probe = s["method"] == "raw/linear"
        m = "raw-bc" if raw_probe else s["method"].removesuffix("/linear")
        if task == "actions":
            cells[ds, m]["mse"] = f"{s['mse']:.3f} ± {s['mse_std']:.3f}"
        elif task == "closed-loop":
            cells[ds, m]["return"] = f"{s['return']:.0f} ± {s['return_std']:.0f}"
            cells[ds, m]["success"] = f"{s['success']:.2f}"
        elif task == "closed-loop-own":
            if s.get("own_head", 0.0) > 0.5:  # the others repeat their closed-loop row
                cells[ds, m]["own"] = f"{s['mse']:.3f} / {s['return']:.0f} ± {s['return_std']:.0f} / {s['success']:.2f}"
        elif "r2" in s:
            if task not in probe_names:
                probe_names.append(task)
            cells[ds, m]["r2:" + task] = f"{s['r2']:.3f}"  # raw-bc's: the raw/linear probe row
    seeds = max((s.get("seeds", 1) for s in summary), default=1)
    if with_raw:
        for ds in datasets:
            r = raw_rows(bench_dir, ds, seeds)
            cells[ds, "raw-bc"]["mse"] = f"{np.mean(r['mse']):.3f} ± {np.std(r['mse']):.3f}"
            cells[ds, "raw-bc"]["return"] = f"{np.mean(r['return']):.0f} ± {np.std(r['return']):.0f}"
            cells[ds, "raw-bc"]["success"] = f"{np.mean(r['success']):.2f}"
    head = ["demos", "method", "action MSE (held-out)", "closed-loop return", "success", "own head: MSE / return / success",
            "state R² (mean)",
            *[f"R² {p}" for p in probe_names]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ds in datasets:
        for m in METHODS:
            c = cells.get((ds, m), {})
            if not c:
                continue
            r2 = [float(c[k]) for k in c if k.startswith("r2:")]
            row = [ds.split("-")[-1], m, c.get("mse", "–"), c.get("return", "–"), c.get("success", "–"), c.get("own", "–"),
                   f"{np.mean(r2):.3f}" if r2 else "–", *[c.get("r2:" + p, "–") for p in probe_names]]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m jepakit_control.report", description=__doc__.splitlines()[0])
    ap.add_argument("bench_dir")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw-state baseline (it refits and rolls out)")
    args = ap.parse_args(argv)
    print(build_table(args.bench_dir, not args.no_raw))


if __name__ == "__main__":
    main()


__all__ = ["build_table", "main", "raw_rows"]
