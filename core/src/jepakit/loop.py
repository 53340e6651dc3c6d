"""What happens around each pretraining step, as step callbacks.

The training loop (:func:`jepakit.train.pretrain`) only draws the batch, takes the step
and appends its record to the history; everything that watches or keeps the run is a
callback called after each step with a :class:`Step`, in order: the collapse guard
(RankMe into the record), the metrics log, the collapse stop, the progress bar, the
checkpoint cadence and the stop on a signal. A callback that ends the run raises (after
the checkpoint it owes), as the loop did inline.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import errors as errmod
from .errors import TrainingCollapsed


@dataclass
class Step:
    """One finished optimizer step: its number (1-based), its record (what the history
    and the metrics log hold), the gradient norm before clipping (None: not clipped) and
    the seconds it took, data wait excluded."""

    step: int
    rec: dict[str, Any]
    grad_norm: Any = None
    seconds: float = 0.0


Callback = Callable[[Step], None]


class Checkpointer:
    """Rank 0's checkpoints and history file: ``save(step)`` writes the step's checkpoint
    (the cadence, a collapse stop and a signal stop share it); ``every`` steps, every
    ``minutes`` of ``clock`` and at the last step. The clock only picks which steps are
    saved: a step's checkpoint holds the same state whenever it is written, since every
    step's randomness is seeded from the step."""

    def __init__(
        self, out_dir: Path, save: Callable[[int, Path | None], Path], history: list[dict[str, Any]], last: Path | None,
        start: int, steps: int, every: int, minutes: float, clock: Callable[[], float], rank0: bool,
    ):
        self.out_dir, self._save, self.history, self.last = out_dir, save, history, last
        self.steps, self.every, self.seconds, self.clock, self.rank0 = steps, int(every), 60.0 * float(minutes or 0), clock, rank0
        self.saved_at, self.saved_step = clock(), start

    def save(self, step: int) -> Path | None:
        if self.rank0:
            self.last = self._save(step, self.last)
            self.saved_at, self.saved_step = self.clock(), step
        return self.last

    def write_history(self) -> None:
        if self.rank0:
            (self.out_dir / "history.json").write_text(json.dumps(self.history))

    def __call__(self, s: Step) -> None:
        due = (self.every and s.step % self.every == 0) or s.step == self.steps
        if self.rank0 and (due or (self.seconds > 0 and self.clock() - self.saved_at >= self.seconds)):
            self.save(s.step)


class CollapseStop:
    """``train.stop_on_collapse``: when the guard says stop, the checkpoint of this step,
    the history, and :class:`~jepakit.errors.TrainingCollapsed`."""

    def __init__(self, guard: Any, ckpt: Checkpointer):
        self.guard, self.ckpt = guard, ckpt

    def record(self, s: Step) -> None:
        """RankMe and the spread of the guard's check into the step's record."""
        s.rec.update(self.guard.check(s.step) or {})

    def __call__(self, s: Step) -> None:
        if self.guard.stop:
            last = self.ckpt.save(s.step)
            self.ckpt.write_history()
            raise TrainingCollapsed(f"{self.guard.message.split(';')[0]}; stopped (train.stop_on_collapse), checkpoint {last}")


class ProgressLine:
    """The progress bar's postfix: loss, samples/s, mean data wait, RankMe when measured."""

    def __init__(self, bar: Any, batch_size: int, start: int, waited: Callable[[], float]):
        self.bar, self.bs, self.start, self.waited = bar, batch_size, start, waited

    def __call__(self, s: Step) -> None:
        post = {"loss": f"{s.rec['loss']:.4f}", "samples/s": f"{self.bs / max(s.seconds, 1e-9):.1f}",
                "data wait": f"{1e3 * self.waited() / (s.step - self.start):.0f}ms"}
        if "rankme" in s.rec:
            post["rankme"] = f"{s.rec['rankme']:.1f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)


class SignalStop:
    """SIGINT/SIGTERM: stop at this step boundary with a checkpoint of it (rank 0; every
    rank stops at the same step under torchrun) and the resume command."""

    def __init__(self, hold: Any, ckpt: Checkpointer, steps: int, distributed: bool, device: torch.device, hint: Callable[[], str]):
        self.hold, self.ckpt, self.steps, self.distributed, self.device, self.hint = hold, ckpt, steps, distributed, device, hint

    def __call__(self, s: Step) -> None:
        if s.step >= self.steps or not self.hold.stop_requested(self.distributed, self.device):
            return
        if self.ckpt.rank0:
            if self.ckpt.saved_step != s.step:
                self.ckpt.save(s.step)
            self.ckpt.write_history()
        if self.distributed:
            torch.distributed.barrier()  # no rank leaves before rank 0's checkpoint is complete
        where = self.ckpt.last if self.ckpt.rank0 else f"in {self.ckpt.out_dir} (rank 0)"
        raise errmod.TrainingInterrupted(
            f"stopped by {signal.Signals(self.hold.signum).name} after step {s.step}; checkpoint {where}; {self.hint()}",
            128 + int(self.hold.signum),
        )


__all__ = ["Callback", "Checkpointer", "CollapseStop", "ProgressLine", "SignalStop", "Step"]
