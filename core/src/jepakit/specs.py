"""Value specs of the config schema: a type and a range per key, torch-free.

Each :class:`Spec` checks and normalises one value (an integral float becomes an integer,
a numeric string a number) and says in words what it accepts; :mod:`jepakit.sections`
declares the core sections' keys with them and :mod:`jepakit.schema` validates configs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

# the code's own lists, repeated here so that validating a config imports no torch
# (tests/faults/test_inputs.py checks that they agree)
RECIPES = ("jepa", "lejepa")
SIGREG_ON = ("pooled", "positions", "pooled+positions")
POOL_STATS = ("mean", "std", "max", "flat")
POS = ("sincos", "learned", "none")
HEADS = ("linear", "knn", "mlp")


class Bad(Exception):
    """A value a spec refuses (turned into a :class:`ConfigError` naming the key)."""


class Spec:
    """Checks and normalises one value; ``allowed`` says what it accepts, in words."""

    allowed = "any value"

    def __call__(self, value: Any) -> Any:
        return value

    def refusal(self, key: str, value: Any) -> str:
        return f"{key} must be {self.allowed}, got {_show(value)}"


def _number(value: Any) -> float | int:
    """``value`` as an int or float (numpy scalars and numeric strings too), else :class:`Bad`."""
    if isinstance(value, bool):
        raise Bad
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                pass
    raise Bad


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return ""


def _in_range(v: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (v < lo or (lo_open and v == lo)):
        return False
    return not (hi is not None and (v > hi or (hi_open and v == hi)))


class Int(Spec):
    def __init__(self, lo: int | None = None, hi: int | None = None):
        self.lo, self.hi = lo, hi
        self.allowed = f"an integer {_bounds(lo, hi, False, False)}".rstrip()

    def __call__(self, value: Any) -> int:
        v = _number(value)
        if isinstance(v, float):
            if not math.isfinite(v) or v != int(v):
                raise Bad
            v = int(v)
        if not _in_range(v, self.lo, self.hi, False, False):
            raise Bad
        return int(v)


class Float(Spec):
    def __init__(self, lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.allowed = f"a finite number {_bounds(lo, hi, lo_open, hi_open)}".rstrip()

    def __call__(self, value: Any) -> float | int:
        v = _number(value)
        if not math.isfinite(v) or not _in_range(v, self.lo, self.hi, self.lo_open, self.hi_open):
            raise Bad
        return v


class Bool(Spec):
    allowed = "true or false"

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Bad
        return value


class Str(Spec):
    allowed = "a string"

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise Bad
        return value


class Choice(Spec):
    def __init__(self, *values: str):
        self.values = values
        self.allowed = "one of " + ", ".join(values)

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise Bad
        return value


class Named(Choice):
    """A choice among named things (recipes): refused as ``unknown recipe 'x'``."""

    def __init__(self, kind: str, *values: str):
        super().__init__(*values)
        self.kind = kind

    def refusal(self, key: str, value: Any) -> str:
        return f"unknown {self.kind} {_show(value)} ({key}); valid: {', '.join(self.values)}"


class Maybe(Spec):
    """``null`` or what ``spec`` accepts."""

    def __init__(self, spec: Spec, meaning: str = ""):
        self.spec = spec
        self.allowed = f"null{f' ({meaning})' if meaning else ''} or {spec.allowed}"

    def __call__(self, value: Any) -> Any:
        return None if value is None else self.spec(value)


class ListOf(Spec):
    """A non-empty list of what ``item`` accepts; ``single``: a lone item is a list of one."""

    def __init__(self, item: Spec, single: bool = False, unique: bool = False):
        self.item, self.single, self.unique = item, single, unique
        self.allowed = f"a non-empty list{' of distinct values' if unique else ''}, each {item.allowed}"

    def __call__(self, value: Any) -> list[Any]:
        if self.single and isinstance(value, str):
            value = [value]
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
            raise Bad
        out = [self.item(v) for v in value]
        if self.unique and len({repr(v) for v in out}) != len(out):
            raise Bad
        return out


class Warmup(Spec):
    allowed = "a fraction of train.steps in [0, 1) or a whole number of steps >= 0"

    def __init__(self, of: str = "train.steps"):
        self.allowed = f"a fraction of {of} in [0, 1) or a whole number of steps >= 0"

    def __call__(self, value: Any) -> float | int:
        v = _number(value)
        if not math.isfinite(v) or v < 0:
            raise Bad
        if isinstance(v, float) and v < 1:
            return v
        if v != int(v):
            raise Bad
        return int(v)


class Pool(Spec):
    allowed = f"tokens, or statistics joined by '+' from {', '.join(POOL_STATS)} (e.g. mean+std)"

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Bad
        if value == "tokens":
            return value
        stats = [s.strip() for s in value.split("+")]
        if any(s not in POOL_STATS for s in stats) or len(set(stats)) != len(stats):
            raise Bad
        return value


class Fraction(Float):
    def __init__(self):
        super().__init__(0.0, 1.0, lo_open=True)


NAME = Maybe(Str(), "none chosen")


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
