"""Progress for long work: a tqdm bar on a terminal, a few plain lines in a log.

tqdm redraws its bar with carriage returns; written to a file or a CI log that is one
line of hundreds of overwrites. Off a terminal, :func:`progress` prints a plain line at
every ``log_every`` share of the work (10 %) instead, postfix included.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any


class LogProgress:
    """The part of tqdm's interface jepakit uses, as plain lines on a stream."""

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None, initial: int = 0,
                 desc: str = "", unit: str = "it", log_every: float = 0.1, file: IO[str] | None = None, **_: Any):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.desc, self.unit = total, int(initial), desc, unit
        self.file = file or sys.stderr
        self.every = max(1, int((total or 0) * log_every)) if total else 0
        self.postfix: dict[str, Any] = {}
        self.began = time.perf_counter()
        self.last_logged = self.n

    def set_postfix(self, values: dict[str, Any] | None = None, refresh: bool = True, **kw: Any) -> None:
        self.postfix = {**(values or {}), **kw}

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.began
        of = f"/{self.total}" if self.total else ""
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc}: {self.n}{of} {self.unit} ({elapsed:.0f} s{extra})", file=self.file, flush=True)
        self.last_logged = self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.every and (self.n - self.last_logged >= self.every or self.n == self.total):
            self._line()

    def close(self) -> None:
        if self.n != self.last_logged:
            self._line()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """tqdm on a terminal (``sys.stderr.isatty()``), :class:`LogProgress` elsewhere."""
    stream = kwargs.get("file") or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    return LogProgress(iterable, **kwargs)


__all__ = ["LogProgress", "progress"]
