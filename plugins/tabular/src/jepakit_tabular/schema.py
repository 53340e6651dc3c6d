"""The fitted schema of a table: column types, category vocabularies, scaling statistics.

The schema is fitted once on the training rows and is plain JSON (``Schema.to_dict``), so
it travels in ``DataBundle.info`` into the checkpoint's config; embedding new rows later
with :func:`encode_frame` and the saved schema reproduces the training encoding exactly.

Encoding conventions (shared with :mod:`jepakit_tabular.tokenizer`):

* numeric columns stay raw ``float32`` with ``NaN`` for a missing value; the dataset
  standardises them per row with the schema's mean/std and passes a missing flag, so the
  tokenizer uses its learned per-column "missing" embedding instead of a filled-in mean;
* categorical columns become ``int`` codes: 0 = missing, 1 = unknown (a category not seen
  when the schema was fitted), 2 + k = the k-th vocabulary entry.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jepakit.errors import DataError

SCHEMA_VERSION = 1
MISSING, UNKNOWN, FIRST_CATEGORY = 0, 1, 2
# integer targets with at most this many distinct values are read as class labels
MAX_INFERRED_CLASSES = 20
TASK_ALIASES = {
    "classification": "multiclass",
    "multiclass": "multiclass",
    "classify": "multiclass",
    "regression": "regression",
    "regress": "regression",
}


class TabularNotice(UserWarning):
    """A documented, reported handling of the data (a dropped column, dropped rows)."""


def notice(message: str) -> None:
    # an explicit "location" keeps the printed notice to one line (no source line echo)
    warnings.warn_explicit(message, TabularNotice, "jepakit-tabular", 0, module="jepakit_tabular")


@dataclass
class Schema:
    """Column types and fitted encodings of a table (JSON round-trips via to/from_dict)."""

    numeric: list[dict[str, Any]] = field(default_factory=list)  # {"name", "mean", "std", "missing"}
    categorical: list[dict[str, Any]] = field(default_factory=list)  # {"name", "vocab": [str]}
    target: str | None = None
    task: str | None = None  # "multiclass" | "regression" | None (no target)
    classes: list[str] | None = None
    dropped: list[dict[str, str]] = field(default_factory=list)  # {"name", "reason"}
    version: int = SCHEMA_VERSION

    @property
    def columns(self) -> list[str]:
        """Feature names in token order: numeric columns, then categorical ones."""
        return [c["name"] for c in self.numeric] + [c["name"] for c in self.categorical]

    @property
    def num_columns(self) -> int:
        return len(self.numeric) + len(self.categorical)

    @property
    def cardinalities(self) -> list[int]:
        """Rows of each categorical column's embedding table (missing + unknown + vocab)."""
        return [FIRST_CATEGORY + len(c["vocab"]) for c in self.categorical]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Schema | dict[str, Any]) -> Schema:
        if isinstance(d, Schema):
            return d
        if not isinstance(d, dict) or "numeric" not in d or "categorical" not in d:
            raise DataError(f"not a tabular schema: {str(d)[:80]!r}")
        if int(d.get("version", 0)) != SCHEMA_VERSION:
            raise DataError(f"tabular schema version {d.get('version')!r} is not supported (expected {SCHEMA_VERSION})")
        known = {k: d[k] for k in ("numeric", "categorical", "target", "task", "classes", "dropped", "version") if k in d}
        return cls(**known)


# ----------------------------------------------------------------------------- helpers


