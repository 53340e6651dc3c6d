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

Real files are read as their writer meant them, and every coercion is reported in one
line (:func:`notice`): text columns of numbers with a few junk entries (``?``,
``unknown``), thousands separators (``3,750``), decimal commas (``3,75``) or currency and
percent signs are numeric (junk -> missing); date columns are numeric as days since
1970-01-01; text columns with a different value in every row (identifiers) and integer
row numbers are dropped. How a column was parsed is part of its schema entry
(``"parse"``), so a checkpoint re-reads the same file the same way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jepakit.kit import DataError

SCHEMA_VERSION = 1
MISSING, UNKNOWN, FIRST_CATEGORY = 0, 1, 2
# text that means "no value" in a numeric column (compared lower-case, stripped); pandas
# already reads "", "NA", "N/A", "null", "NaN", "None" as missing when it reads a CSV
NA_TOKENS = frozenset({
    "?", "??", "???", "-", "--", "---", ".", "..", "na", "n/a", "n.a.", "n.a", "nan", "null", "none", "nil", "missing",
    "unknown", "unk", "undefined", "not available", "not applicable", "#n/a", "#na", "#value!", "#div/0!", "#ref!",
    "#num!", "#null!", "<na>", "nat",
})
# a text column is numeric when at least this share of its values are numbers and the
# other entries are NA-like tokens, or at most JUNK_SHARE of it is other text
NUMERIC_SHARE, JUNK_SHARE = 0.5, 0.05
# identifier detection needs this many values (a short table can have all-distinct levels)
MIN_ID_ROWS = 20
EPOCH = "1970-01-01"
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_DECIMAL_COMMA = r"[+-]?\d*,\d+"
_EURO = r"[+-]?\d{1,3}(?:\.\d{3})+,\d+|[+-]?\d{1,3}(?:\.\d{3}){2,}"
_UNIT_PREFIX = r"^([+-]?)\s*[$€£¥]\s*"
_UNIT_SUFFIX = r"\s*%$"
_ISO_DATE = r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
_YMD_SLASH = r"\d{4}/\d{1,2}/\d{1,2}"
_DMY = r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})"
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
    target_parse: dict[str, Any] | None = None  # how a text target of numbers is parsed

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
        keys = ("numeric", "categorical", "target", "task", "classes", "dropped", "version", "target_parse")
        known = {k: d[k] for k in keys if k in d}
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


def _is_text(series: pd.Series) -> bool:
    """Text or mixed values (object / string dtype): the columns whose type is guessed."""
    dt = series.dtype
    return not (
        pd.api.types.is_bool_dtype(dt) or pd.api.types.is_numeric_dtype(dt) or isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt)
    )


def _is_missing(series: pd.Series) -> np.ndarray:
    miss = np.asarray(series.isna().to_numpy(), dtype=bool).copy()
    if _is_text(series):
        miss |= series.map(lambda v: isinstance(v, str) and v.strip() == "").to_numpy(dtype=bool)
    return miss


def _strings(series: pd.Series) -> pd.Series:
    return series.map(lambda v: str(v).strip()).astype(object)


def _parse_strings(values: pd.Series, parse: dict[str, Any] | None) -> np.ndarray:
    """Numbers in stripped strings by a column's ``parse`` spec (``thousands``,
    ``decimal``, ``units``); NaN where a value is no number."""
    parse = parse or {}
    s = values.astype(object)
    if parse.get("units"):
        s = s.str.replace(_UNIT_PREFIX, r"\1", regex=True).str.replace(_UNIT_SUFFIX, "", regex=True)
    if parse.get("decimal") == ",":
        euro = s.str.fullmatch(_EURO).fillna(False).astype(bool)
        s = s.where(~euro, s.str.replace(".", "", regex=False))
        comma = s.str.fullmatch(_DECIMAL_COMMA).fillna(False).astype(bool)
        s = s.where(~comma, s.str.replace(",", ".", regex=False))
    elif parse.get("thousands") == ",":
        grouped = s.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
        s = s.where(~grouped, s.str.replace(",", "", regex=False))
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _days(series: pd.Series, parse: dict[str, Any]) -> np.ndarray:
    """Dates as days since 1970-01-01 (UTC), durations as days; NaN where unparseable."""
    if pd.api.types.is_timedelta64_dtype(series.dtype) or "duration" in parse:
        td = pd.to_timedelta(series, errors="coerce")
        return (td / pd.Timedelta(days=1)).to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        dt = pd.to_datetime(series, utc=True)
    else:
        fmt = parse.get("date") if parse.get("date") not in (None, "native") else "ISO8601"
        dt = pd.to_datetime(_strings(series), format=fmt, errors="coerce", utc=True)
    return ((dt - pd.Timestamp(EPOCH, tz="UTC")) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64, na_value=np.nan)


