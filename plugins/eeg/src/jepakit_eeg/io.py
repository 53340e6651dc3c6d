"""Readers: any recording ``mne.io.read_raw`` opens (:func:`read_raw`), read and cleaned
one file at a time (:func:`read_recording`: the cleaning itself is
:func:`jepakit_eeg.preprocess.preprocess_raw`), folders of them, and the labels that file
names, folders and label tables give.

Bad input raises :class:`jepakit.errors.DataError` with one line naming the file; in a
folder (:func:`read_folder`) a bad file is reported as a one-line notice and skipped, and a
folder where no file could be read is an error giving the files' reasons.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mne
import numpy as np

from jepakit.kit import DataError, Failures, notice, read_each

from .preprocess import Preprocess, Recording, _first_line, preprocess_raw

__all__ = [  # Preprocess, Recording and preprocess_raw live in .preprocess; older code imports them from here
    "EXTENSIONS", "LABEL_DIRS", "Preprocess", "Recording", "SPLIT_DIRS", "find_files", "folder_label", "is_eeg_file",
    "iter_recordings", "none_readable", "preprocess_raw", "read_folder", "read_label_csv", "read_raw", "read_recording",
    "reason_of", "subject_of",
]

# Files mne.io.read_raw opens, by extension. Companion files (BrainVision .eeg/.vmrk,
# EEGLAB .fdt) are read through their header and are not listed.
EXTENSIONS: tuple[str, ...] = (
    ".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set", ".cnt", ".cdt", ".lay", ".nxe", ".mff", ".nedf",
)
TRUNCATION_HINTS = ("does not match the file size", "truncat", "incomplete data record", "unexpected end")


def read_raw(path: str | os.PathLike) -> mne.io.BaseRaw:
    """Open one file with :func:`mne.io.read_raw`; any failure becomes a one-line DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = mne.io.read_raw(path, preload=True, verbose="warning")
    except Exception as exc:
        raise DataError(f"{path}: cannot read as EEG ({_first_line(exc)})") from None
    # Readers only warn about a file cut short (they infer the length from its size), but
    # a truncated recording is a broken copy and must not pass for a short one.
    for w in caught:
        msg = str(w.message)
        if any(key in msg.lower() for key in TRUNCATION_HINTS):
            raise DataError(f"{path}: file is truncated ({msg.splitlines()[0]})")
    for w in caught:
        msg = str(w.message).strip()
        if not issubclass(w.category, (DeprecationWarning, FutureWarning)):
            # what the reader did to the file (renamed duplicate labels, dropped annotations...)
            notice(f"{path}: {msg.splitlines()[0]}" if msg else f"{path}: {w.category.__name__}")
    if raw.n_times == 0:
        raise DataError(f"{path}: the recording holds no samples")
    return raw


