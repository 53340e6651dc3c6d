"""A classical reference row for the benchmark: hand-made ECG features (per-lead
amplitude percentiles, slope statistics, band powers) and the core's linear probe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jepakit.contract import Task
from jepakit.kit import fit_predict, labels_of, per_dataset

BANDS = ((0.5, 5.0), (5.0, 15.0), (15.0, 40.0))


def window_features(x: np.ndarray, rate: float) -> np.ndarray:
    """``(12, T)`` window -> feature vector: per lead the 1/5/50/95/99th percentiles, the
    99th percentile of |slope| (QRS steepness), and log power in three bands."""
    pct = np.percentile(x, [1, 5, 50, 95, 99], axis=1).T
    slope = np.percentile(np.abs(np.diff(x, axis=1)), 99, axis=1)[:, None]
    spec = np.abs(np.fft.rfft(x, axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / rate)
    bands = [np.log1p(spec[:, (freqs >= lo) & (freqs < min(hi, rate / 2))].sum(1)) for lo, hi in BANDS]
    return np.concatenate([pct, slope, np.stack(bands, 1)], axis=1).ravel()


@per_dataset  # a split's features once per benchmark, not once per fraction and seed
def _features(dataset: Any, rate: float) -> np.ndarray:
    return np.stack([window_features(dataset[i]["signal"].numpy(), rate) for i in range(len(dataset))])


def handcrafted(task: Task, train_items: Sequence[int], seed: int) -> np.ndarray:
    """Baseline fn of the core: scores for every test item (windows; the core averages
    them per record like the probes' features)."""
    rate = float(task.train.store.attrs.get("rate", 500))
    x_tr = _features(task.train, rate)[np.asarray(train_items)]
    y_tr = labels_of(task.train)[np.asarray(train_items)]
    return fit_predict("linear", task.kind, x_tr, y_tr, _features(task.test, rate), y_tr.shape[1], seed)
