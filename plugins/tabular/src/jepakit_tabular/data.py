"""The tabular domain's loader: a table (file, DataFrame, array or a bundled sklearn
table) -> fitted schema, streamed row datasets, a labelled task and the column
dependence matrix for correlated masking."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jepakit import DataBundle, DataError, Task

from .dataset import TableDataset
from .dependence import mutual_information
from .io import ArrayRows, NpyRows, read_frame
from .schema import (
    Schema,
    _infer_task,
    _is_missing,
    _sorted_classes,
    category_key,
    encode_frame,
    fit_array_schema,
    fit_schema,
    normalise_task,
    notice,
    target_parse,
    target_view,
    to_numeric,
)
from .synthetic import sklearn_table


def _split(labels: np.ndarray, ok: np.ndarray, task: str, test_fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Train/test rows among the labelled rows, stratified by class where possible."""
    from sklearn.model_selection import train_test_split

    rows = np.flatnonzero(ok)
    if len(rows) < 4:
        raise DataError(f"{source}: only {len(rows)} labelled rows; need at least 4 to hold out a test set")
    strat = None
    if task == "multiclass":
        counts = np.bincount(labels[rows])
        if counts[counts > 0].min() >= 2 and int(round(test_fraction * len(rows))) >= int((counts > 0).sum()):
            strat = labels[rows]
    train, test = train_test_split(rows, test_size=test_fraction, random_state=seed, stratify=strat)
    return np.sort(train), np.sort(test)


def _names(x: Any) -> list[str]:
    if x is None:
        return []
    return [s.strip() for s in x.split(",")] if isinstance(x, str) else [str(s) for s in x]


def _target_index(target: Any, names: list[str], source: str) -> int | None:
    if target is None:
        return None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not 0 <= int(target) < len(names):
            raise DataError(f"{source}: target column index {target} is out of range (0..{len(names) - 1})")
        return int(target)
    if str(target) not in names:
        raise DataError(f"{source}: no target column {target!r} (columns: {', '.join(names[:20])})")
    return names.index(str(target))


