"""Readers: any recording ``mne.io.read_raw`` opens, cleaned into one fixed channel layout.

Pipeline per file (:func:`read_recording`): read with MNE -> keep EEG channels whose labels
match the wanted 10-20/10-10 names -> non-finite channels zeroed and marked bad -> notch ->
resample -> band-pass -> flat / noisy channel detection -> scaling. The result is a
:class:`Recording`: a ``(C, T)`` float32 array in the wanted channel order, a per-channel
``valid`` flag (missing, flat, noisy, NaN or marked bad in the file) and the file's
annotations, ready to be cut into windows or labelled epochs.

Bad input raises :class:`jepakit.errors.DataError` with one line naming the file; in a
folder (:func:`read_folder`) a bad file is reported as a warning and skipped.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mne
import numpy as np

from jepakit.errors import DataError, check

from .channels import match_channels, resolve_channels

# Files mne.io.read_raw opens, by extension. Companion files (BrainVision .eeg/.vmrk,
# EEGLAB .fdt) are read through their header and are not listed.
EXTENSIONS: tuple[str, ...] = (
    ".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set", ".cnt", ".cdt", ".lay", ".nxe", ".mff", ".nedf",
)
NORMALIZE = ("recording", "channel", "fixed")
TRUNCATION_HINTS = ("does not match the file size", "truncat", "incomplete data record", "unexpected end")


@dataclass
class Preprocess:
    """How raw recordings are cleaned; every field is a ``data:`` config key.

    ``sfreq``: target rate in Hz (a file recorded slower is rejected, never upsampled);
    ``l_freq``/``h_freq``: band-pass edges (None = no edge); ``notch``: mains frequency
    (its harmonics below Nyquist are removed too); ``normalize``: ``recording`` divides
    by the median channel SD of the recording (keeps relative amplitudes between
    electrodes), ``channel`` z-scores each electrode, ``fixed`` divides the µV values by
    ``scale_uv``; ``flat_uv``: an electrode whose SD is below this is flat; ``noisy_ratio``:
    an electrode whose SD exceeds this multiple of the median is noisy; ``min_seconds``:
    the shortest recording accepted (one clip).
    """

    channels: str | Sequence[str] = "1020"
    sfreq: float = 128.0
    l_freq: float | None = 0.5
    h_freq: float | None = 45.0
    notch: float | None = None
    normalize: str = "recording"
    scale_uv: float = 50.0
    flat_uv: float = 0.5
    noisy_ratio: float = 10.0
    min_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.channel_names = resolve_channels(self.channels)
        check(self.sfreq > 0, f"sfreq must be > 0, got {self.sfreq}")
        nyq = self.sfreq / 2
        check(self.h_freq is None or 0 < self.h_freq < nyq, f"h_freq must be in (0, {nyq}) for sfreq {self.sfreq}, got {self.h_freq}")
        check(self.l_freq is None or 0 < self.l_freq < (self.h_freq or nyq), f"l_freq must be in (0, h_freq), got {self.l_freq}")
        check(self.normalize in NORMALIZE, f"normalize must be one of {NORMALIZE}, got {self.normalize!r}")
        check(self.scale_uv > 0 and self.flat_uv >= 0 and self.noisy_ratio > 1, "scale_uv > 0, flat_uv >= 0 and noisy_ratio > 1 required")

    def attrs(self) -> dict[str, Any]:
        """What must match between a prepared store and a run that reads it."""
        return {
            "channels": self.channel_names, "sfreq": self.sfreq, "l_freq": self.l_freq, "h_freq": self.h_freq,
            "notch": self.notch, "normalize": self.normalize, "scale_uv": self.scale_uv,
        }


@dataclass
class Recording:
    """A cleaned recording in the model's channel layout."""

    data: np.ndarray  # (C, T) float32, invalid channels are zero
    sfreq: float
    channels: list[str]
    valid: np.ndarray  # (C,) bool
    path: str
    annotations: list[tuple[float, float, str]] = field(default_factory=list)  # (onset s, duration s, description)
    bads: dict[str, str] = field(default_factory=dict)  # channel -> why it is invalid
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.data.shape[1] / self.sfreq


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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
    if raw.n_times == 0:
        raise DataError(f"{path}: the recording holds no samples")
    return raw


