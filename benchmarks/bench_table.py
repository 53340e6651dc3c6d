"""One row per bench run: the 10 % (or another fraction's) linear probe of the JEPA
encoder against random init and supervised-from-scratch, paired draws won, RankMe of the
pretrained embeddings (the collapse guard's, on the pretraining sample) and wall time.

    python benchmarks/bench_table.py runs/after/*/metrics.json --fraction 0.1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from jepakit.evaluate import PRIMARY


def _by_seed(rows: list[dict], task: str, method: str, frac: float, metric: str) -> dict[int, float]:
    return {r["seed"]: r[metric] for r in rows if r["task"] == task and r["method"] == method and r["fraction"] == frac}


def _versus(a: np.ndarray, seeds: list[int], other: dict[int, float]) -> tuple[str, str]:
    """Mean ± std of another method on the same draws, and in how many ``a`` is ahead."""
    if not other:
        return "–", "–"
    b = np.array([other[s] for s in seeds])
    return f"{b.mean():.3f} ± {b.std():.3f}", f"{(a > b).sum()}/{len(seeds)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", nargs="+", type=Path)
    ap.add_argument("--fraction", type=float, default=0.1)
    args = ap.parse_args()
    print("| run | task | recipe | jepa/linear | random-init | ahead | supervised | ahead | RankMe guard pooled / per token of width (test) | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in args.metrics:
        m = json.loads(path.read_text())
        cfg, rows = m["config"], m["rows"]
        recipe = (cfg.get("recipe") or {}).get("name", "jepa")
        if recipe == "jepa":
            recipe = f"ijepa ({cfg['target']['name']}{' + sigreg' if cfg['loss'].get('sigreg') else ''})"
        for task in dict.fromkeys(r["task"] for r in rows):
            kind = next(r["kind"] for r in rows if r["task"] == task)
            metric = (cfg["eval"].get("metrics") or [PRIMARY[kind]])[0]
            jepas = sorted({r["method"] for r in rows if r["task"] == task and r["method"].startswith("jepa") and r["method"].endswith("/linear")})
            rand = _by_seed(rows, task, "random-init/linear", args.fraction, metric)
            sup = _by_seed(rows, task, "supervised", args.fraction, metric)
            for method in jepas:
                mine = _by_seed(rows, task, method, args.fraction, metric)
                seeds = sorted(mine)
                if not seeds:  # this bench does not probe at that fraction (tabular has no 1 %)
                    continue
                a = np.array([mine[s] for s in seeds])

                r_cell, r_ahead = _versus(a, seeds, rand)
                s_cell, s_ahead = _versus(a, seeds, sup)
                name = method.split("/")[0]
                variant = name[5:-1] if name.startswith("jepa[") else "jepa"
                # multi-dataset benches (tabular) pretrain once per dataset: "digits:jepa"
                dataset = task.split(":")[0] + ":" if task.count(":") else ""
                pre = m["pretraining"].get(dataset + variant) or m["pretraining"].get(variant) or next(iter(m["pretraining"].values()), {})
                rank = pre.get("rankme")
                hist = path.parent / dataset.rstrip(":") / variant / "history.json"
                if rank is None and hist.exists():  # runs from before the guard: its last RankMe reading
                    rank = next((h["rankme"] for h in reversed(json.loads(hist.read_text())) if "rankme" in h), None)
                token = pre.get("token_rankme")
                guard = "–" if rank is None else f"{rank:.1f}{'' if token is None else f' / {token:.1f}'} of {cfg['model']['width']}" + (
                    " collapsed" if pre.get("collapsed") else "")
                test_rank = m.get("rankme", {}).get(f"{task}:{name}")
                guard += "" if test_rank is None else f" (test {test_rank:.1f})"
                print(f"| {path.parent.name} | {task} ({metric}) | {recipe}{'' if name == 'jepa' else ' ' + name} | "
                      f"{a.mean():.3f} ± {a.std():.3f} | {r_cell} | {r_ahead} | {s_cell} | {s_ahead} | {guard} | {m['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
