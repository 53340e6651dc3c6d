"""Readers: WFDB records (through ``wfdb``), folders of them, the PTB-XL layout and
NumPy arrays. Every reader yields conditioned ``(12, T)`` arrays with a metadata dict,
which is what :func:`jepakit.prepared.write_prepared` stores."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import wfdb

from jepakit.kit import DataError, Failures, read_each

from .leads import LEADS
from .preprocess import Preprocess, Report, condition

SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
PTBXL_DATABASE = "ptbxl_database.csv"
PTBXL_STATEMENTS = "scp_statements.csv"
PTBXL_COLUMNS = ("scp_codes", "strat_fold", "filename_lr", "filename_hr")

Item = tuple[np.ndarray, dict[str, Any]]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# physical units of ECG channels -> factor to millivolts
_TO_MV = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0, "uv": 1e-3, "\u00b5v": 1e-3, "\u03bcv": 1e-3, "microvolt": 1e-3,
    "microvolts": 1e-3, "v": 1e3, "volt": 1e3, "volts": 1e3, "nv": 1e-6,
}


def to_millivolts(sig: np.ndarray, units: list[str] | None, names: list[str], pre: Preprocess, source: str, report: Report) -> np.ndarray:
    """Scale every channel of ``sig`` (T, C) to mV from its header unit. Channels whose
    unit is not a voltage stay as they are, told when the scale matters
    (``normalize`` other than ``lead``)."""
    if not units:
        return sig
    factors = np.ones(sig.shape[1])
    odd = []
    for j, unit in enumerate(units[: sig.shape[1]]):
        key = str(unit or "").strip().lower().replace(" ", "")
        if key in _TO_MV:
            factors[j] = _TO_MV[key]
        else:
            odd.append(f"{names[j] if j < len(names) else j} [{unit or 'no unit'}]")
    if odd and pre.standardize != "lead":
        report.add(f"channel(s) {', '.join(odd)} are not in a voltage unit; taken as mV (normalize={pre.standardize})", source)
    return sig * factors if (factors != 1.0).any() else sig


def _record_base(path: str | os.PathLike) -> Path:
    """``x.hea`` / ``x.dat`` / ``x`` -> ``x`` (wfdb wants the record name without extension)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in (".hea", ".dat", ".mat") else p