def _relative_annotations(raw: mne.io.BaseRaw) -> list[tuple[float, float, str]]:
    # Annotations with an orig_time count from the measurement date, and the first sample
    # sits at raw.first_time after it; without orig_time they count from the first sample.
    ann = raw.annotations
    shift = raw.first_time if ann.orig_time is not None else 0.0
    return [(float(o) - shift, float(d), str(s)) for o, d, s in zip(ann.onset, ann.duration, ann.description)]


def _events_to_annotations(raw: mne.io.BaseRaw) -> None:
    # Recorders that write a trigger channel (FIF STI 014, BDF Status) next to or instead
    # of annotations: add its events to the annotations so one labelling path serves both.
    if not len(mne.pick_types(raw.info, stim=True)):
        return
    try:
        events = mne.find_events(raw, shortest_event=1, verbose="error")
    except Exception:  # a stim channel without usable transitions carries no labels
        return
    if len(events):
        ann = mne.annotations_from_events(events, raw.info["sfreq"], orig_time=raw.annotations.orig_time, first_samp=raw.first_samp)
        raw.set_annotations(raw.annotations + ann)


def preprocess_raw(raw: mne.io.BaseRaw, prep: Preprocess, path: str = "<memory>") -> Recording:
    """Clean an MNE Raw (see the module doc) into a :class:`Recording`; errors name ``path``."""
    _events_to_annotations(raw)
    eeg = mne.pick_types(raw.info, eeg=True, exclude=[])
    if len(eeg) == 0:
        raise DataError(f"{path}: no EEG channels (channel types: {sorted(set(raw.get_channel_types()))})")
    eeg_names = [raw.ch_names[i] for i in eeg]
    mapping = match_channels(eeg_names, prep.channel_names)
    if not mapping:
        shown = ", ".join(eeg_names[:6]) + (", ..." if len(eeg_names) > 6 else "")
        raise DataError(f"{path}: no EEG channel matches a 10-20/10-10 name of the channel set ({shown})")
    sfreq = float(raw.info["sfreq"])
    if sfreq + 1e-6 < prep.sfreq:
        raise DataError(f"{path}: sampling rate {sfreq:g} Hz is below the {prep.sfreq:g} Hz the framing needs")
    marked_bad = {mapping[b] for b in raw.info["bads"] if b in mapping}
    annotations = _relative_annotations(raw)
    raw = raw.copy().pick(list(mapping)).load_data(verbose="error")
    raw.info["bads"] = []
    raw.rename_channels(mapping)

    bads: dict[str, str] = {c: "marked bad in the file" for c in marked_bad}
    data = raw.get_data()
    finite = np.isfinite(data)
    nonfinite = ~finite.all(axis=1)
    if nonfinite.all():
        raise DataError(f"{path}: every EEG channel holds NaN or infinite values")
    if nonfinite.any():
        for i in np.flatnonzero(nonfinite):
            bads.setdefault(raw.ch_names[i], "NaN or infinite values")
        # filters smear a single NaN over the whole channel; zero the channel instead
        raw.apply_function(lambda x: np.where(np.isfinite(x), x, 0.0), picks="all", channel_wise=False)

    if prep.notch:
        freqs = np.arange(prep.notch, sfreq / 2, prep.notch)
        if len(freqs):
            raw.notch_filter(freqs, picks="all", verbose="error")
    if abs(sfreq - prep.sfreq) > 1e-6:
        raw.resample(prep.sfreq, verbose="error")
    if prep.l_freq is not None or prep.h_freq is not None:
        raw.filter(prep.l_freq, prep.h_freq, picks="all", verbose="error")

    x = raw.get_data() * 1e6  # volts -> µV
    seconds = x.shape[1] / prep.sfreq
    if seconds + 1e-9 < prep.min_seconds:
        raise DataError(f"{path}: recording is {seconds:.2f} s long, shorter than one clip of {prep.min_seconds:g} s")
    sd = x.std(axis=1)
    for i, name in enumerate(raw.ch_names):
        if name in bads:
            continue
        if sd[i] < prep.flat_uv:
            bads[name] = f"flat (SD {sd[i]:.3g} µV)"
    ok = np.array([n not in bads for n in raw.ch_names])
    if ok.any():
        med = float(np.median(sd[ok]))
        for i, name in enumerate(raw.ch_names):
            if ok[i] and sd[i] > prep.noisy_ratio * med and ok.sum() > 2:
                bads[name] = f"noisy (SD {sd[i]:.3g} µV, median {med:.3g} µV)"
    ok = np.array([n not in bads for n in raw.ch_names])
    if not ok.any():
        raise DataError(f"{path}: every EEG channel is flat, NaN or marked bad")

    out = np.zeros((len(prep.channel_names), x.shape[1]), dtype=np.float64)
    valid = np.zeros(len(prep.channel_names), dtype=bool)
    row = {c: i for i, c in enumerate(prep.channel_names)}
    for i, name in enumerate(raw.ch_names):
        if ok[i]:
            out[row[name]] = x[i]
            valid[row[name]] = True
    out = _normalize(out, valid, prep)
    for c in prep.channel_names:
        if c not in mapping.values():
            bads.setdefault(c, "missing")
    return Recording(out.astype(np.float32), prep.sfreq, list(prep.channel_names), valid, str(path), annotations, bads)


