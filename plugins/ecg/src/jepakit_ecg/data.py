"""The domain loader and ``prepare``: any source -> prepared arrays -> window datasets.

Real data (WFDB folders, PTB-XL, NumPy files) are decoded and conditioned once into a
prepared store (:mod:`jepakit.prepared`, memory-mapped); training then cuts random crops
from it and evaluation cuts sliding windows whose embeddings the core averages per
record (``group_key="record"``). The synthetic default data live in an in-memory store
with the same interface.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jepakit.contract import DataBundle, Task
from jepakit.errors import JepakitError
from jepakit.kit import ConfigError, DataError, check_options, notice, rename_options
from jepakit.prepared import MemoryStore, PreparedStore, WindowDataset, write_prepared

from .io import SUPERCLASSES, iter_source, source_kind
from .leads import LEADS
from .preprocess import Preprocess, condition
from .presets import RENAMED
from .synthetic import synth_record

# ---------------------------------------------------------------------------- prepare


def _preprocess(
    rate: int, highpass: float | None, lowpass: float | None, normalize: str, patch_ms: float, leads_map: Any = None
) -> Preprocess:
    # Preprocess keeps the field name `standardize`: prepared caches are keyed by its fields
    try:
        return Preprocess(int(rate), highpass, lowpass, normalize, float(patch_ms), leads_map)
    except ValueError as exc:  # option values checked by Preprocess
        raise ConfigError(f"ecg data: {exc}") from None


def _attrs(pre: Preprocess, kind: str, source: str) -> dict[str, Any]:
    return {
        "domain": "ecg", "kind": kind, "source": source, "rate": pre.rate, "leads": list(LEADS),
        "classes": list(SUPERCLASSES) if kind in ("ptbxl", "synthetic") else None,
        "preprocess": {"highpass": pre.highpass, "lowpass": pre.lowpass, "standardize": pre.standardize, "patch_ms": pre.patch_ms,
                       "leads_map": pre.leads_map},
    }


def prepare(src: str | os.PathLike, out: str | os.PathLike, **options: Any) -> Path:
    """``jepakit prepare ecg SRC OUT [--set rate=250 ...]``: the options of
    :func:`prepare_store`, old names (``standardize``) with a one-line notice; an unknown
    option or a bad value is one line."""
    options = rename_options(options, RENAMED, "prepare")
    check_options("ecg prepare", options, [p for p in inspect.signature(prepare_store).parameters if p not in ("src", "out")])
    try:
        return prepare_store(src, out, **options)
    except JepakitError:
        raise
    except ValueError as exc:  # a bad option value (jepakit.errors.check)
        raise ConfigError(f"ecg prepare: {exc}") from None


def prepare_store(
    src: str | os.PathLike, out: str | os.PathLike, rate: int = 500, highpass: float | None = 0.5,
    lowpass: float | None = None, normalize: str = "lead", patch_ms: float = 50.0, source_rate: int | None = None,
    fs: float | None = None, leads_map: dict[str, str | None] | None = None,
) -> Path:
    """Decode and condition every record of ``src`` (WFDB record or folder, PTB-XL
    folder, .npy/.npz) once into the prepared store ``out``; returns ``out``.
    Unreadable records are reported and skipped. ``leads_map`` names the leads of
    channels such as ``ECG1`` (``{ECG1: II, ECG2: -aVR, RESP: none}``)."""
    pre = _preprocess(rate, highpass, lowpass, normalize, patch_ms, leads_map)
    kind, items = iter_source(src, pre, source_rate, fs)
    return write_prepared(out, items, _attrs(pre, kind, str(src)))


def _stamp(src: Path, skip: Path | None = None) -> list[int]:
    """Modification stamp of a file, or of every file under a folder (a record rewritten
    in place leaves the folder's own time unchanged); files under ``skip`` (a cache kept
    inside the data folder) do not count."""
    if not src.is_dir():
        st = src.stat()
        return [st.st_mtime_ns, st.st_size]
    n, latest, size = 0, 0, 0
    inside = skip.resolve() if skip is not None and src.resolve() in skip.resolve().parents else None
    for f in src.rglob("*"):
        if inside is not None and inside in f.resolve().parents:
            continue
        try:
            st = f.stat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        n, latest, size = n + 1, max(latest, st.st_mtime_ns), size + st.st_size
    return [n, latest, size]


def _cache_dir(src: Path, pre: Preprocess, source_rate: int | None, cache: str | None, fs: float | None = None) -> Path:
    """Where a raw source's prepared copy lives: keyed by its path, the modification
    times of its files and the reading options, so a change in either prepares afresh."""
    root = Path(cache) if cache else Path(os.environ.get("JEPAKIT_CACHE", Path.home() / ".cache" / "jepakit")) / "ecg"
    key = json.dumps([str(src.resolve()), _stamp(src, root), pre.__dict__, source_rate, fs], sort_keys=True, default=str)
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
    target = _cache_dir(p, pre, source_rate, cache, fs)
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


def lead_coverage(store: Any, ids: Sequence[int]) -> tuple[str, str | None]:
    """How many of the model's leads the records ``ids`` fill: a phrase for ``describe``
    and, when some leads are zero-filled, a one-line notice (None when all are there)."""
    n = len(ids)
    counts = np.zeros(len(LEADS), dtype=int)
    for i in ids:
        counts += np.asarray(store.meta(i).get("present", [True] * len(LEADS)), dtype=bool)
    full = [LEADS[k] for k in range(len(LEADS)) if n and counts[k] == n]
    never = [LEADS[k] for k in range(len(LEADS)) if counts[k] == 0]
    some = [f"{LEADS[k]} ({counts[k]}/{n})" for k in range(len(LEADS)) if 0 < counts[k] < n]
    text = f"{len(full)} of the model's {len(LEADS)} leads in every record"
    if never or some:
        text += f" ({', '.join(full) or 'none'})"
    if some:
        text += f", in some records: {', '.join(some)}"
    if never:
        text += f", zero-filled: {', '.join(never)}"
    if not (never or some):
        return text, None
    covered = [LEADS[k] for k in range(len(LEADS)) if counts[k]]
    gaps = never + [f"{LEADS[k]} in {n - counts[k]} of {n} records" for k in range(len(LEADS)) if 0 < counts[k] < n]
    message = (
        f"the model takes {len(LEADS)} leads; the records cover {len(covered)} ({', '.join(covered)}), "
        f"zero-filled: {', '.join(gaps)}"
    )
    return text, message


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
    normalize: str = "lead",
    patch_ms: float = 50.0,
    source_rate: int | None = None,
    fs: float | None = None,
    cache: str | None = None,
    leads_map: dict[str, str | None] | None = None,
    test_fold: int = 10,
    val_fold: int = 9,
    records: Sequence[int] = (1200, 600, 300),
    seconds: float = 10.0,
    seed: int = 0,
) -> DataBundle:
    """ECG data for jepakit: ``path`` None = synthetic 12-lead records, else a WFDB
    record or folder, a PTB-XL folder, a prepared store or a .npy/.npz file. ``crop``
    and ``stride`` are in seconds (``stride`` of evaluation windows; default crop/2).
    ``leads_map`` names the leads of channels whose names are not leads (``{ECG1: II}``).
    ``normalize``: ``lead`` (z-score every lead), ``record`` (one scale for all leads) or
    ``none``."""
    pre = _preprocess(rate, highpass, lowpass, normalize, patch_ms, leads_map)
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
    covered, partial = lead_coverage(store, pre_ids)
    if partial:
        notice(f"{source}: {partial}")
    rates = sorted({float(store.meta(i).get("fs") or pre.rate) for i in pre_ids})
    resampled = [r for r in rates if abs(r - pre.rate) > 1e-9]
    from_rates = f" (resampled from {', '.join(f'{r:g}' for r in rates)} Hz)" if resampled else ""
    describe = (
        f"{source}: {len(pre_ids)} pretraining records, {len(train)}/{len(test)} labelled train/test, "
        f"{crop:g} s crops at {pre.rate} Hz{from_rates}; leads: {covered}"
    )
    return DataBundle(pretrain, info, tasks, None, describe)
