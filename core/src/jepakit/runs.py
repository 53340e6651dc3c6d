"""``jepakit runs DIR``: the pretraining runs under a folder, their checkpoints and status.

A run folder is one that holds ``config.json``, ``run.json``, ``metrics.jsonl`` or ``checkpoints/``. Each run gets a
status: ``running`` (its process is alive), ``finished``, ``interrupted`` (killed or
crashed before its last step), ``diverged`` (a NaN/Inf loss) or ``collapsed`` (the
collapse guard saw collapsed embeddings), read from ``metrics.jsonl`` (see
:mod:`jepakit.metrics`), ``history.json`` and the checkpoints' ``state.json``. Each
checkpoint gets the loss at its step and the RankMe measured at (or last before) it; one
is marked to keep: the latest good one, the one before the divergence (before the loss
spike that led to it), or the one with the best RankMe when the run collapsed later.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .metrics import METRICS_FILE, read_metrics, steps_of

# a run written on another machine counts as running while its log moved this recently
STALE_SECONDS = 600.0
# files another part of the loop may leave in a run folder on divergence
DIVERGED_MARKERS = ("DIVERGED", "diverged", "diverged.json", "DIVERGED.json", "diverged.txt")


@dataclass
class CheckpointInfo:
    step: int
    path: Path
    loss: float | None = None
    rankme: float | None = None
    rankme_step: int | None = None  # the step RankMe was measured at (<= step)
    collapsed: bool = False
    keep: bool = False


@dataclass
class RunInfo:
    path: Path
    status: str  # finished / interrupted / diverged / collapsed / running
    step: int  # the last step reached
    steps: int | None  # the configured length
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    loss: float | None = None  # the last logged loss
    collapsed_at: int | None = None
    diverged_at: int | None = None
    spikes: list[int] = field(default_factory=list)  # steps where loss-spike episodes began
    error: str | None = None

    @property
    def keep(self) -> CheckpointInfo | None:
        return next((c for c in self.checkpoints if c.keep), None)

    def record(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "status": self.status, "step": self.step, "steps": self.steps, "loss": self.loss,
            "collapsed_at": self.collapsed_at, "diverged_at": self.diverged_at, "spikes": self.spikes, "error": self.error,
            "checkpoints": [
                {"step": c.step, "path": str(c.path), "loss": c.loss, "rankme": c.rankme, "rankme_step": c.rankme_step,
                 "collapsed": c.collapsed, "keep": c.keep}
                for c in self.checkpoints
            ],
        }


def is_run(path: Path) -> bool:
    return any((path / name).is_file() for name in ("config.json", "run.json", METRICS_FILE)) or (path / "checkpoints").is_dir()


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Run folders at or under ``root`` (a run's own sub-folders are not searched)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    found = []
    for here, dirs, _files in os.walk(root):
        p = Path(here)
        skip = {"checkpoints", "tensorboard"}
        if is_run(p):
            found.append(p)
            skip.add("evaluation")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in skip)
    return sorted(found)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # "nan"/"inf" strings of metrics.jsonl included
    except (TypeError, ValueError):
        return None


def _checkpoints(run: Path) -> list[CheckpointInfo]:
    root = run / "checkpoints"
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.glob("step-*")):
        if not p.is_dir() or not (p / "state.json").exists():
            continue
        try:
            step = int(p.name.split("-", 1)[1])
        except ValueError:
            continue
        out.append(CheckpointInfo(step, p))
    return out


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (the lock and `jepakit runs` ask)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _records(run: Path, ckpts: list[CheckpointInfo], lines: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Step -> record: the history (history.json, else history.jsonl where each save
    appends its records, else the latest checkpoint's), overlaid with the metrics log."""
    history = _json(run / "history.json")
    if not isinstance(history, list) and (run / "history.jsonl").is_file():
        history = read_metrics(run / "history.jsonl")  # a step's latest record wins below
    if not isinstance(history, list) and ckpts:
        state = _json(ckpts[-1].path / "state.json") or {}
        history = state.get("history")
    recs: dict[int, dict[str, Any]] = {}
    for rec in history if isinstance(history, list) else []:
        if isinstance(rec, dict) and "step" in rec:
            recs[int(rec["step"])] = dict(rec)
    for rec in steps_of(lines):
        recs.setdefault(int(rec["step"]), {}).update(rec)
    return recs


def _marker(run: Path) -> bool:
    return any((run / name).exists() for name in DIVERGED_MARKERS)


