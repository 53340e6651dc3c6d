"""Shared fixtures of the eeg plugin's tests: real EDF/FIF files written with MNE."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mne
import numpy as np
import pytest
import torch

from jepakit_eeg import testing as fixtures
from jepakit_eeg.channels import STANDARD_1020
from jepakit_eeg.synthetic import draw_subject, synthetic_raw

torch.set_num_threads(1)

# TUH-style labels, with the old 10-20 names for the temporal chain
TUH_NAMES = [
    f"EEG {({'T7': 'T3', 'T8': 'T4', 'P7': 'T5', 'P8': 'T6'}).get(c, c).upper()}-REF" for c in STANDARD_1020
]


def _make_raw(seed: int = 0, seconds: float = 20.0, sfreq: float = 256.0, abnormal: bool = False,
             names: list[str] | None = None) -> mne.io.RawArray:
    sub = draw_subject(seed, abnormal, np.random.default_rng(seed))
    return synthetic_raw(sub, seconds, sfreq, seed=seed, names=names)


@pytest.fixture
def make_raw():
    """Factory of synthetic MNE Raws: make_raw(seed, seconds, sfreq, abnormal, names)."""
    return _make_raw


@pytest.fixture
def write_edf():
    """write_edf(path, raw) -> path, through mne.export.export_raw (edfio)."""
    return fixtures.write_edf


@pytest.fixture
def tuh_folder(tmp_path):
    """A TUH-Abnormal-like tree: train|eval / normal|abnormal / *.edf, 8 subjects."""
    root = tmp_path / "tuh"
    k = 0
    for split, n in (("train", 3), ("eval", 1)):
        for label in ("normal", "abnormal"):
            d = root / split / label / "01_tcp_ar"
            d.mkdir(parents=True)
            for _ in range(n):
                raw = _make_raw(k, seconds=12.0, abnormal=label == "abnormal", names=TUH_NAMES)
                fixtures.write_edf(d / f"subj{k:04d}_s001_t000.edf", raw)
                k += 1
    return root
