"""Readers: CSV / Parquet files and DataFrames (pandas), ``.npy`` arrays read row by row.

Small and medium tables are read whole by pandas (the table itself, no tokens). Large
numeric tables stored as ``.npy`` are never loaded: :class:`NpyRows` reads single rows
and row blocks with ``os.pread`` from the file, so the process's resident memory does not
grow with the row count (a memory map would count every touched page as resident).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from jepakit.kit import DataError

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".gz", ".bz2", ".zip", ".xz"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.tsv``, compressed) or Parquet file into a DataFrame."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a folder; give a .csv, .parquet or .npy file")
    suffixes = {s.lower() for s in p.suffixes}
    try:
        if suffixes & PARQUET_SUFFIXES:
            frame = pd.read_parquet(p)
        elif suffixes & CSV_SUFFIXES:
            # python engine sniffs the separator (comma, tab, semicolon)
            sep = "\t" if ".tsv" in suffixes else None
            frame = pd.read_csv(p, sep=sep, engine="python" if sep is None else "c")
        else:
            raise DataError(f"{p}: unknown table format {p.suffix!r}; use .csv, .tsv, .parquet or .npy")
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: the table is empty") from None
    except Exception as exc:  # parser errors of pandas/pyarrow: one line naming the file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{p}: cannot read table: {first}") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{p}: the table is empty ({frame.shape[0]} rows, {frame.shape[1]} columns)")
    frame.columns = [str(c) for c in frame.columns]
    return frame


class ArrayRows:
    """Row access to an in-memory 2-D numeric array (the interface of :class:`NpyRows`)."""

    def __init__(self, array: np.ndarray):
        if array.ndim != 2:
            raise DataError(f"array: expected a 2-D table (rows, columns), got shape {array.shape}")
        self.array = array
        self.shape = array.shape

    def row(self, i: int) -> np.ndarray:
        return np.asarray(self.array[i], dtype=np.float32)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[np.sort(idx)], dtype=np.float32)

    def blocks(self, size: int = 65536) -> Iterator[np.ndarray]:
        for s in range(0, self.shape[0], size):
            yield np.asarray(self.array[s : s + size], dtype=np.float32)


class NpyRows:
    """Row access to a C-ordered 2-D ``.npy`` file through ``os.pread``.

    Picklable (DataLoader workers reopen the file lazily per process).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        try:
            with open(self.path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(fh)
                self.offset = fh.tell()
        except Exception as exc:
            raise DataError(f"{self.path}: not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if len(shape) != 2:
            raise DataError(f"{self.path}: expected a 2-D table (rows, columns), got shape {shape}")
        if fortran:
            raise DataError(f"{self.path}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        if dtype.kind not in "fiub":
            raise DataError(f"{self.path}: dtype {dtype} is not numeric")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        if os.path.getsize(self.path) < expected:
            raise DataError(f"{self.path}: file is truncated ({os.path.getsize(self.path)} of {expected} bytes)")
        self._fd: int | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fd"], state["_pid"] = None, None
        return state

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def _read(self, start: int, count: int) -> np.ndarray:
        buf = os.pread(self._file(), count * self.row_bytes, self.offset + start * self.row_bytes)
        return np.frombuffer(buf, dtype=self.dtype).reshape(count, self.shape[1])

    def row(self, i: int) -> np.ndarray:
        return self._read(int(i), 1)[0].astype(np.float32)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([self.row(i) for i in np.sort(idx)]) if len(idx) else np.zeros((0, self.shape[1]), np.float32)

    def blocks(self, size: int = 65536) -> Iterator[np.ndarray]:
        for s in range(0, self.shape[0], size):
            yield self._read(s, min(size, self.shape[0] - s)).astype(np.float32)

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass
