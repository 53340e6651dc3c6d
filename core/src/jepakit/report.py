"""Benchmark reports: a Markdown table, ``metrics.json`` and PNG plots.

Everything shaped like a report (what is written, and how) lives here; :mod:`jepakit.bench`
runs the experiments and hands their rows over, and nothing here imports it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .task_kinds import PRIMARY, TASK_KINDS, task_kind

if TYPE_CHECKING:  # pragma: no cover; types only, never imported at run time
    from .bench import BenchResult
    from .train import Run


def _fmt(entry: Mapping[str, Any], metric: str) -> str:
    if metric not in entry:
        return "–"
    return f"{entry[metric]:.3f} ± {entry.get(metric + '_std', 0.0):.3f}"


def _metrics(row: Mapping[str, Any], metrics: Sequence[str] | None) -> list[str]:
    """The metrics tabulated for a task's rows: a domain evaluation's own primary metric,
    else ``eval.metrics`` or the task kind's primary metric."""
    if row.get("primary"):  # "metric" or "metric,also1,also2"
        return row["primary"].split(",")
    return list(metrics) if metrics else [PRIMARY[row["kind"]]]


def table(summary: list[dict[str, Any]], metrics: Sequence[str] | None = None, ranks: Mapping[str, float] | None = None) -> str:
    """One Markdown table per task and metric (``eval.metrics``, default the task kind's
    primary metric): methods as rows, label fractions as columns headed with their
    labelled count (``10% (n=42)``), mean ± std over seeds; with ``ranks``
    (``"task:method"`` -> RankMe of its test embeddings) a RankMe column. The table's
    :func:`caveats` follow it as ``Note:`` lines."""
    parts = []
    for task in dict.fromkeys(s["task"] for s in summary):
        rows = [s for s in summary if s["task"] == task]
        for metric in _metrics(rows[0], metrics):
            parts.append(_table(task, rows, metric, ranks or {}))
    notes = caveats(summary)
    if notes:
        parts.append("\n".join(f"Note: {n}" for n in notes))
    return "\n\n".join(parts)


def _pct(f: float) -> str:
    """``0.1`` -> ``10%``, ``0.005`` -> ``0.5%`` (never rounded to ``0%``)."""
    return f"{f * 100:.3g}%"


def _counts(rows: list[dict[str, Any]], f: float) -> list[int]:
    return sorted({int(s["n_labels"]) for s in rows if s["fraction"] == f and s.get("n_labels") is not None})


def _n_text(counts: list[int]) -> str:
    if not counts:
        return ""
    return f" (n={counts[0]})" if len(counts) == 1 else f" (n={counts[0]}–{counts[-1]})"


def caveats(summary: list[dict[str, Any]]) -> list[str]:
    """One line per thing a reader of the table must know: a macro AUC that could score
    only some classes (the others have no positive or no negative test item), and label
    fractions that come to the same labelled items (the same experiment twice)."""
    out = []
    for task in dict.fromkeys(s["task"] for s in summary):
        rows = [s for s in summary if s["task"] == task]
        scored = [s for s in rows if "auc_classes_scored" in s and "auc_classes" in s]
        if scored:
            k = min(int(round(s["auc_classes_scored"])) for s in scored)
            c = max(int(round(s["auc_classes"])) for s in scored)
            if k < c:
                out.append(
                    f"{task}: macro_auc averages {k} of {c} classes; the other {c - k} have no positive or no negative "
                    "test item and cannot be scored"
                )
        fracs = sorted({s["fraction"] for s in rows})
        by_n: dict[int, list[float]] = {}
        for f in fracs:
            counts = _counts(rows, f)
            if len(counts) == 1:
                by_n.setdefault(counts[0], []).append(f)
        for n, same in by_n.items():
            if len(same) > 1:
                names = " and ".join(_pct(f) for f in same)
                stratified = rows[0]["kind"] in TASK_KINDS and task_kind(rows[0]["kind"]).stratified
                why = " (at least one per class)" if stratified else ""
                out.append(f"{task}: {names} labels are the same {n} labelled items{why}, one experiment in {len(same)} columns")
    return out