def _count(n: int, what: str) -> str:
    return f"{int(n)} {what}{'' if int(n) == 1 else 's'}"


def _tokens(values: Iterable[Any], limit: int = 3) -> str:
    counts = pd.Series([str(v).strip() for v in values], dtype=object).value_counts()
    shown = ", ".join(f"{k!r} x{v}" if v > 1 else repr(k) for k, v in counts.head(limit).items())
    return shown + (f" and {len(counts) - limit} more" if len(counts) > limit else "")


def numeric_values(series: pd.Series, parse: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(float64 values, junk mask, infinite mask)`` of a column read by its ``parse``
    spec: NaN for missing, for entries that are no number (junk) and for infinities."""
    parse = parse or {}
    miss = _is_missing(series)
    if "date" in parse or "duration" in parse or pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(series.dtype):
        values = _days(series, parse)
    elif pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype(float).to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.full(len(series), np.nan)
        if (~miss).any():
            present = _strings(series[~miss])
            uniq = pd.Series(pd.unique(present.to_numpy(dtype=object)), dtype=object)
            parsed = _parse_strings(uniq, parse)
            values[~miss] = parsed[pd.Index(uniq).get_indexer(present)]
    values = np.array(values, dtype=np.float64, copy=True)
    inf = np.isinf(values)
    values[inf] = np.nan
    junk = np.isnan(values) & ~miss & ~inf
    return values, junk, inf


def _not_numeric(series: pd.Series, junk: np.ndarray, source: str) -> DataError:
    pos = int(np.flatnonzero(junk)[0])
    return DataError(
        f"{source}: column {series.name!r} is numeric but row {series.index[pos]} holds {series.iloc[pos]!r} "
        f"({int(junk.sum())} unparseable values); declare it categorical or fix the data"
    )


def to_numeric(series: pd.Series, source: str, parse: dict[str, Any] | None = None, report: bool = True) -> np.ndarray:
    """A column as float64 with NaN for missing, read by its ``parse`` spec. Entries that
    are no number and infinite values count as missing, reported in one line each
    (``report``); a column without a single number is a DataError."""
    values, junk, inf = numeric_values(series, parse)
    if junk.any() and not (~np.isnan(values) | inf).any():
        raise _not_numeric(series, junk, source)
    if report and junk.any():
        what = "dates" if parse and ("date" in parse or "duration" in parse) else "numbers"
        notice(f"{source}: column {series.name!r}: {_count(junk.sum(), 'value')} that are not {what} read as missing "
               f"({_tokens(series[junk].tolist())})")
    if report and inf.any():
        notice(f"{source}: column {series.name!r}: {_count(inf.sum(), 'infinite value')} read as missing")
    return values


def _guess_parse(values: pd.Series) -> dict[str, Any]:
    """The number format of distinct stripped strings: thousands separators, decimal
    commas, currency / percent signs."""
    parse: dict[str, Any] = {}
    units = values.str.contains(r"^[+-]?\s*[$€£¥]", regex=True) | values.str.contains(_UNIT_SUFFIX, regex=True)
    if units.any():
        parse["units"] = "".join(sorted({c for v in values[units] for c in str(v) if c in "$€£¥%"}))
        values = values.str.replace(_UNIT_PREFIX, r"\1", regex=True).str.replace(_UNIT_SUFFIX, "", regex=True)
    comma = values[values.str.contains(",", regex=False)]
    if len(comma):
        if comma.str.fullmatch(_THOUSANDS).all():
            parse["thousands"] = ","
        elif (comma.str.fullmatch(_DECIMAL_COMMA) | comma.str.fullmatch(_EURO)).all():
            parse["decimal"] = ","
    return parse


def _detect_numeric(series: pd.Series, miss: np.ndarray, strict: bool = False) -> dict[str, Any] | None:
    """The ``parse`` spec of a text column that holds numbers, or None. Numbers with
    leading zeros (``007``, ``02139``) are codes, not numbers. ``strict``: every entry
    that is no number must be an NA-like token (for targets)."""
    present = _strings(series[~miss])
    if not len(present):
        return None
    counts = present.value_counts()
    uniq = pd.Series(counts.index.to_numpy(dtype=object), dtype=object)
    if uniq.str.fullmatch(r"[+-]?0\d+").any():
        return None
    parse = _guess_parse(uniq)
    ok = ~np.isnan(_parse_strings(uniq, parse))
    n = int(counts.sum())
    n_ok = int(counts.to_numpy()[ok].sum())
    if n_ok == 0 or n_ok < NUMERIC_SHARE * n:
        return None
    bad = ~ok & ~uniq.str.lower().isin(NA_TOKENS).to_numpy()
    n_bad = int(counts.to_numpy()[bad].sum())
    if n_bad and (strict or n_bad > JUNK_SHARE * n):
        return None
    return parse


def _detect_date(series: pd.Series, miss: np.ndarray) -> str | None:
    """The date format of a text column of dates (ISO, ``y/m/d``, ``d/m/y`` or ``m/d/y``
    told apart by a field above 12), or None."""
    present = _strings(series[~miss])
    if not len(present):
        return None
    uniq = pd.Series(pd.unique(present.to_numpy(dtype=object)), dtype=object)
    uniq = uniq[~uniq.str.lower().isin(NA_TOKENS)].reset_index(drop=True)  # "?" among dates is a gap
    if not len(uniq):
        return None
    iso, ymd = uniq.str.fullmatch(_ISO_DATE), uniq.str.fullmatch(_YMD_SLASH)
    parts = uniq.str.extract(f"^{_DMY}$")
    dmy = parts[0].notna()
    fmt = None
    if iso.mean() >= 1 - JUNK_SHARE:
        fmt = "ISO8601"
    elif ymd.mean() >= 1 - JUNK_SHARE:
        fmt = "%Y/%m/%d"
    elif dmy.mean() >= 1 - JUNK_SHARE:
        sep = parts[1][dmy].mode().iloc[0]
        year = "%Y" if parts[3][dmy].str.len().max() == 4 else "%y"
        if sep == "." and year == "%y":  # 1.2.10 is a version number more often than a date
            return None
        first = parts[0][dmy].astype(int)
        fmt = f"%d{sep}%m{sep}{year}" if (first > 12).any() else f"%m{sep}%d{sep}{year}"
    if fmt is None:
        return None
    ok = pd.to_datetime(uniq, format=fmt, errors="coerce", utc=True).notna().to_numpy()
    return fmt if ok.mean() >= 1 - JUNK_SHARE else None


def _example(series: pd.Series, miss: np.ndarray, parse: dict[str, Any]) -> str:
    """``'3,750' = 3750``: the first value whose text the parse spec changes."""
    head = pd.Series(pd.unique(_strings(series[~miss]).head(200).to_numpy(dtype=object)), dtype=object)
    for v, x in zip(head, _parse_strings(head, parse)):
        if not np.isnan(x) and v != f"{x:g}" and v != repr(x):
            return f"; e.g. {v!r} = {x:g}"
    return ""


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


def target_parse(y: pd.Series) -> dict[str, Any] | None:
    """The parse spec of a text target that holds numbers (NA-like tokens allowed, no
    other text), or None: ``"3,750"`` is the number 3750, not a class of its own."""
    return _detect_numeric(y, _is_missing(y), strict=True) if _is_text(y) else None


def target_view(y: pd.Series, parse: dict[str, Any] | None, source: str = "table", report: bool = True) -> pd.Series:
    """The target as read: numbers (float, NaN = missing) when ``parse`` is given."""
    if parse is None:
        return y
    return pd.Series(to_numeric(y, source, parse, report), index=y.index, name=y.name)


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
    report: bool = True,
) -> Schema:
    """Fit a :class:`Schema` on ``frame`` (the training rows).

    Column types are inferred unless named in ``categorical`` / ``numeric``: numeric
    dtype -> numeric; text that holds numbers (a few junk entries, thousands separators,
    decimal commas, currency/percent signs) -> numeric; dates and datetimes -> numeric
    days since 1970-01-01; anything else -> categorical. Constant and all-missing columns,
    text identifiers (a different value in every row) and integer row numbers are
    dropped. Each such decision is a one-line :class:`TabularNotice`; ``report`` adds the
    count of entries read as missing (the loader reports them over all rows instead). The
    target's task is inferred (non-numeric or integer with <= 20 values -> classification)
    unless ``task`` is given.
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
        schema.target_parse = target_parse(frame[target])
        y = target_view(frame[target], schema.target_parse, source, report=False)
        task = normalise_task(task) or _infer_task(y[~_is_missing(y)])
        present = y[~_is_missing(y)]
        if len(present) == 0:
            raise DataError(f"{source}: target column {target!r} has no values")
        if task == "multiclass":
            classes = _sorted_classes(present.tolist())
            if len(classes) < 2:
                raise DataError(f"{source}: target column {target!r} has a single class ({classes[0]!r}); nothing to classify")
            schema.classes = classes
        else:
            yv = to_numeric(y, source, report=False)
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
        kind, parse = _column_kind(col, miss, name in cat_names, name in num_names, source)
        if kind == "drop":
            schema.dropped.append({"name": str(name), "reason": parse["reason"]})
            continue
        is_cat = kind == "categorical"
        if is_cat:
            vocab = sorted({category_key(v) for v in col[~miss].tolist()})
            if len(vocab) == 1 and not miss.any():
                schema.dropped.append({"name": str(name), "reason": "constant"})
                notice(f"{source}: dropped constant column {name!r}")
                continue
            schema.categorical.append({"name": str(name), "vocab": vocab})
        else:
            values = to_numeric(col, source, parse, report)
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
            entry = {
                "name": str(name), "mean": float(np.nanmean(values)), "std": std if std > 0 else 1.0,
                "missing": float(np.isnan(values).mean()),
            }
            if parse:
                entry["parse"] = parse
            schema.numeric.append(entry)
    if schema.num_columns == 0:
        raise DataError(f"{source}: no usable feature columns (all dropped or only the target)")
    return schema


def _column_kind(
    col: pd.Series, miss: np.ndarray, declared_cat: bool, declared_num: bool, source: str,
) -> tuple[str, dict[str, Any] | None]:
    """``("numeric", parse spec or None)``, ``("categorical", None)`` or ``("drop",
    {"reason"})`` for a feature column, with a one-line notice for every reading that is
    not the plain one."""
    name = col.name
    if declared_cat:
        return "categorical", None
    dt = col.dtype
    if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        what = "durations read as days" if pd.api.types.is_timedelta64_dtype(dt) else f"dates read as days since {EPOCH}"
        notice(f"{source}: column {name!r}: {what}")
        return "numeric", {"duration": True} if pd.api.types.is_timedelta64_dtype(dt) else {"date": "native"}
    if pd.api.types.is_bool_dtype(dt) or isinstance(dt, pd.CategoricalDtype):
        return ("numeric", None) if declared_num else ("categorical", None)
    if pd.api.types.is_numeric_dtype(dt):
        if not declared_num and _row_numbers(col, miss):
            v = col.to_numpy(dtype=np.float64)
            notice(f"{source}: dropped column {name!r}: row numbers ({v.min():g}..{v.max():g}), an index; "
                   "name it in data.numeric to keep it")
            return "drop", {"reason": "row numbers"}
        return "numeric", None
    parse = _detect_numeric(col, miss)
    if parse is not None:
        parts = []
        if parse.get("thousands"):
            parts.append(f"{parse['thousands']!r} as thousands separator")
        if parse.get("decimal"):
            parts.append("decimal commas")
        if parse.get("units"):
            parts.append(f"{' '.join(repr(c) for c in parse['units'])} signs stripped")
        clean = not np.isnan(_parse_strings(_strings(col[~miss]), parse)).any()
        if parts or clean:
            # a clean column of numbers stored as text is worth one line too; junk
            # entries get their own line with their count (to_numeric)
            notice(f"{source}: column {name!r} read as numbers ({', '.join(parts) or 'stored as text'}"
                   f"{_example(col, miss, parse)})")
        return "numeric", parse
    fmt = _detect_date(col, miss)
    if fmt is not None:
        notice(f"{source}: column {name!r}: dates read as days since {EPOCH} (format {fmt})")
        return "numeric", {"date": fmt}
    if declared_num:
        _, junk, _ = numeric_values(col, None)
        raise _not_numeric(col, junk, source)
    n = int((~miss).sum())
    if n >= MIN_ID_ROWS:
        keys = {category_key(v) for v in col[~miss].tolist()}
        if len(keys) == n:
            notice(f"{source}: dropped column {name!r}: a different value in every row ({n} values, e.g. "
                   f"{str(col[~miss].iloc[0])!r}), an identifier; name it in data.categorical to keep it")
            return "drop", {"reason": "identifier"}
    return "categorical", None


def _row_numbers(col: pd.Series, miss: np.ndarray) -> bool:
    """An integer column that counts the rows from 0 or 1 (a saved pandas index, a row
    number): no gaps, and value - row position is 0 everywhere or 1 everywhere. (A year
    per row, 1950, 1951, ..., is a feature and stays.)"""
    if miss.any() or len(col) < MIN_ID_ROWS or pd.api.types.is_bool_dtype(col.dtype):
        return False
    v = col.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
        return False
    idx = col.index
    pos = idx.to_numpy(dtype=np.float64) if pd.api.types.is_integer_dtype(idx.dtype) else np.arange(len(col), dtype=np.float64)
    d = v - pos
    return bool(d[0] in (0.0, 1.0) and np.all(d == d[0]))


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


def encode_frame(
    frame: pd.DataFrame, schema: Schema | dict, source: str = "table", report: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Encode rows with a fitted schema: ``(numeric float32 (N, n_num) with NaN = missing,
    categorical int64 codes (N, n_cat))``. Numeric columns are read by their ``parse``
    spec; entries that are no number become missing and unseen categories code 1
    (unknown), each counted in a one-line notice (``report``)."""
    schema = Schema.from_dict(schema)
    missing_cols = [c for c in schema.columns if c not in frame.columns]
    if missing_cols:
        raise DataError(f"{source}: column {missing_cols[0]!r} of the schema is missing ({len(missing_cols)} missing)")
    n = frame.shape[0]
    num = np.empty((n, len(schema.numeric)), dtype=np.float32)
    for j, c in enumerate(schema.numeric):
        num[:, j] = to_numeric(frame[c["name"]], source, c.get("parse"), report)
    cat = np.empty((n, len(schema.categorical)), dtype=np.int64)
    for j, c in enumerate(schema.categorical):
        lookup = {v: FIRST_CATEGORY + i for i, v in enumerate(c["vocab"])}
        col = frame[c["name"]]
        miss = _is_missing(col)
        keys = [category_key(v) for v in col.tolist()]
        codes = np.array([UNKNOWN if m else lookup.get(k, UNKNOWN) for k, m in zip(keys, miss)], dtype=np.int64)
        codes[miss] = MISSING
        unseen = codes == UNKNOWN
        if report and unseen.any():
            notice(f"{source}: column {c['name']!r}: {_count(unseen.sum(), 'value')} not seen when the schema was fitted "
                   f"(pretraining rows) encoded as unknown ({_tokens(np.asarray(keys, dtype=object)[unseen])})")
        cat[:, j] = codes
    return num, cat
