"""Embedded default data and generated tables.

The default benchmark tables are the ones scikit-learn ships inside the package
(``load_breast_cancer``, ``load_wine``, ``load_digits``, ``load_diabetes``: no download).
:func:`write_generated` streams a large table of correlated column groups to ``.npy``
chunk by chunk (for the memory test: the generator never holds the table either).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from jepakit.kit import DataError

TABLES = {
    # name: (sklearn loader, task)
    "breast_cancer": ("load_breast_cancer", "multiclass"),
    "wine": ("load_wine", "multiclass"),
    "digits": ("load_digits", "multiclass"),
    "diabetes": ("load_diabetes", "regression"),
}


def sklearn_table(name: str) -> tuple[pd.DataFrame, str, str]:
    """``(frame with a 'target' column, target name, task)`` of a bundled sklearn table."""
    if name not in TABLES:
        raise DataError(f"unknown default table {name!r}; valid: {', '.join(TABLES)}")
    import sklearn.datasets as skd

    loader, task = TABLES[name]
    bunch = getattr(skd, loader)(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame, "target", task


def planted_frame(rows: int = 400, groups: int = 3, per_group: int = 4, seed: int = 0) -> pd.DataFrame:
    """A table of ``groups`` blocks of ``per_group`` columns; columns of one block are
    noisy copies of one latent factor, blocks are independent (columns ``g{i}_{j}``)."""
    rng = np.random.default_rng(seed)
    cols = {}
    for g in range(groups):
        z = rng.standard_normal(rows)
        for j in range(per_group):
            cols[f"g{g}_{j}"] = (1.0 + 0.5 * j) * z + 0.3 * rng.standard_normal(rows)
    return pd.DataFrame(cols)


def write_generated(path: str | os.PathLike, rows: int, cols: int = 50, factors: int = 5, seed: int = 0, chunk: int = 50_000) -> Path:
    """Write a ``rows x cols`` float32 ``.npy`` table of ``factors`` correlated column groups,
    chunk by chunk, without ever holding it in memory."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    loadings = rng.uniform(0.5, 2.0, cols)
    owner = np.arange(cols) % factors
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (rows, cols)})
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            z = rng.standard_normal((n, factors))
            block = z[:, owner] * loadings + 0.5 * rng.standard_normal((n, cols))
            fh.write(block.astype("<f4").tobytes())
    return path
