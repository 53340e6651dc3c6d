"""Helpers that write small, real WFDB records and PTB-XL-shaped folders (with
``wfdb.wrsamp``), for tests and for trying the plugin without downloading anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from .synthetic import synth_record

# lead frequencies that tell the leads apart after any resampling (Hz)
TONES = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5])


def write_record(folder: Path, name: str, signal: np.ndarray, fs: float, names: list[str]) -> Path:
    """wfdb.wrsamp a (T, C) physical signal in mV (1000 adu/mV, 16-bit, NaN written as
    WFDB's invalid-sample value); returns the header path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    p = np.asarray(signal, dtype=np.float64)
    d = np.where(np.isfinite(p), np.clip(np.round(p * 1000.0), -32767, 32767), -32768).astype(np.int16)
    wfdb.wrsamp(
        name, fs=fs, units=["mV"] * len(names), sig_name=list(names), d_signal=d, fmt=["16"] * len(names),
        adc_gain=[1000.0] * len(names), baseline=[0] * len(names), write_dir=str(folder),
    )
    return folder / f"{name}.hea"


def tones(seconds: float, fs: float, freqs=TONES) -> np.ndarray:
    t = np.arange(int(round(seconds * fs))) / fs
    return np.stack([np.sin(2 * np.pi * f * t) for f in freqs], axis=1)


# PTB-XL: five records per superclass pattern, folds chosen to cover train/val/test
PTBXL_ROWS = [
    # ecg_id, scp_codes, strat_fold, expected multi-hot over NORM, MI, STTC, CD, HYP
    (1, "{'NORM': 100.0, 'SR': 0.0}", 1, [1, 0, 0, 0, 0]),
    (2, "{'IMI': 100.0, 'ABQRS': 0.0, 'SR': 0.0}", 2, [0, 1, 0, 0, 0]),
    (3, "{'NDT': 100.0}", 3, [0, 0, 1, 0, 0]),
    (4, "{'IRBBB': 100.0, 'LVH': 50.0}", 4, [0, 0, 0, 1, 1]),
    (5, "{'NORM': 80.0, 'SR': 0.0}", 5, [1, 0, 0, 0, 0]),
    (6, "{'ASMI': 100.0, 'NDT': 50.0}", 6, [0, 1, 1, 0, 0]),
    (7, "{'SR': 0.0}", 7, [0, 0, 0, 0, 0]),  # no diagnostic statement: pretraining only
    (8, "{'LVH': 100.0}", 8, [0, 0, 0, 0, 1]),
    (9, "{'NORM': 100.0}", 9, [1, 0, 0, 0, 0]),
    (10, "{'IMI': 100.0}", 9, [0, 1, 0, 0, 0]),
    (11, "{'NORM': 100.0}", 10, [1, 0, 0, 0, 0]),
    (12, "{'IRBBB': 100.0, 'NDT': 100.0}", 10, [0, 0, 1, 1, 0]),
    (13, "{'IMI': 100.0}", 10, [0, 1, 0, 0, 0]),
]
STATEMENTS = pd.DataFrame(
    {
        "description": ["normal ECG", "inferior MI", "anteroseptal MI", "non-diagnostic T", "incomplete RBBB", "LVH",
                        "sinus rhythm", "abnormal QRS"],
        "diagnostic": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan, np.nan],
        "form": [np.nan, np.nan, np.nan, 1.0, np.nan, np.nan, np.nan, 1.0],
        "rhythm": [np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 1.0, np.nan],
        "diagnostic_class": ["NORM", "MI", "MI", "STTC", "CD", "HYP", np.nan, np.nan],
    },
    index=["NORM", "IMI", "ASMI", "NDT", "IRBBB", "LVH", "SR", "ABQRS"],
)
PTBXL_NAMES = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def make_ptbxl(root: Path, seconds: float = 4.0) -> Path:
    rows = []
    rng = np.random.default_rng(0)
    for ecg_id, codes, fold, _ in PTBXL_ROWS:
        sig500, _y, _af = synth_record(rng, seconds, 500.0)
        lr = f"records100/00000/{ecg_id:05d}_lr"
        hr = f"records500/00000/{ecg_id:05d}_hr"
        write_record(root / Path(hr).parent, Path(hr).name, sig500, 500, PTBXL_NAMES)
        write_record(root / Path(lr).parent, Path(lr).name, sig500[::5], 100, PTBXL_NAMES)
        rows.append({"ecg_id": ecg_id, "patient_id": 1000 + ecg_id, "age": 60, "sex": 0, "scp_codes": codes,
                     "strat_fold": fold, "filename_lr": lr, "filename_hr": hr})
    pd.DataFrame(rows).set_index("ecg_id").to_csv(root / "ptbxl_database.csv")
    STATEMENTS.to_csv(root / "scp_statements.csv")
    return root
