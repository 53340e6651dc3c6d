"""Files a reader could not use, told one by one and summed up in the final error.

A folder of recordings where nothing reads must fail with its files' own reasons ("file
is truncated x2; sampling rate below 128 Hz x1"), not a bare "none could be read"; and a
folder where some files fail must say which, as it skips them. Every plugin's reader
keeps one :class:`Failures` per source for that.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from .errors import DataError, notice

_PATH = re.compile(r"[^\s,;()'\"]*[/\\][^\s,;()'\"]*")


def reason_key(message: str, source: str | os.PathLike | None = None) -> str:
    """``message`` without its file: the source prefix dropped, paths and numbers
    generalised, so that two files' failures of one kind count together."""
    if source is not None:
        src = str(source)
        for prefix in (src, str(Path(src).name)):
            if prefix and message.startswith(prefix):
                message = message[len(prefix):].lstrip(" :")
                break
    return re.sub(r"\d+(\.\d+)?", "N", _PATH.sub("FILE", message)).strip()


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


class Failures:
    """``(source, message)`` of every file skipped; :meth:`add` tells each in one line,
    ``<verb> <message>`` (a plugin keeps the wording its users' logs already grep for)."""

    def __init__(self, verb: str = "skipped") -> None:
        self.verb = verb
        self.items: list[tuple[str, str]] = []
        self._reasons: list[str | None] = []  # a reader's own grouping, where it has one

    def __len__(self) -> int:
        return len(self.items)

    def add(self, source: str | os.PathLike, message: str, tell: bool = True, reason: str | None = None) -> None:
        """Record (and tell) one skipped item; ``reason`` groups it with others (default:
        the message without its file and numbers)."""
        self.items.append((str(source), str(message)))
        self._reasons.append(reason)
        if tell:
            notice(f"{self.verb} {message}")

    def counts(self) -> list[tuple[str, int]]:
        """Reasons with their counts, the most frequent first."""
        own = self._reasons + [None] * (len(self.items) - len(self._reasons))  # items set directly
        return Counter(r or reason_key(m, s) for (s, m), r in zip(self.items, own)).most_common()

    def by_reason(self, top: int = 3) -> str:
        """``"reason x2; other reason x1"``."""
        counts = self.counts()
        parts = [f"{_short(r)} x{n}" for r, n in counts[:top]]
        if len(counts) > top:
            parts.append(f"{len(counts) - top} other reason(s)")
        return "; ".join(parts)

    def reasons(self, empty: str = "nothing to read") -> str:
        """The first failure in full, then a count per reason."""
        if not self.items:
            return empty
        first = self.items[0][1]
        if len(self.items) == 1:
            return first
        if len(self.counts()) == 1:
            return f"{first} (the same for all {len(self.items)})"
        return f"{first} (all {len(self.items)}: {self.by_reason()})"

    def error(self, where: str | os.PathLike, total: int, what: str = "files", empty: str = "nothing to read") -> DataError:
        """The one-line error of a source none of whose ``total`` items could be read."""
        return DataError(f"{where}: none of the {total} {what} could be read: {self.reasons(empty)}")


__all__ = ["Failures", "reason_key"]
