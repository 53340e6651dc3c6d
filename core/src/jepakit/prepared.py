"""Prepared arrays: decode a dataset once into memory-mapped arrays, read windows fast.

Decoding a physiological file format every epoch costs far more than training wants
to wait for. :func:`write_prepared` stores records of shape ``(C, T_i)`` (same channel
count, any length) back to back in one ``signals.f32`` file, with an ``index.json``
holding offsets, lengths, per-record metadata and the store's attributes.
:class:`PreparedStore` maps it read-only; :class:`WindowDataset` cuts it into
fixed-length windows (random crops for pretraining, a regular grid for evaluation)
without copying the store into memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DataError

FORMAT_VERSION = 1
DTYPES = {"float32": np.float32, "float16": np.float16}


def write_prepared(
    out: str | os.PathLike,
    records: Iterable[tuple[np.ndarray, dict[str, Any]]],
    attrs: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> Path:
    """Write ``(array (C, T), metadata)`` pairs to the folder ``out``; return its path.

    Metadata must be JSON-serialisable (labels, record names, flags). The write is
    atomic: a crash leaves no half-written ``index.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np_dtype = DTYPES[dtype]
    index: list[dict[str, Any]] = []
    channels = None
    offset = 0
    data_tmp = out / "signals.f32.tmp"
    with open(data_tmp, "wb") as fh:
        for array, meta in records:
            a = np.asarray(array)
            if a.ndim != 2:
                raise DataError(f"prepared records must be (channels, time); got shape {a.shape} for {meta}")
            if channels is None:
                channels = a.shape[0]
            elif a.shape[0] != channels:
                raise DataError(f"record {meta} has {a.shape[0]} channels, the store has {channels}")
            # stored time-major so that a window is one contiguous slice
            np.ascontiguousarray(a.T, dtype=np_dtype).tofile(fh)
            index.append({"offset": offset, "length": int(a.shape[1]), "meta": meta})
            offset += int(a.shape[1])
    if channels is None:
        data_tmp.unlink(missing_ok=True)
        raise DataError(f"nothing to prepare into {out}: no record was readable")
    os.replace(data_tmp, out / "signals.f32")
    head = {"version": FORMAT_VERSION, "dtype": dtype, "channels": channels, "total": offset, "attrs": attrs or {}, "records": index}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(head))
    os.replace(tmp, out / "index.json")
    return out


class _Records:
    """The reading interface shared by stores: ``len``, ``meta``, ``length``, ``read``."""

    records: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.records)

    def meta(self, i: int) -> dict[str, Any]:
        return self.records[i]["meta"]

    def length(self, i: int) -> int:
        return self.records[i]["length"]

    def _check(self, i: int, start: int, length: int | None) -> int:
        length = self.length(i) - start if length is None else length
        if start < 0 or start + length > self.length(i):
            raise DataError(f"window [{start}, {start + length}) is outside record {i} of length {self.length(i)}")
        return length


