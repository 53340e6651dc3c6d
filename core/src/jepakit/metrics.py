"""Watching a run: every step's scalars in ``metrics.jsonl`` (and TensorBoard when it is
installed), and a loss-spike detector.

``metrics.jsonl`` in the run folder holds one JSON object per line, appended and flushed
every step, so it survives ``kill -9``. Step lines carry ``step`` (1-based, as in
``history.json``), ``time`` (Unix seconds), ``loss`` and its parts, ``lr``,
``ema_momentum`` (targets with one), ``grad_norm`` (before clipping), ``samples_per_s``,
``step_seconds``, ``data_wait`` (seconds the loop waited for the step's batch and masks)
and, at the collapse guard's cadence, ``rankme``, ``token_rankme``,
``sample_std``, ``position_std`` and ``collapsed``. Event lines carry an ``event`` key:
``start`` (pid, host, resumed step), ``loss_spike`` and ``end`` (``status``: finished,
diverged, collapsed, interrupted, with the error's message). A resumed run continues
the file: lines past the resumed checkpoint's step are dropped first.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import statistics
import sys
import time
import warnings
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
# the collapse guard's record (collapse.Health.record)
HEALTH_KEYS = ("rankme", "token_rankme", "sample_std", "position_std", "collapsed")
# keys of a step line that are not loss parts
OTHER_KEYS = {"step", "time", "lr", "seconds", "step_seconds", "samples_per_s", "data_wait", "grad_norm", "ema_momentum", "loss_spike",
              *HEALTH_KEYS}


class LossSpikeWarning(UserWarning):
    """The loss jumped far above its recent running statistics (printed as one line)."""


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The lines of a ``metrics.jsonl`` (a run folder or the file itself); a torn last line
    (a process killed mid-write) is skipped."""
    p = Path(path)
    if p.is_dir():
        p = p / METRICS_FILE
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def steps_of(lines: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The step lines (not the events) of a metrics log."""
    return [x for x in lines if "event" not in x and "step" in x]


class SpikeDetector:
    """Flags a loss far above its recent running statistics, once per spike episode.

    A loss is a spike when it exceeds ``mean + sigmas * std`` and ``ratio * median`` of
    the last ``window`` losses, once ``warmup`` steps were seen (and at least ``min_seen``
    losses are in the window), or when it is not finite. The episode's losses are kept out
    of the window; it ends when a loss falls back under the bar, or after ``window`` steps
    (the new level then becomes the baseline).
    """

    def __init__(self, window: int = 50, sigmas: float = 6.0, ratio: float = 2.0, warmup: int = 50, min_seen: int = 20):
        self.window, self.sigmas, self.ratio = int(window), float(sigmas), float(ratio)
        self.warmup, self.min_seen = int(warmup), int(min_seen)
        self.recent: deque[float] = deque(maxlen=self.window)
        self.episode: list[float] = []
        self.seen = 0

    def baseline(self) -> tuple[float, float, float]:
        vals = list(self.recent)
        return statistics.fmean(vals), statistics.pstdev(vals), statistics.median(vals)

    def update(self, loss: float) -> dict[str, float] | None:
        """Feed one step's loss; the spike's statistics when a new episode starts, else None."""
        self.seen += 1
        ready = self.seen > self.warmup and len(self.recent) >= self.min_seen
        if not ready:
            if math.isfinite(loss):
                self.recent.append(loss)
            return None
        mean, std, median = self.baseline()
        bar = max(mean + self.sigmas * std, self.ratio * median)
        spiking = not math.isfinite(loss) or loss > bar
        if not spiking:
            self.episode = []
            self.recent.append(loss)
            return None
        started = not self.episode
        self.episode.append(loss)
        if len(self.episode) >= self.window:  # a lasting new level: it is the baseline now
            self.recent.extend(x for x in self.episode if math.isfinite(x))
            self.episode = []
        if started:
            return {"loss": loss, "mean": mean, "std": std, "median": median, "window": len(self.recent)}
        return None


def _tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def summary_writer(log_dir: Path, purge_step: int | None):
    """A TensorBoard writer (torch's), or None when the ``tensorboard`` package is absent."""
    if not _tensorboard_available():
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - a broken install must not stop training
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:  # a 0-d tensor
        return float(value)
    except (TypeError, ValueError):
        return None


def _json_number(value: float) -> Any:
    """JSON has no NaN/Inf: they are written as strings ``"nan"``, ``"inf"``."""
    return value if math.isfinite(value) else str(value)


def tag_of(key: str) -> str:
    """TensorBoard tag of a step line's key."""
    if key == "loss":
        return "loss/total"
    if key in HEALTH_KEYS:
        return f"health/{key}"
    if key in ("lr", "ema_momentum", "grad_norm"):
        return f"train/{key}"
    if key in ("samples_per_s", "step_seconds", "data_wait"):
        return f"perf/{key}"
    return f"loss/{key}"


def grad_norm_of(model: Any) -> float | None:
    """The global L2 norm of ``model``'s current gradients (None when it has none)."""
    import torch

    params = model.trainable_parameters() if hasattr(model, "trainable_parameters") else model.parameters()
    norms = [p.grad.detach().float().norm() for p in params if getattr(p, "grad", None) is not None]
    if not norms:
        return None
    return float(torch.stack(norms).norm())


def ema_momentum_of(model: Any) -> float | None:
    target = getattr(model, "target", None)
    m = getattr(target, "current_momentum", None)
    return float(m) if isinstance(m, (int, float)) else None


def _end_status(exc: BaseException | None) -> str:
    if exc is None:
        return "finished"
    from .errors import TrainingCollapsed, TrainingDiverged

    if isinstance(exc, TrainingDiverged):
        return "diverged"
    if isinstance(exc, TrainingCollapsed):
        return "collapsed"
    return "interrupted"


class MetricsLogger:
    """The scalar log of one run (rank 0 only; a disabled logger does nothing).

    ``MetricsLogger(out, start, batch_size)`` at run start (``start``: the resumed step,
    0 for a new run: the file is then started afresh), ``log(rec, model, grad_norm)``
    once per step with the loop's history record, ``close()`` at the end (from a
    ``finally``: an exception in flight names the end status).
    """

    def __init__(
        self, out: str | os.PathLike, start: int = 0, batch_size: int | None = None, enabled: bool = True,
        tensorboard: bool | None = None, spikes: SpikeDetector | None = None, speak: bool = True,
    ):
        self.out, self.start, self.batch_size = Path(out), int(start), batch_size
        self.enabled, self.speak = bool(enabled), bool(speak)
        self.spikes = spikes if spikes is not None else SpikeDetector()
        self.path = self.out / METRICS_FILE
        self.last_step, self.closed = self.start, False
        self.file = None
        self.writer = None
        if not self.enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        kept = []
        if self.start > 0:
            kept = [x for x in read_metrics(self.path) if int(x.get("step", 0)) <= self.start and x.get("event") != "end"]
            for x in steps_of(kept):  # the detector picks up where the killed run was
                loss = _number(x.get("loss"))
                if loss is not None:
                    self.spikes.update(loss)
        tmp = self.path.with_name(METRICS_FILE + ".tmp")
        tmp.write_text("".join(json.dumps(x) + "\n" for x in kept))
        os.replace(tmp, self.path)
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._write({"event": "start", "step": self.start, "time": time.time(), "pid": os.getpid(), "host": socket.gethostname()})
        if tensorboard is None or tensorboard:
            self.writer = summary_writer(self.out / TENSORBOARD_DIR, self.start + 1 if self.start > 0 else None)

    def _write(self, obj: Mapping[str, Any]) -> None:
        self.file.write(json.dumps(obj) + "\n")
        self.file.flush()

    def line(self, rec: Mapping[str, Any], model: Any = None, grad_norm: Any = None) -> dict[str, Any]:
        """The step line of the history record ``rec``."""
        out: dict[str, Any] = {"step": int(rec["step"]), "time": time.time()}
        for key, value in rec.items():
            if key in ("step", "seconds"):
                continue
            v = _number(value)
            if v is not None:
                out[key] = value if isinstance(value, bool) else _json_number(v)
        momentum = ema_momentum_of(model) if model is not None else None
        if momentum is not None:
            out["ema_momentum"] = momentum
        gn = _number(grad_norm) if grad_norm is not None else (grad_norm_of(model) if model is not None else None)
        if gn is not None:
            out["grad_norm"] = _json_number(gn)
        seconds = _number(rec.get("seconds"))
        if seconds is not None:
            out["step_seconds"] = seconds
            if self.batch_size and seconds > 0:
                out["samples_per_s"] = self.batch_size / seconds
        return out

    def log(self, rec: Mapping[str, Any], model: Any = None, grad_norm: Any = None) -> dict[str, Any] | None:
        """Append the step's scalars; warn (once per episode) on a loss spike."""
        if not self.enabled or self.closed:
            return None
        out = self.line(rec, model, grad_norm)
        self.last_step = out["step"]
        loss = _number(rec.get("loss"))
        spike = self.spikes.update(loss) if loss is not None else None
        if spike is not None:
            out["loss_spike"] = True
        self._write(out)
        if spike is not None:
            self._write({"event": "loss_spike", "step": out["step"], **{k: _json_number(float(v)) for k, v in spike.items()}})
            if self.speak:
                warnings.warn(
                    f"loss spike at step {out['step']}: {spike['loss']:.4g} against {spike['mean']:.4g} ± {spike['std']:.2g} "
                    f"(median {spike['median']:.4g}) over the last {int(spike['window'])} steps",
                    LossSpikeWarning, stacklevel=2,
                )
        if self.writer is not None:
            for key, value in out.items():
                if key in ("step", "time", "loss_spike"):
                    continue
                v = _number(value) if not isinstance(value, str) else float(value)
                self.writer.add_scalar(tag_of(key), v, out["step"])
        return out

    def event(self, kind: str, step: int | None = None, **info: Any) -> None:
        """Append an event line (``{"event": kind, "step": ..., ...}``)."""
        if not self.enabled or self.closed:
            return
        self._write({"event": kind, "step": self.last_step if step is None else int(step), "time": time.time(), **info})

    def close(self, exc: BaseException | None = None) -> None:
        """Write the ``end`` event and close. Called from a ``finally`` without ``exc``, the
        exception in flight (if any) names the status; ``exc`` may also be passed."""
        if not self.enabled or self.closed:
            return
        if exc is None:
            exc = sys.exc_info()[1]
        info: dict[str, Any] = {"status": _end_status(exc)}
        if exc is not None:
            msg = str(exc).split("\n")[0]
            info["error"] = (f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__)[:500]
        self.event("end", **info)
        self.closed = True
        self.file.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


__all__ = ["METRICS_FILE", "LossSpikeWarning", "MetricsLogger", "SpikeDetector", "read_metrics", "steps_of"]