def _table(task: str, rows: list[dict[str, Any]], metric: str, ranks: Mapping[str, float]) -> str:
    fracs = sorted({s["fraction"] for s in rows})
    methods = list(dict.fromkeys(s["method"] for s in rows))
    with_rank = any(k.startswith(f"{task}:") for k in ranks)
    cols = [f"{_pct(f)}{_n_text(_counts(rows, f))}" for f in fracs]
    head = f"| {task}: {metric} | " + " | ".join(cols) + (" | RankMe |" if with_rank else " |")
    lines = [head, "|" + "---|" * (len(fracs) + 1 + with_rank)]
    for m in methods:
        cells = []
        for f in fracs:
            hit = [s for s in rows if s["method"] == m and s["fraction"] == f]
            cells.append(_fmt(hit[0], metric) if hit else "–")
        if with_rank:
            rank = ranks.get(f"{task}:{m.split('/')[0]}")
            cells.append("–" if rank is None else f"{rank:.1f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plots(result: BenchResult, out: Path, metrics: Sequence[str] | None = None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, run in result.runs.items():
        ax.plot([h["step"] for h in run.history], [h["loss"] for h in run.history], label=name)
    ax.set_xlabel("step"), ax.set_ylabel("pretraining loss"), ax.set_title(f"{result.domain}: loss")
    ax.legend(), fig.tight_layout(), fig.savefig(out / "loss.png", dpi=110), plt.close(fig)
    made.append("loss.png")
    if any("rankme" in h for r in result.runs.values() for h in r.history):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, run in result.runs.items():
            pts = [(h["step"], h["rankme"]) for h in run.history if "rankme" in h]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=name)
        ax.set_xlabel("step"), ax.set_ylabel("RankMe"), ax.set_title(f"{result.domain}: RankMe")
        ax.legend(), fig.tight_layout(), fig.savefig(out / "rankme.png", dpi=110), plt.close(fig)
        made.append("rankme.png")
    for task in dict.fromkeys(s["task"] for s in result.summary):
        rows = [s for s in result.summary if s["task"] == task]
        metric = _metrics(rows[0], metrics)[0]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for m in dict.fromkeys(s["method"] for s in rows):
            pts = sorted((s["fraction"], s.get(metric, float("nan")), s.get(metric + "_std", 0.0)) for s in rows if s["method"] == m)
            xs, ys, es = zip(*pts)
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m)
        ax.set_xscale("log"), ax.set_xlabel("fraction of labels"), ax.set_ylabel(metric)
        ax.set_title(f"{result.domain} / {task}: label efficiency")
        ax.legend(fontsize=7), fig.tight_layout()
        name = f"label_efficiency_{''.join(c if c.isalnum() else '_' for c in task)}.png"
        fig.savefig(out / name, dpi=110), plt.close(fig)
        made.append(name)
    return made


def recipe_label(cfg: Mapping[str, Any]) -> str:
    """``lejepa``, ``jepa (target ema + SIGReg 0.05, masker multiblock)`` ..."""
    name = (cfg.get("recipe") or {}).get("name", "jepa")
    if name != "jepa":
        return f"{name} (views {cfg.get('views', {}).get('name')})"
    sig = cfg["loss"].get("sigreg", 0.0)
    return f"jepa (target {cfg['target'].get('name')}{f' + SIGReg {sig:g}' if sig else ''}, masker {cfg['masker'].get('name')})"


def metrics_json(result: BenchResult, cfg: Mapping[str, Any], quick: bool) -> dict[str, Any]:
    return {
        "domain": result.domain, "quick": quick, "seconds": result.seconds, "config": cfg, "rankme": result.rankme,
        "summary": result.summary, "rows": result.rows,
        "pretraining": {k: pretraining_summary(r) for k, r in result.runs.items()},
    }


def pretraining_summary(run: Run) -> dict[str, Any]:
    """Length, final loss, time and the collapse guard's last reading of a run."""
    h = run.history
    health = [r for r in h if "rankme" in r]
    last = health[-1] if health else {}
    first = next((r["step"] for r in health if r.get("collapsed")), None)
    return {
        "steps": len(h), "final_loss": h[-1]["loss"] if h else None, "seconds": run.seconds,
        "rankme": last.get("rankme"), "token_rankme": last.get("token_rankme"), "sample_std": last.get("sample_std"),
        "position_std": last.get("position_std"),
        "collapsed": bool(last.get("collapsed", False)), "collapsed_at": first,
    }


def dump(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def write_report(result: BenchResult, cfg: Mapping[str, Any], quick: bool) -> str:
    out = result.out
    tab = table(result.summary, cfg["eval"].get("metrics"), result.rankme)
    dump(metrics_json(result, cfg, quick), out / "metrics.json")
    plots = _plots(result, out, cfg["eval"].get("metrics"))
    lines = []
    for name, r in result.runs.items():
        if not r.history:
            continue
        p = pretraining_summary(r)
        token = "" if p.get("token_rankme") is None else f" ({p['token_rankme']:.1f} per token)"
        health = "" if p["rankme"] is None else f", RankMe {p['rankme']:.1f}{token} of {cfg['model']['width']}" + (
            f" -- COLLAPSED (first at step {p['collapsed_at']})" if p["collapsed"] else "")
        lines.append(f"- {name}: {p['steps']} steps, final loss {p['final_loss']:.4f}, {r.seconds:.1f} s{health}")
    pre = "\n".join(lines)
    ranks = "\n".join(f"- {k}: {v:.1f}" for k, v in result.rankme.items())
    md = [
        f"# jepakit bench {result.domain}{' (quick)' if quick else ''}",
        "",
        f"Wall time {result.seconds:.1f} s. Encoder: width {cfg['model']['width']}, depth {cfg['model']['depth']}; "
        f"recipe {recipe_label(cfg)}, tokenizer {cfg['tokenizer'].get('name')}.",
        "",
        "## Pretraining",
        pre,
        "",
        "## Probes (mean ± std over seeds)",
        tab,
        "",
        "## RankMe of test embeddings",
        ranks or "- (not computed)",
        "",
        *[f"![{p}]({p})" for p in plots],
    ]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return tab
