"""The domain loader and ``prepare``: any source -> prepared arrays -> window datasets.

Real data (WFDB folders, PTB-XL, NumPy files) are decoded and conditioned once into a
prepared store (:mod:`jepakit.prepared`, memory-mapped); training then cuts random crops
from it and evaluation cuts sliding windows whose embeddings the core averages per
record (``group_key="record"``). The synthetic default data live in an in-memory store
with the same interface.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jepakit.contract import DataBundle, Task
from jepakit.errors import ConfigError, DataError
from jepakit.prepared import MemoryStore, PreparedStore, WindowDataset, write_prepared

from .io import SUPERCLASSES, iter_source, source_kind
from .leads import LEADS
from .preprocess import Preprocess, condition
from .synthetic import synth_record

# ---------------------------------------------------------------------------- prepare


def _preprocess(rate: int, highpass: float | None, lowpass: float | None, standardize: str, patch_ms: float) -> Preprocess:
    try:
        return Preprocess(int(rate), highpass, lowpass, standardize, float(patch_ms))
    except ValueError as exc:  # option values checked by Preprocess
        raise ConfigError(f"ecg data: {exc}") from None


def _attrs(pre: Preprocess, kind: str, source: str) -> dict[str, Any]:
    return {
        "domain": "ecg", "kind": kind, "source": source, "rate": pre.rate, "leads": list(LEADS),
        "classes": list(SUPERCLASSES) if kind in ("ptbxl", "synthetic") else None,
        "preprocess": {"highpass": pre.highpass, "lowpass": pre.lowpass, "standardize": pre.standardize, "patch_ms": pre.patch_ms},
    }


def prepare(
    src: str | os.PathLike, out: str | os.PathLike, rate: int = 500, highpass: float | None = 0.5,
    lowpass: float | None = None, standardize: str = "lead", patch_ms: float = 50.0, source_rate: int | None = None,
    fs: float | None = None,
) -> Path:
    """Decode and condition every record of ``src`` (WFDB record or folder, PTB-XL
    folder, .npy/.npz) once into the prepared store ``out``; returns ``out``.
    Unreadable records are reported and skipped."""
    pre = _preprocess(rate, highpass, lowpass, standardize, patch_ms)
    kind, items = iter_source(src, pre, source_rate, fs)
    return write_prepared(out, items, _attrs(pre, kind, str(src)))


def _cache_dir(src: Path, pre: Preprocess, source_rate: int | None, cache: str | None) -> Path:
    """Where a raw source's prepared copy lives: keyed by its path, modification time
    and the preprocessing, so a change in either prepares afresh."""
    root = Path(cache) if cache else Path(os.environ.get("JEPAKIT_CACHE", Path.home() / ".cache" / "jepakit")) / "ecg"
    stamp = src.stat().st_mtime_ns
    key = json.dumps([str(src.resolve()), stamp, pre.__dict__, source_rate], sort_keys=True, default=str)
    return root / f"{src.name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def open_store(
    path: str | os.PathLike, pre: Preprocess, source_rate: int | None = None, fs: float | None = None, cache: str | None = None
) -> PreparedStore:
    """A prepared store for ``path``: itself when it is one, else a cached preparation."""
    p = Path(path)
    if source_kind(p) == "prepared":
        store = PreparedStore(p)
        if store.attrs.get("domain") not in (None, "ecg") or int(store.attrs.get("rate", pre.rate)) != pre.rate:
            raise DataError(
                f"{p}: prepared at {store.attrs.get('rate')} Hz, the model runs at {pre.rate} Hz; "
                f"prepare it again with rate={pre.rate} or set data.rate={store.attrs.get('rate')}"
            )
        return store
    target = _cache_dir(p, pre, source_rate, cache)
    if not (target / "index.json").exists():
        kind, items = iter_source(p, pre, source_rate, fs)
        write_prepared(target, items, _attrs(pre, kind, str(p)))
    return PreparedStore(target)


def synthetic_store(pre: Preprocess, counts: Sequence[int], seconds: float, seed: int) -> MemoryStore:
    """Synthetic records conditioned like real ones; ``counts`` = (pretrain, train,
    test) record numbers, told apart by ``meta['split']``."""
    fs = float(max(pre.rate, 200))  # high enough to carry powerline and muscle noise

    def items():
        for split, n in zip(("pretrain", "train", "test"), counts):
            rng = np.random.default_rng([seed, ("pretrain", "train", "test").index(split)])
            for i in range(int(n)):
                sig, y, af = synth_record(rng, seconds, fs)
                x, present = condition(sig, fs, LEADS, pre, f"synthetic {split} {i}")
                yield x, {"name": f"synthetic-{split}-{i}", "present": present.tolist(), "fs": fs,
                          "label": y.tolist(), "fold": None, "split": split, "af": af}

    return MemoryStore(items(), _attrs(pre, "synthetic", "synthetic"), channels=len(LEADS))


# ------------------------------------------------------------------------------- load


def _splits(store: Any, test_fold: int, val_fold: int, seed: int) -> tuple[list[int], list[int], list[int]]:
    """Pretraining, labelled-train and test record ids of a store."""
    metas = [store.meta(i) for i in range(len(store))]
    if any("split" in m for m in metas):
        by = {s: [i for i, m in enumerate(metas) if m.get("split") == s] for s in ("pretrain", "train", "test")}
        return by["pretrain"] + by["train"], by["train"], by["test"]
    folds = [m.get("fold") for m in metas]
    labelled = [i for i, m in enumerate(metas) if m.get("label") is not None]
    if all(f is not None for f in folds):
        # PTB-XL's recommended split: folds 1-8 train, 9 validation, 10 test
        pre_ids = [i for i in range(len(metas)) if folds[i] != test_fold]
        train = [i for i in labelled if folds[i] not in (test_fold, val_fold)]
        test = [i for i in labelled if folds[i] == test_fold]
        return pre_ids, train, test
    if not labelled:
        return list(range(len(metas))), [], []
    order = np.random.default_rng(seed).permutation(labelled)
    cut = int(round(0.8 * len(order)))
    train, test = sorted(order[:cut].tolist()), sorted(order[cut:].tolist())
    return [i for i in range(len(metas)) if i not in set(test)], train, test


def _long_enough(store: Any, ids: list[int], length: int) -> list[int]:
    short = [i for i in ids if store.length(i) < length]
    for i in short:
        name = store.meta(i).get("name", i)
        warnings.warn(f"skipping {name}: {store.length(i)} samples, shorter than one crop of {length}", stacklevel=3)
    return [i for i in ids if store.length(i) >= length]


def load(
    path: str | None = None,
    rate: int = 500,
    crop: float = 10.0,
    stride: float | None = None,
    highpass: float | None = 0.5,
    lowpass: float | None = None,
    standardize: str = "lead",
    patch_ms: float = 50.0,
    source_rate: int | None = None,
    fs: float | None = None,
    cache: str | None = None,
    test_fold: int = 10,
    val_fold: int = 9,
    records: Sequence[int] = (1200, 600, 300),
    seconds: float = 10.0,
    seed: int = 0,
) -> DataBundle:
    """ECG data for jepakit: ``path`` None = synthetic 12-lead records, else a WFDB
    record or folder, a PTB-XL folder, a prepared store or a .npy/.npz file. ``crop``
    and ``stride`` are in seconds (``stride`` of evaluation windows; default crop/2)."""
    pre = _preprocess(rate, highpass, lowpass, standardize, patch_ms)
    length = int(round(crop * pre.rate))
    if length < pre.patch:
        raise ConfigError(f"data.crop {crop} s is shorter than one {pre.patch_ms:g} ms token")
    if length % pre.patch:
        raise ConfigError(f"data.crop {crop} s = {length} samples is not a multiple of the {pre.patch}-sample token")
    step = max(1, int(round((stride if stride is not None else crop / 2) * pre.rate)))
    if path is None:
        if len(records) != 3:
            raise ConfigError(f"data.records must be (pretrain, train, test) counts, got {records}")
        store: Any = synthetic_store(pre, records, seconds, seed)
        source = f"synthetic 12-lead ECG ({records[0]}+{records[1]}+{records[2]} records of {seconds:g} s)"
    else:
        store = open_store(path, pre, source_rate, fs, cache)
        source = str(path)
    pre_ids, train, test = _splits(store, test_fold, val_fold, seed)
    pre_ids = _long_enough(store, pre_ids, length)
    train, test = _long_enough(store, train, length), _long_enough(store, test, length)
    if not pre_ids:
        longest = max((store.length(i) for i in range(len(store))), default=0) / pre.rate
        raise DataError(f"{source}: every record is shorter than one crop of {crop:g} s (longest {longest:.1f} s)")
    pretrain = WindowDataset(store, length, random=True, records=pre_ids, fields=("present",))
    tasks: dict[str, Task] = {}
    classes = store.attrs.get("classes")
    if train and test:
        k = len(store.meta(train[0])["label"])
        classes = classes if classes and len(classes) == k else [f"class{j}" for j in range(k)]
        tasks["superclass" if classes == list(SUPERCLASSES) else "labels"] = Task(
            WindowDataset(store, length, stride=step, records=train, fields=("label", "present")),
            WindowDataset(store, length, stride=step, records=test, fields=("label", "present")),
            "multilabel", classes, group_key="record",
            description="multi-label macro AUC per record, embeddings averaged over sliding windows",
        )
    info = {"in_chans": len(LEADS), "length": length, "patch": pre.patch, "rate": pre.rate, "leads": list(LEADS)}
    describe = f"{source}: {len(pre_ids)} pretraining records, {len(train)}/{len(test)} labelled train/test, {crop:g} s crops at {pre.rate} Hz"
    return DataBundle(pretrain, info, tasks, None, describe)