def reason_of(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if reason:
        return reason
    text = str(exc)
    text = text.split(": ", 1)[1] if ": " in text else text
    return re.sub(r"\s*\(.*\)", "", text).strip()


def read_recording(path: str | os.PathLike, prep: Preprocess | None = None) -> Recording:
    """Read and clean one file (any format ``mne.io.read_raw`` opens)."""
    prep = prep or Preprocess()
    return preprocess_raw(read_raw(path), prep, str(path))


def is_eeg_file(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(ext) for ext in EXTENSIONS)


def find_files(folder: str | os.PathLike) -> list[Path]:
    """Every readable-looking EEG file under ``folder`` (recursively), sorted."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: no such file or folder")
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if (p.is_file() or p.suffix.lower() == ".mff") and is_eeg_file(p))


def iter_recordings(paths: Sequence[str | os.PathLike], prep: Preprocess,
                    failures: Failures | None = None) -> Iterator[Recording]:
    """Read files one by one; a bad file is reported as a one-line notice, skipped and
    added to ``failures``."""
    for _, rec in read_each(paths, lambda p: read_recording(p, prep), failures, reason=reason_of):
        yield rec


def none_readable(folder: Any, n_files: int, failures: Failures) -> DataError:
    """The error of a folder where no file could be read, with the files' own reasons."""
    return failures.error(folder, n_files, "EEG file(s)")


def read_folder(folder: str | os.PathLike, prep: Preprocess | None = None, max_files: int | None = None) -> list[Recording]:
    """Read every EEG file under ``folder``; bad files are reported and skipped."""
    prep = prep or Preprocess()
    files = find_files(folder)
    if max_files is not None:
        files = files[: int(max_files)]
    if not files:
        raise DataError(f"{folder}: no EEG file found (extensions: {', '.join(EXTENSIONS)})")
    failures = Failures()
    recs = list(iter_recordings(files, prep, failures))
    if not recs:
        raise none_readable(folder, len(files), failures)
    return recs


# ---------------------------------------------------------------- labels, subjects, splits

_TUH_SUBJECT = re.compile(r"^([A-Za-z0-9]+)_s\d+")
LABEL_DIRS = {"normal": "normal", "abnormal": "abnormal"}
SPLIT_DIRS = {"train": "train", "training": "train", "eval": "test", "evaluation": "test", "test": "test"}


def subject_of(path: str | os.PathLike) -> str:
    """Subject id from a file name: TUH's ``aaaaaaav_s004_t000.edf`` -> ``aaaaaaav``, else the stem."""
    name = Path(path).name
    m = _TUH_SUBJECT.match(name)
    if m:
        return m.group(1)
    stem = name.split(".")[0]
    return stem


def folder_label(path: str | os.PathLike, root: str | os.PathLike) -> tuple[str | None, str | None]:
    """(label, split) from a TUH-Abnormal-like layout: ``.../train|eval/normal|abnormal/...``."""
    parts = [p.lower() for p in Path(path).resolve().relative_to(Path(root).resolve()).parts[:-1]]
    label = next((LABEL_DIRS[p] for p in parts if p in LABEL_DIRS), None)
    split = next((SPLIT_DIRS[p] for p in parts if p in SPLIT_DIRS), None)
    return label, split


def read_label_csv(csv: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{absolute file path: {"label", "subject"?, "split"?}}`` from a CSV with columns
    ``path`` (or ``file``), ``label`` and optionally ``subject`` and ``split``; relative
    paths are relative to the CSV's folder."""
    import pandas as pd

    csv = Path(csv)
    try:
        table = pd.read_csv(csv)
    except Exception as exc:
        raise DataError(f"{csv}: cannot read label table ({_first_line(exc)})") from None
    cols = {c.lower().strip(): c for c in table.columns}
    path_col = cols.get("path") or cols.get("file")
    if path_col is None or "label" not in cols:
        raise DataError(f"{csv}: label table needs a 'path' (or 'file') column and a 'label' column, has {list(table.columns)}")
    out: dict[str, dict[str, Any]] = {}
    unlabelled = []
    for _, row in table.iterrows():
        p = Path(str(row[path_col]))
        p = p if p.is_absolute() else csv.parent / p
        value = row[cols["label"]]
        if _isnan(value) or not str(value).strip():
            unlabelled.append(str(row[path_col]))  # an empty cell is no class named "nan"
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a column pandas read as float because of an empty cell
        entry: dict[str, Any] = {"label": str(value).strip()}
        for key in ("subject", "split"):
            if key in cols and not _isnan(row[cols[key]]):
                entry[key] = str(row[cols[key]]).strip()
        if "split" in entry:
            entry["split"] = SPLIT_DIRS.get(entry["split"].lower(), entry["split"].lower())
        out[str(p.resolve())] = entry
    if unlabelled:
        notice(f"{csv}: {len(unlabelled)} row(s) with no label left unlabelled ({', '.join(unlabelled[:5])}"
               f"{', ...' if len(unlabelled) > 5 else ''})")
    return out


def _isnan(v: Any) -> bool:
    try:
        return bool(np.isnan(v))
    except TypeError:
        return False