class PreparedStore(_Records):
    """Read-only view of a prepared folder."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        index = self.path / "index.json"
        if not index.exists():
            raise DataError(f"{self.path} is not a prepared store (no index.json); run `jepakit prepare` first")
        head = json.loads(index.read_text())
        self.attrs: dict[str, Any] = head["attrs"]
        self.records: list[dict[str, Any]] = head["records"]
        self.channels: int = head["channels"]
        total = head["total"]
        dtype = DTYPES[head.get("dtype", "float32")]
        self._data = np.memmap(self.path / "signals.f32", dtype=dtype, mode="r", shape=(total, self.channels))

    def read(self, i: int, start: int = 0, length: int | None = None) -> np.ndarray:
        """Samples ``[start, start + length)`` of record ``i`` as a (C, length) float32 array."""
        length = self._check(i, start, length)
        a = self.records[i]["offset"] + start
        return np.asarray(self._data[a : a + length], dtype=np.float32).T


class MemoryStore(_Records):
    """Records held in memory (embedded synthetic data, small sets) behind the same
    interface as :class:`PreparedStore`, so one :class:`WindowDataset` serves both."""

    def __init__(self, items: Iterable[tuple[np.ndarray, dict[str, Any]]], attrs: dict[str, Any] | None = None, channels: int = 0):
        self.arrays: list[np.ndarray] = []
        self.records = []
        for x, meta in items:
            self.arrays.append(np.ascontiguousarray(x, dtype=np.float32))
            self.records.append({"length": int(x.shape[1]), "meta": meta})
        self.attrs = attrs or {}
        self.channels = self.arrays[0].shape[0] if self.arrays else channels

    def read(self, i: int, start: int = 0, length: int | None = None) -> np.ndarray:
        length = self._check(i, start, length)
        return self.arrays[i][:, start : start + length]


class WindowDataset(Dataset):
    """Fixed-length windows of a :class:`PreparedStore` or :class:`MemoryStore` as batch dicts.

    ``random=True`` draws one random crop per record per item (pretraining);
    otherwise every record is cut at ``stride`` into windows (evaluation), and each item
    carries ``record`` (its record index) so evaluations can average per record.
    ``fields`` copies metadata keys into each item (e.g. ``label``); ``transform`` maps
    the ``(C, length)`` array before it is wrapped.
    """

    def __init__(
        self,
        store: PreparedStore,
        length: int,
        stride: int | None = None,
        random: bool = False,
        records: Sequence[int] | None = None,
        fields: Sequence[str] = (),
        key: str = "signal",
        transform: Any = None,
    ):
        self.store, self.length, self.random = store, int(length), random
        self.key, self.fields, self.transform = key, tuple(fields), transform
        self.records = list(range(len(store))) if records is None else list(records)
        short = [r for r in self.records if store.length(r) < self.length]
        if short:
            raise DataError(
                f"{len(short)} record(s) are shorter than one window of {self.length} samples "
                f"(first: {store.meta(short[0])})"
            )
        if random:
            self.windows = [(r, -1) for r in self.records]
        else:
            stride = int(stride or self.length)
            self.windows = [
                (r, s) for r in self.records for s in range(0, store.length(r) - self.length + 1, stride)
            ]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        r, start = self.windows[i]
        if start < 0:
            # the global RNG: the trainer reseeds it per step, so crops replay on resume
            start = int(np.random.randint(0, self.store.length(r) - self.length + 1))
        x = self.store.read(r, start, self.length)
        if self.transform is not None:
            x = self.transform(x)
        item: dict[str, Any] = {self.key: torch.from_numpy(np.ascontiguousarray(x)), "record": r}
        meta = self.store.meta(r)
        for f in self.fields:
            value = meta[f]
            item[f] = torch.tensor(value) if isinstance(value, (list, float, int)) else value
        return item

    def iter_records(self) -> Iterator[int]:
        return iter(self.records)

    @property
    def ids(self) -> list[str]:
        """One id per item (:mod:`jepakit.export`'s item-id protocol): the record's name
        (metadata ``name``, else ``path``, else its index), then ``#k`` for its ``k``-th
        window; a random crop (one item per record) is the record's name alone."""
        out: list[str] = []
        seen: dict[int, int] = {}
        for r, start in self.windows:
            meta = self.store.meta(r)
            name = str(meta.get("name") or meta.get("path") or r) if isinstance(meta, dict) else str(r)
            if start < 0:
                out.append(name)
            else:
                out.append(f"{name}#{seen.get(r, 0)}")
                seen[r] = seen.get(r, 0) + 1
        return out

    @property
    def labels(self) -> np.ndarray:
        """Every window's ``label`` metadata, read without decoding a signal (the core's
        evaluation uses it instead of iterating items)."""
        return np.asarray([self.store.meta(r)["label"] for r, _ in self.windows])

    @property
    def groups(self) -> np.ndarray:
        """Every window's record index (``Task.group_key="record"``)."""
        return np.asarray([r for r, _ in self.windows], dtype=np.int64)