def _normalize(x: np.ndarray, valid: np.ndarray, prep: Preprocess) -> np.ndarray:
    if prep.normalize == "fixed":
        return x / prep.scale_uv
    v = x[valid]
    if prep.normalize == "channel":
        v = (v - v.mean(axis=1, keepdims=True)) / np.maximum(v.std(axis=1, keepdims=True), 1e-6)
    else:
        # one robust scale per recording: removes the subject's gain, keeps the map
        v = v / max(float(np.median(v.std(axis=1))), 1e-6)
    x[valid] = v
    return x


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


def iter_recordings(paths: Sequence[str | os.PathLike], prep: Preprocess) -> Iterator[Recording]:
    """Read files one by one; a bad file is reported as a warning and skipped."""
    for p in paths:
        try:
            yield read_recording(p, prep)
        except DataError as exc:
            warnings.warn(f"skipped {exc}", stacklevel=2)


def read_folder(folder: str | os.PathLike, prep: Preprocess | None = None, max_files: int | None = None) -> list[Recording]:
    """Read every EEG file under ``folder``; bad files are reported and skipped."""
    prep = prep or Preprocess()
    files = find_files(folder)
    if max_files is not None:
        files = files[: int(max_files)]
    if not files:
        raise DataError(f"{folder}: no EEG file found (extensions: {', '.join(EXTENSIONS)})")
    recs = list(iter_recordings(files, prep))
    if not recs:
        raise DataError(f"{folder}: none of the {len(files)} EEG file(s) could be read")
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
    for _, row in table.iterrows():
        p = Path(str(row[path_col]))
        p = p if p.is_absolute() else csv.parent / p
        entry: dict[str, Any] = {"label": str(row[cols["label"]]).strip()}
        for key in ("subject", "split"):
            if key in cols and not _isnan(row[cols[key]]):
                entry[key] = str(row[cols[key]]).strip()
        if "split" in entry:
            entry["split"] = SPLIT_DIRS.get(entry["split"].lower(), entry["split"].lower())
        out[str(p.resolve())] = entry
    return out


def _isnan(v: Any) -> bool:
    try:
        return bool(np.isnan(v))
    except TypeError:
        return False