def load(
    path: str | os.PathLike | pd.DataFrame | np.ndarray | None = None,
    table: str = "breast_cancer",
    target: str | int | None = None,
    task: str | None = None,
    categorical: str | Iterable[str] | None = None,
    numeric: str | Iterable[str] | None = None,
    drop: str | Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
    dependence: bool = True,
    dependence_rows: int = 1000,
    state: Mapping[str, Any] | None = None,
) -> DataBundle:
    """Load a table for pretraining and benchmarking.

    ``path``: a ``.csv``/``.tsv``/``.parquet`` file, a 2-D numeric ``.npy`` file (read row
    by row, never loaded), a DataFrame or a 2-D array; None = the bundled sklearn table
    ``table`` (breast_cancer, wine, digits, diabetes). ``target``: label column (name, or
    index for arrays); ``task``: classification | regression (inferred otherwise);
    ``categorical`` / ``numeric`` / ``drop``: column names (list or comma-separated) that
    override type inference or are ignored; ``columns``: names for array columns.
    The schema is fitted on the pretraining rows (all rows but the held-out test rows)
    and, with the columns' dependence, is the bundle's ``state``; ``state`` (what the
    core saved with a checkpoint or export) reuses that schema instead.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"data.test_fraction must be in (0, 1), got {test_fraction}")
    saved = Schema.from_dict(state["schema"]) if state and "schema" in state else None
    task = normalise_task(task)
    if path is None:
        frame, default_target, default_task = sklearn_table(table)
        target = default_target if target is None else target
        task = task or (default_task if target == default_target else None)
        source, task_name = f"sklearn:{table}", table
    elif isinstance(path, pd.DataFrame) or (hasattr(path, "to_pandas") and not isinstance(path, np.ndarray)):
        # a pandas DataFrame, or a table that converts to one (pyarrow, polars)
        frame = path.copy() if isinstance(path, pd.DataFrame) else path.to_pandas()
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{type(path).__name__}.to_pandas() gave a {type(frame).__name__}, not a DataFrame")
        source, task_name = type(path).__name__, None
        frame.columns = [str(c) for c in frame.columns]
        dup = frame.columns[frame.columns.duplicated()]
        if len(dup):
            raise DataError(f"{source}: column name {dup[0]!r} occurs more than once; rename the columns")
    elif not isinstance(path, (str, os.PathLike, np.ndarray)):
        raise DataError(
            f"data: a {type(path).__name__} is not a table; give a .csv/.parquet/.npy path, a pandas DataFrame or a 2-D array"
        )
    elif isinstance(path, np.ndarray) or str(path).lower().endswith(".npy"):
        return _load_array(path, target, task, categorical, columns, test_fraction, seed, dependence, dependence_rows, saved)
    else:
        frame, source, task_name = read_frame(path), str(path), None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{source}: the table is empty ({frame.shape[0]} rows, {frame.shape[1]} columns)")
    if target is not None:
        target = str(target)
        if target not in frame.columns:
            raise DataError(f"{source}: no target column {target!r} (columns: {', '.join(map(str, frame.columns[:20]))})")
    labels = ok = classes = None
    train = test = None
    pretrain_rows: np.ndarray | None = None
    yparse = None
    if target is not None:
        # a text target of numbers ("3,750", "?") is read as numbers, as in the schema
        yparse = saved.target_parse if saved is not None else target_parse(frame[target])
        y = target_view(frame[target], yparse, source)
        ok = ~_is_missing(y)
        if saved is not None:
            task = saved.task
        task = task or _infer_task(y[ok])
        if task == "multiclass":
            classes = saved.classes if saved is not None else _sorted_classes(y[ok].tolist())
            if len(classes) < 2:
                raise DataError(f"{source}: target column {target!r} has a single class ({classes[0]!r}); nothing to classify")
            lookup = {c: i for i, c in enumerate(classes)}
            labels = np.array([lookup.get(category_key(v), -1) if m else -1 for v, m in zip(y.tolist(), ok)], dtype=np.int64)
            ok = labels >= 0
        else:
            labels = to_numeric(y, source).astype(np.float32)
            ok = ~np.isnan(labels)
        if (~ok).any():
            notice(f"{source}: {int((~ok).sum())} rows without a usable target are used for pretraining only")
        train, test = _split(labels, ok, task, float(test_fraction), int(seed), source)
        pretrain_rows = np.setdiff1d(np.arange(len(frame)), test)
    if saved is None:
        fit_rows = frame if pretrain_rows is None else frame.iloc[pretrain_rows]
        # entries read as missing are counted over all rows by encode_frame below
        schema = fit_schema(fit_rows, target, task, categorical, numeric, drop, source, report=False)
        if classes is not None:
            schema.classes = classes  # classes seen only in the test rows still need an index
        schema.target_parse = yparse
    else:
        schema = saved
        known = {*schema.columns, *(d["name"] for d in schema.dropped), target, *_names(drop)}
        extra = [str(c) for c in frame.columns if c not in known]
        if extra:
            shown = ", ".join(repr(c) for c in extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
            notice(f"{source}: {len(extra)} columns not in the pretrained schema are ignored: {shown}")
    num, cat = encode_frame(frame, schema, source)
    rows = ArrayRows(num)
    return _bundle(rows, cat, schema, None, labels, train, test, pretrain_rows, source, task_name or schema.target,
                   dependence, dependence_rows, seed, saved, state)


def _load_array(
    path: Any, target: Any, task: str | None, categorical: Any, columns: Iterable[str] | None, test_fraction: float,
    seed: int, dependence: bool, dependence_rows: int, saved: Schema | None,
) -> DataBundle:
    if categorical:
        raise DataError("categorical columns are not supported for numeric arrays (.npy); use CSV or Parquet")
    if isinstance(path, np.ndarray):
        arr = path
        if arr.dtype.kind not in "fiub":
            raise DataError(f"array: dtype {arr.dtype} is not numeric; use a DataFrame for mixed columns")
        rows, source = ArrayRows(arr), "array"
    else:
        if not Path(path).exists():
            raise DataError(f"{path}: no such file")
        rows, source = NpyRows(path), str(path)
    n, k = rows.shape
    if n == 0 or k == 0:
        raise DataError(f"{source}: the table is empty ({n} rows, {k} columns)")
    names = [str(c) for c in columns] if columns is not None else [f"c{j}" for j in range(k)]
    if len(names) != k:
        raise DataError(f"{source}: {len(names)} column names for {k} columns")
    t_idx = _target_index(target, names, source)
    if saved is not None:
        schema = saved
        kept = [names.index(c["name"]) for c in schema.numeric]
    else:
        schema, kept = fit_array_schema(rows.blocks(), names, t_idx, source)
    labels = train = test = pretrain_rows = None
    if t_idx is not None:
        y = np.concatenate([b[:, t_idx] for b in rows.blocks()]).astype(np.float64)
        y[~np.isfinite(y)] = np.nan
        ok = ~np.isnan(y)
        task = (saved.task if saved is not None else None) or task or _infer_task(pd.Series(y[ok]))
        if task == "multiclass":
            classes = saved.classes if saved is not None else _sorted_classes(y[ok].tolist())
            if len(classes) < 2:
                raise DataError(f"{source}: target column {names[t_idx]!r} has a single class; nothing to classify")
            lookup = {c: i for i, c in enumerate(classes)}
            labels = np.array([lookup.get(category_key(v), -1) if o else -1 for v, o in zip(y, ok)], dtype=np.int64)
            ok = labels >= 0
            schema.classes = classes
        else:
            labels = y.astype(np.float32)
        schema.target, schema.task = names[t_idx], task
        train, test = _split(labels, ok, task, float(test_fraction), int(seed), source)
        pretrain_rows = np.setdiff1d(np.arange(n), test)
    cat = np.zeros((n, 0), dtype=np.int64)  # no categorical columns: zero bytes
    return _bundle(rows, cat, schema, np.asarray(kept), labels, train, test, pretrain_rows, source, schema.target,
                   dependence, dependence_rows, seed, saved, None)


def _bundle(
    rows: Any, cat: np.ndarray, schema: Schema, cols: np.ndarray | None, labels: np.ndarray | None,
    train: np.ndarray | None, test: np.ndarray | None, pretrain_rows: np.ndarray | None, source: str, task_name: str | None,
    dependence: bool, dependence_rows: int, seed: int, saved: Schema | None, state: Mapping[str, Any] | None,
) -> DataBundle:
    if cols is not None and len(cols) == rows.shape[1] and np.array_equal(cols, np.arange(rows.shape[1])):
        cols = None
    pretrain = TableDataset(rows, cat, schema, pretrain_rows, None, cols)
    dep = None
    if state and state.get("dependence") is not None:
        dep = state["dependence"]
    elif dependence and schema.num_columns >= 2:
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(pretrain), size=min(len(pretrain), int(dependence_rows)), replace=False))
        items = [pretrain[int(i)] for i in pick]
        num = np.stack([it["num"].numpy() for it in items])
        cats = np.stack([it["cat"].numpy() for it in items])
        dep = np.round(mutual_information(num, cats), 6).tolist()
    tasks: dict[str, Task] = {}
    if labels is not None:
        kind = "multiclass" if schema.task == "multiclass" else "regression"
        tasks[str(task_name)] = Task(
            TableDataset(rows, cat, schema, train, labels, cols),
            TableDataset(rows, cat, schema, test, labels, cols),
            kind,
            classes=schema.classes if kind == "multiclass" else None,
            description=f"predict {schema.target!r} ({kind}) from {schema.num_columns} columns",
        )
    info = {"schema": schema.to_dict(), "num_columns": schema.num_columns, "dependence": dep}
    dropped = f", {len(schema.dropped)} dropped" if schema.dropped else ""
    tgt = ""
    if schema.target is not None:
        tgt = f"; target {schema.target!r} ({schema.task}{f', {len(schema.classes)} classes' if schema.classes else ''})"
    describe = (
        f"{source}: {len(pretrain)} pretraining rows, {len(schema.numeric)} numeric + {len(schema.categorical)} "
        f"categorical columns{dropped}{tgt}"
    )
    fitted = {"schema": info["schema"], "dependence": dep}  # what a checkpoint must hand back
    return DataBundle(pretrain=pretrain, info=info, tasks=tasks, describe=describe, state=fitted)