def read_wfdb(path: str | os.PathLike, pre: Preprocess, report: Report | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """One WFDB record (single- or multi-segment) -> conditioned ``(12, T)`` array (mV
    before standardisation), the mask of leads present and the source sampling rate.
    Unused channels, filled gaps and the like go to ``report`` (told at once when None)."""
    base = _record_base(path)
    header = base.with_suffix(".hea")
    if not header.exists():
        raise DataError(f"{header}: no such WFDB header")
    try:
        rec = wfdb.rdrecord(str(base), physical=True, m2s=True, smooth_frames=True)
    except FileNotFoundError as exc:
        missing = exc.filename or _first_line(exc)
        raise DataError(f"{header}: signal file {missing} is missing") from None
    except ValueError as exc:
        raise DataError(f"{header}: signal data are truncated or do not match the header ({_first_line(exc)})") from None
    except Exception as exc:  # wfdb raises many types for malformed headers
        raise DataError(f"{header}: cannot read record: {_first_line(exc)}") from None
    if rec.p_signal is None or rec.fs is None:
        raise DataError(f"{header}: record has no signals")
    sig = rec.p_signal
    if rec.sig_len and sig.shape[0] < rec.sig_len:
        raise DataError(f"{header}: signal file holds {sig.shape[0]} of {rec.sig_len} samples (truncated)")
    own = report is None
    report = Report() if report is None else report
    try:
        names = [str(n) for n in (rec.sig_name or [])]
        sig = to_millivolts(sig, list(rec.units or []), names, pre, str(header), report)
        x, present = condition(sig, float(rec.fs), names, pre, str(header), report)
    finally:
        if own:
            report.flush()
    return x, present, float(rec.fs)


def find_records(folder: str | os.PathLike) -> list[Path]:
    """Headers of the top-level records under ``folder`` (segments and layout headers of
    multi-segment records are left to their master header)."""
    folder = Path(folder)
    headers = sorted(folder.rglob("*.hea"))
    parts: set[Path] = set()
    for h in headers:
        try:
            head = wfdb.rdheader(str(h.with_suffix("")))
        except Exception:
            continue  # reported when the record itself is read
        if isinstance(head, wfdb.MultiRecord):
            for seg in head.seg_name:
                if seg and seg != "~":
                    parts.add((h.parent / f"{seg}.hea").resolve())
    return [h for h in headers if h.resolve() not in parts and not h.stem.endswith("_layout")]


def iter_wfdb_folder(folder: str | os.PathLike, pre: Preprocess) -> Iterator[Item]:
    """Every readable record of a folder; a bad record is reported and skipped, and a
    folder without one readable record is an error that gives the reasons."""
    folder = Path(folder)
    headers = find_records(folder)
    if not headers:
        raise DataError(f"{folder}: no WFDB header (.hea) found")
    skipped, report, read = Failures(), Report(), 0
    try:
        for h, (x, present, fs) in read_each(headers, lambda h: read_wfdb(h, pre, report), skipped):
            read += 1
            name = str(h.relative_to(folder).with_suffix(""))
            yield x, {"name": name, "present": present.tolist(), "fs": fs, "label": None, "fold": None}
    finally:
        report.flush()
    if not read:
        raise skipped.error(folder, len(headers), "records", "it holds no records")


# ------------------------------------------------------------------------------ PTB-XL


def superclass_labels(scp_codes: str, statements: pd.DataFrame, source: str) -> list[float]:
    """Multi-hot over :data:`SUPERCLASSES` from a PTB-XL ``scp_codes`` dict string, via
    the ``diagnostic_class`` of every diagnostic statement (as PTB-XL's own example)."""
    try:
        codes = ast.literal_eval(scp_codes) if isinstance(scp_codes, str) else {}
    except (ValueError, SyntaxError):
        raise DataError(f"{source}: scp_codes {scp_codes!r} is not a dict literal") from None
    if not isinstance(codes, dict):
        raise DataError(f"{source}: scp_codes {scp_codes!r} is not a dict literal")
    y = np.zeros(len(SUPERCLASSES), dtype=np.float32)
    for code in codes:
        if code in statements.index:
            cls = statements.at[code, "diagnostic_class"]
            if isinstance(cls, str) and cls in SUPERCLASSES:
                y[SUPERCLASSES.index(cls)] = 1.0
    return y.tolist()


def read_ptbxl_tables(root: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``ptbxl_database.csv`` (index ecg_id) and the diagnostic rows of
    ``scp_statements.csv`` (index statement code), validated."""
    root = Path(root)
    db_path, st_path = root / PTBXL_DATABASE, root / PTBXL_STATEMENTS
    for p in (db_path, st_path):
        if not p.exists():
            raise DataError(f"{p}: missing (a PTB-XL folder holds {PTBXL_DATABASE} and {PTBXL_STATEMENTS})")
    try:
        db = pd.read_csv(db_path, index_col=0)
        st = pd.read_csv(st_path, index_col=0)
    except Exception as exc:
        raise DataError(f"{root}: cannot parse the PTB-XL tables: {_first_line(exc)}") from None
    lacking = [c for c in PTBXL_COLUMNS if c not in db.columns]
    if lacking:
        raise DataError(f"{db_path}: missing column(s) {', '.join(lacking)}")
    lacking = [c for c in ("diagnostic", "diagnostic_class") if c not in st.columns]
    if lacking:
        raise DataError(f"{st_path}: missing column(s) {', '.join(lacking)}")
    folds = pd.to_numeric(db["strat_fold"], errors="coerce")
    if folds.isna().any():
        raise DataError(f"{db_path}: strat_fold must be an integer fold number on every row")
    db = db.assign(strat_fold=folds.astype(int))
    st = st[pd.to_numeric(st["diagnostic"], errors="coerce") == 1]
    return db, st


def iter_ptbxl(root: str | os.PathLike, pre: Preprocess, source_rate: int | None = None) -> Iterator[Item]:
    """PTB-XL records with superclass labels and their ``strat_fold``; ``source_rate``
    picks the 100 Hz (``filename_lr``) or 500 Hz (``filename_hr``) files (default: the
    500 Hz ones unless the model runs at 100 Hz or less)."""
    root = Path(root)
    db, st = read_ptbxl_tables(root)
    src = source_rate or (100 if pre.rate <= 100 else 500)
    if src not in (100, 500):
        raise DataError(f"{root}: PTB-XL has 100 Hz and 500 Hz records, not {src} Hz")
    column = "filename_lr" if src == 100 else "filename_hr"
    csv = root / PTBXL_DATABASE
    def where(item: tuple[Any, Any]) -> str:
        return f"{csv} (ecg_id {item[0]})"

    def source(item: tuple[Any, Any]) -> str:
        file = item[1][column]
        return str(root / file) if isinstance(file, str) else where(item)

    def read_row(item: tuple[Any, Any]) -> tuple[list[float], tuple[np.ndarray, np.ndarray, float]]:
        row = item[1]
        label = superclass_labels(row["scp_codes"], st, where(item))
        if not isinstance(row[column], str):
            raise DataError(f"{where(item)}: empty {column}")
        return label, read_wfdb(root / row[column], pre, report)

    skipped, report, read = Failures(), Report(), 0
    try:
        for (_, row), (label, (x, present, fs)) in read_each(db.iterrows(), read_row, skipped, source):
            read += 1
            yield x, {
                "name": str(row[column]), "present": present.tolist(), "fs": fs,
                # records without a diagnostic superclass are kept for pretraining only
                "label": label if sum(label) > 0 else None, "fold": int(row["strat_fold"]),
            }
    finally:
        report.flush()
    if not read:
        raise skipped.error(root, len(db), "records", "it holds no records")


# ------------------------------------------------------------------------------- NumPy


def iter_numpy(path: str | os.PathLike, pre: Preprocess, fs: float | None = None) -> Iterator[Item]:
    """``.npy`` (N, leads, T) or ``.npz`` with ``signals`` (N, leads, T) and optionally
    ``fs``, ``leads`` (names; default the standard 12), ``labels`` (N, K), ``fold`` (N,)."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: cannot load NumPy data: {_first_line(exc)}") from None
    arrays = {"signals": data} if isinstance(data, np.ndarray) else {k: data[k] for k in data.files}
    if "signals" not in arrays:
        raise DataError(f"{path}: no 'signals' array (keys: {', '.join(arrays)})")
    sig = np.asarray(arrays["signals"])
    if sig.ndim != 3:
        raise DataError(f"{path}: signals must be (records, leads, time), got shape {sig.shape}")
    rate = float(arrays["fs"]) if "fs" in arrays else fs
    if fs is not None and rate is not None and abs(float(fs) - rate) > 1e-9:
        raise DataError(f"{path}: the file stores fs={rate:g} Hz but data.fs={float(fs):g}; leave data.fs unset or fix the file")
    if rate is None:
        raise DataError(f"{path}: no sampling rate: store 'fs' in the .npz or set data.fs")
    names = [str(n) for n in arrays["leads"]] if "leads" in arrays else list(LEADS)
    if len(names) != sig.shape[1]:
        raise DataError(f"{path}: {sig.shape[1]} leads in signals but {len(names)} lead names")
    labels = arrays.get("labels")
    folds = arrays.get("fold")
    def where(i: int) -> str:
        return f"{path} [record {i}]"

    skipped, report, read = Failures(), Report(), 0
    try:
        for i, (x, present) in read_each(range(sig.shape[0]), lambda i: condition(sig[i].T, rate, names, pre, where(i), report),
                                         skipped, where):
            read += 1
            label = None if labels is None else np.asarray(labels[i], dtype=np.float32).reshape(-1).tolist()
            fold = None if folds is None else int(folds[i])
            yield x, {"name": f"{path.name}[{i}]", "present": present.tolist(), "fs": rate, "label": label, "fold": fold}
    finally:
        report.flush()
    if not read:
        raise skipped.error(path, sig.shape[0], "records", "it holds no records")


def source_kind(path: str | os.PathLike) -> str:
    """``prepared``, ``ptbxl``, ``wfdb-folder``, ``wfdb-record`` or ``numpy``."""
    p = Path(path)
    if p.is_dir():
        if (p / "index.json").exists():
            return "prepared"
        if (p / PTBXL_DATABASE).exists():
            return "ptbxl"
        return "wfdb-folder"
    if p.suffix.lower() in (".npy", ".npz"):
        return "numpy"
    if p.suffix.lower() == ".hea" or p.with_suffix(".hea").exists():
        return "wfdb-record"
    raise DataError(f"{p}: not a WFDB record or folder, a PTB-XL folder, a prepared store or a .npy/.npz file")


def iter_source(path: str | os.PathLike, pre: Preprocess, source_rate: int | None = None, fs: float | None = None) -> tuple[str, Iterator[Item]]:
    """The kind of ``path`` and an iterator over its conditioned records."""
    kind = source_kind(path)
    if kind == "ptbxl":
        return kind, iter_ptbxl(path, pre, source_rate)
    if kind == "wfdb-folder":
        return kind, iter_wfdb_folder(path, pre)
    if kind == "numpy":
        return kind, iter_numpy(path, pre, fs)
    if kind == "wfdb-record":
        x, present, rate = read_wfdb(path, pre)
        item = (x, {"name": _record_base(path).name, "present": present.tolist(), "fs": rate, "label": None, "fold": None})
        return kind, iter([item])
    raise DataError(f"{path}: already a prepared store")
