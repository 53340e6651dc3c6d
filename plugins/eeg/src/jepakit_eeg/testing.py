"""Fixture writers: files in the formats this plugin reads, for tests and benchmarks
(every plugin keeps its writers in a module of this name)."""

from __future__ import annotations

import os
from pathlib import Path

import mne

from .synthetic import synthetic_cohort


def write_edf(path: str | os.PathLike, raw: mne.io.BaseRaw) -> str:
    """Write ``raw`` as the EDF file ``path`` (``mne.export.export_raw``, through edfio);
    returns the path."""
    mne.export.export_raw(str(path), raw, fmt="edf", overwrite=True, verbose="error")
    return str(path)


def write_synthetic_edfs(folder: Path, n: int = 8, seconds: float = 120.0) -> Path:
    """``n`` synthetic subjects' recordings of ``seconds`` s as EDF files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (sub, raw) in enumerate(synthetic_cohort(n, 1, seconds, 256.0, seed=1)):
        write_edf(folder / f"{sub.name}_s001_t{k:03d}.edf", raw)
    return folder