def inspect_run(run: str | os.PathLike) -> RunInfo:
    """The status and checkpoints of one run folder."""
    run = Path(run)
    cfg = _json(run / "config.json") or {}
    steps = None
    try:
        steps = int(cfg["train"]["steps"])
    except (KeyError, TypeError, ValueError):
        pass
    ckpts = _checkpoints(run)
    lines = read_metrics(run / METRICS_FILE)
    recs = _records(run, ckpts, lines)
    ordered = [recs[s] for s in sorted(recs)]
    last_step = max([*recs, *(c.step for c in ckpts), 0])
    losses = [(s, _float(recs[s].get("loss"))) for s in sorted(recs) if _float(recs[s].get("loss")) is not None]
    last_loss = losses[-1][1] if losses else None
    collapsed_at = next((int(r["step"]) for r in ordered if r.get("collapsed") is True), None)
    spikes = [int(x["step"]) for x in lines if x.get("event") == "loss_spike"]
    # the events of the latest attempt (a resumed run starts a new one)
    starts = [i for i, x in enumerate(lines) if x.get("event") == "start"]
    attempt = lines[starts[-1]:] if starts else []
    end = next((x for x in reversed(attempt) if x.get("event") == "end"), None)
    info = RunInfo(run, "interrupted", last_step, steps, ckpts, last_loss, collapsed_at, spikes=spikes)

    if end is not None:
        info.status = str(end.get("status", "interrupted"))
        info.error = end.get("error")
        if info.status == "diverged":
            info.diverged_at = last_step + 1
    elif attempt:
        start = attempt[0]
        if start.get("host") == socket.gethostname() and isinstance(start.get("pid"), int):
            running = pid_alive(start["pid"])
        else:
            running = time.time() - (run / METRICS_FILE).stat().st_mtime < STALE_SECONDS
        info.status = "running" if running else "interrupted"
    elif lines or recs or ckpts:  # no log of its own (older runs): history and checkpoints
        done = last_step >= steps if steps is not None else (run / "history.json").exists()
        info.status = "finished" if done else "interrupted"
    if info.status != "running" and info.status != "diverged":
        nonfinite = last_loss is not None and not math.isfinite(last_loss)
        if nonfinite or _marker(run):
            info.status, info.diverged_at = "diverged", (losses[-1][0] if nonfinite else last_step + 1)
    if info.status in ("finished", "interrupted") and collapsed_at is not None:
        info.status = "collapsed"

    measured = [(s, _float(recs[s].get("rankme"))) for s in sorted(recs) if _float(recs[s].get("rankme")) is not None]
    for c in ckpts:
        loss = _float(recs.get(c.step, {}).get("loss"))
        c.loss = loss
        before = [(s, r) for s, r in measured if s <= c.step]
        if before:
            c.rankme_step, c.rankme = before[-1]
        c.collapsed = collapsed_at is not None and c.step >= collapsed_at
    pick = choose_keep(info)
    if pick is not None:
        pick.keep = True
    return info


def choose_keep(info: RunInfo) -> CheckpointInfo | None:
    """The checkpoint to keep: the latest good one; before a divergence, the latest before
    the loss spike that preceded it; in a collapsed run, the best RankMe (ties: the later)."""
    good = [c for c in info.checkpoints if c.loss is None or math.isfinite(c.loss)]
    if not good:
        return None
    if info.diverged_at is not None:
        before = [c for c in good if c.step < info.diverged_at] or good
        spike = max((s for s in info.spikes if s <= info.diverged_at), default=None)
        calm = [c for c in before if spike is not None and c.step < spike]
        return (calm or before)[-1]
    if info.collapsed_at is not None:
        ranked = [c for c in good if c.rankme is not None]
        if ranked:
            return max(ranked, key=lambda c: (c.rankme, c.step))
        return ([c for c in good if c.step < info.collapsed_at] or good)[-1]
    return good[-1]


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """The runs at or under ``root``: the Python twin of ``jepakit runs``."""
    return [inspect_run(p) for p in find_runs(root)]


def _fmt(value: float | None, spec: str = ".4f") -> str:
    if value is None:
        return "-"
    return format(value, spec) if math.isfinite(value) else str(value)


def table(runs: list[RunInfo], root: str | os.PathLike | None = None) -> str:
    """The compact table ``jepakit runs`` prints: one line per checkpoint."""
    head = ("RUN", "STATUS", "STEP", "CKPT", "LOSS", "RANKME", "KEEP", "NOTE")
    rows = []
    for r in runs:
        try:
            name = str(r.path.relative_to(root)) if root is not None else str(r.path)
        except ValueError:
            name = str(r.path)
        name = name if name != "." else (Path(root).name if root is not None else name)
        notes = []
        if r.collapsed_at is not None:
            notes.append(f"collapsed at {r.collapsed_at}")
        if r.diverged_at is not None:
            notes.append(f"diverged at {r.diverged_at}")
        if r.spikes:
            notes.append(f"loss spike at {', '.join(map(str, r.spikes[:3]))}{' ...' if len(r.spikes) > 3 else ''}")
        if r.error and r.status == "interrupted":
            notes.append(r.error[:60])
        progress = f"{r.step}/{r.steps}" if r.steps else str(r.step)
        first = [name, r.status, progress]
        note = "; ".join(notes)
        if not r.checkpoints:
            rows.append((*first, "-", _fmt(r.loss), "-", "", note))
            continue
        for i, c in enumerate(r.checkpoints):
            rank = "-" if c.rankme is None else f"{c.rankme:.1f}" + ("" if c.rankme_step == c.step else f"@{c.rankme_step}")
            if c.collapsed:
                rank += " (collapsed)"
            rows.append((*(first if i == 0 else ["", "", ""]), str(c.step), _fmt(c.loss), rank, "*" if c.keep else "",
                         note if i == 0 else ""))
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(x[i]).ljust(widths[i]) for i in range(len(head))).rstrip() for x in [head, *rows]]
    return "\n".join(lines)


def print_runs(runs: list[RunInfo], root: str | os.PathLike | None = None, as_json: bool = False) -> int:
    """Print ``runs`` as the table (or JSON records); the CLI's exit code."""
    if as_json:
        print(json.dumps([r.record() for r in runs], indent=1))
    elif not runs:
        print(f"no runs under {root} (a run folder holds config.json or checkpoints/)")
    else:
        print(table(runs, root))
    return 0


__all__ = ["CheckpointInfo", "RunInfo", "choose_keep", "find_runs", "inspect_run", "list_runs", "print_runs", "table"]