def category_key(value: Any) -> str:
    """A category's vocabulary key: ``1``, ``1.0`` and ``"1"`` are the same category, so a
    CSV re-read with another dtype still maps to the training codes."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value).strip()


def _is_missing(series: pd.Series) -> np.ndarray:
    miss = series.isna().to_numpy()
    if series.dtype == object:
        miss |= series.map(lambda v: isinstance(v, str) and v.strip() == "").to_numpy(dtype=bool)
    return miss


def to_numeric(series: pd.Series, source: str) -> np.ndarray:
    """A column as float64 with NaN for missing; unparseable strings are a DataError.
    Infinite values count as missing (they cannot be standardised)."""
    if pd.api.types.is_bool_dtype(series):
        values = series.astype(float).to_numpy()
    elif pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        miss = _is_missing(series)
        parsed = pd.to_numeric(series.where(~miss), errors="coerce")
        bad = parsed.isna().to_numpy() & ~miss
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{source}: column {series.name!r} is numeric but row {series.index[pos]} holds {series.iloc[pos]!r} "
                f"({int(bad.sum())} unparseable values); declare it categorical or fix the data"
            )
        values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values.astype(np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _as_list(x: str | Iterable[str] | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [s.strip() for s in x.split(",") if s.strip()]
    return [str(s) for s in x]


def normalise_task(task: str | None) -> str | None:
    if task is None:
        return None
    t = str(task).lower()
    if t not in TASK_ALIASES:
        raise DataError(f"unknown task type {task!r}; use classification or regression")
    return TASK_ALIASES[t]


def _infer_task(y: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "multiclass"
    v = y.dropna().to_numpy(dtype=np.float64)
    if np.all(np.isfinite(v)) and np.all(v == np.round(v)) and len(np.unique(v)) <= MAX_INFERRED_CLASSES:
        return "multiclass"
    return "regression"


def _sorted_classes(values: Sequence[Any]) -> list[str]:
    keys = sorted({category_key(v) for v in values})
    try:  # numeric class names in numeric order (2 before 10)
        return sorted(keys, key=float)
    except ValueError:
        return keys


# ----------------------------------------------------------------------------- fitting


def fit_schema(
    frame: pd.DataFrame,
    target: str | None = None,
    task: str | None = None,
    categorical: str | Iterable[str] | None = None,
    numeric: str | Iterable[str] | None = None,
    drop: str | Iterable[str] | None = None,
    source: str = "table",
) -> Schema:
    """Fit a :class:`Schema` on ``frame`` (the training rows).

    Column types are inferred (numeric dtype -> numeric, anything else -> categorical)
    unless named in ``categorical`` / ``numeric``. Constant and all-missing columns are
    dropped with a :class:`TabularNotice`. The target's task is inferred (non-numeric or
    integer with <= 20 values -> classification) unless ``task`` is given.
    """
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{source}: the table is empty ({frame.shape[0]} rows, {frame.shape[1]} columns)")
    cat_names, num_names, drop_names = _as_list(categorical), _as_list(numeric), _as_list(drop)
    for name in [*cat_names, *num_names, *drop_names]:
        if name not in frame.columns:
            raise DataError(f"{source}: no column {name!r} (columns: {', '.join(map(str, frame.columns[:20]))})")
    both = set(cat_names) & set(num_names)
    if both:
        raise DataError(f"{source}: column {sorted(both)[0]!r} is declared both numeric and categorical")
    schema = Schema()
    if target is not None:
        if target not in frame.columns:
            raise DataError(f"{source}: no target column {target!r} (columns: {', '.join(map(str, frame.columns[:20]))})")
        y = frame[target]
        task = normalise_task(task) or _infer_task(y)
        present = y[~_is_missing(y)]
        if len(present) == 0:
            raise DataError(f"{source}: target column {target!r} has no values")
        if task == "multiclass":
            classes = _sorted_classes(present.tolist())
            if len(classes) < 2:
                raise DataError(f"{source}: target column {target!r} has a single class ({classes[0]!r}); nothing to classify")
            schema.classes = classes
        else:
            yv = to_numeric(y, source)
            if np.all(np.isnan(yv)):
                raise DataError(f"{source}: target column {target!r} has no numeric values")
            if np.nanstd(yv) == 0:
                raise DataError(f"{source}: regression target {target!r} is constant")
        schema.target, schema.task = str(target), task
    elif task is not None:
        raise DataError(f"{source}: a task type was given but no target column")

    for name in frame.columns:
        if name == target or name in drop_names:
            continue
        col = frame[name]
        miss = _is_missing(col)
        if miss.all():
            schema.dropped.append({"name": str(name), "reason": "all values missing"})
            notice(f"{source}: dropped column {name!r}: all values missing")
            continue
        is_cat = name in cat_names or (
            name not in num_names and (pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col))
        )
        if is_cat:
            vocab = sorted({category_key(v) for v in col[~miss].tolist()})
            if len(vocab) == 1 and not miss.any():
                schema.dropped.append({"name": str(name), "reason": "constant"})
                notice(f"{source}: dropped constant column {name!r}")
                continue
            schema.categorical.append({"name": str(name), "vocab": vocab})
        else:
            values = to_numeric(col, source)
            if np.all(np.isnan(values)):  # only infinities
                schema.dropped.append({"name": str(name), "reason": "all values missing"})
                notice(f"{source}: dropped column {name!r}: no finite values")
                continue
            std = float(np.nanstd(values))
            if std == 0 and not np.isnan(values).any():
                schema.dropped.append({"name": str(name), "reason": "constant"})
                notice(f"{source}: dropped constant column {name!r}")
                continue
            # a constant with gaps keeps only its missingness, so scale 1 avoids 0/0
            schema.numeric.append({
                "name": str(name), "mean": float(np.nanmean(values)), "std": std if std > 0 else 1.0,
                "missing": float(np.isnan(values).mean()),
            })
    if schema.num_columns == 0:
        raise DataError(f"{source}: no usable feature columns (all dropped or only the target)")
    return schema


def fit_array_schema(
    blocks: Iterable[np.ndarray],
    names: Sequence[str],
    target: int | None = None,
    source: str = "array",
) -> tuple[Schema, list[int]]:
    """Fit a numeric-only schema from row blocks of a 2-D array (one streaming pass).

    Returns the schema and the array column index of each kept feature. Used for large
    ``.npy`` tables that are read block by block instead of loaded whole.
    """
    k = len(names)
    count = np.zeros(k)
    total = np.zeros(k)
    total2 = np.zeros(k)
    lo = np.full(k, np.inf)
    hi = np.full(k, -np.inf)
    rows = 0
    for block in blocks:
        b = np.asarray(block, dtype=np.float64)
        b = np.where(np.isfinite(b), b, np.nan)
        ok = ~np.isnan(b)
        rows += b.shape[0]
        count += ok.sum(0)
        # shift by the first block's mean keeps the one-pass variance stable
        if rows == b.shape[0]:
            shift = np.nan_to_num(np.nanmean(np.where(ok, b, np.nan), axis=0)) if ok.any() else np.zeros(k)
        d = np.where(ok, b - shift, 0.0)
        total += d.sum(0)
        total2 += (d * d).sum(0)
        lo = np.fmin(lo, np.nanmin(np.where(ok, b, np.inf), axis=0))
        hi = np.fmax(hi, np.nanmax(np.where(ok, b, -np.inf), axis=0))
    if rows == 0:
        raise DataError(f"{source}: the table is empty (0 rows)")
    schema = Schema()
    kept: list[int] = []
    for j, name in enumerate(names):
        if j == target:
            continue
        if count[j] == 0:
            schema.dropped.append({"name": name, "reason": "all values missing"})
            notice(f"{source}: dropped column {name!r}: all values missing")
            continue
        mean_d = total[j] / count[j]
        var = max(total2[j] / count[j] - mean_d**2, 0.0)
        std = math.sqrt(var)
        if lo[j] == hi[j]:
            if count[j] == rows:
                schema.dropped.append({"name": name, "reason": "constant"})
                notice(f"{source}: dropped constant column {name!r}")
                continue
            std = 1.0
        schema.numeric.append({
            "name": name, "mean": float(mean_d + shift[j]), "std": float(std) if std > 0 else 1.0,
            "missing": float(1.0 - count[j] / rows),
        })
        kept.append(j)
    if not kept:
        raise DataError(f"{source}: no usable feature columns (all dropped or only the target)")
    return schema, kept


# ----------------------------------------------------------------------------- encoding


def encode_frame(frame: pd.DataFrame, schema: Schema | dict, source: str = "table") -> tuple[np.ndarray, np.ndarray]:
    """Encode rows with a fitted schema: ``(numeric float32 (N, n_num) with NaN = missing,
    categorical int64 codes (N, n_cat))``. Unseen categories get code 1 (unknown)."""
    schema = Schema.from_dict(schema)
    missing_cols = [c for c in schema.columns if c not in frame.columns]
    if missing_cols:
        raise DataError(f"{source}: column {missing_cols[0]!r} of the schema is missing ({len(missing_cols)} missing)")
    n = frame.shape[0]
    num = np.empty((n, len(schema.numeric)), dtype=np.float32)
    for j, c in enumerate(schema.numeric):
        num[:, j] = to_numeric(frame[c["name"]], source)
    cat = np.empty((n, len(schema.categorical)), dtype=np.int64)
    for j, c in enumerate(schema.categorical):
        lookup = {v: FIRST_CATEGORY + i for i, v in enumerate(c["vocab"])}
        col = frame[c["name"]]
        miss = _is_missing(col)
        codes = np.array([UNKNOWN if m else lookup.get(category_key(v), UNKNOWN) for v, m in zip(col.tolist(), miss)], dtype=np.int64)
        codes[miss] = MISSING
        cat[:, j] = codes
    return num, cat


def encode_target(frame: pd.DataFrame, schema: Schema, source: str = "table") -> np.ndarray:
    """Labels of the rows: class index (int64, -1 = missing or unseen class) or float
    (NaN = missing) for regression."""
    y = frame[schema.target]
    if schema.task == "multiclass":
        lookup = {v: i for i, v in enumerate(schema.classes or [])}
        miss = _is_missing(y)
        return np.array([-1 if m else lookup.get(category_key(v), -1) for v, m in zip(y.tolist(), miss)], dtype=np.int64)
    return to_numeric(y, source).astype(np.float32)
