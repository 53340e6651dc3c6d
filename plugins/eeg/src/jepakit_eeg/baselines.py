"""Classical EEG baseline for the benchmark: band powers + logistic regression.

Clinical abnormality detectors long relied on spectral features (more delta/theta, a
slower posterior rhythm), so log band power per electrode is the reference a learned
representation has to beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jepakit import Task
from jepakit.kit import per_dataset

BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))


def band_features(x: np.ndarray, sfreq: float, bands: Sequence[tuple[float, float]] = BANDS) -> np.ndarray:
    """(n, C, L) windows -> (n, C * (len(bands) + 1)) log relative band powers and log total power."""
    from mne.time_frequency import psd_array_welch

    fmax = min(bands[-1][1], sfreq / 2)
    psd, freqs = psd_array_welch(x.astype(np.float64), sfreq, fmin=bands[0][0], fmax=fmax,
                                 n_fft=min(x.shape[-1], int(2 * sfreq)), verbose="error")
    total = psd.sum(-1, keepdims=True) + 1e-12
    rel = [psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) / total[..., 0] for lo, hi in bands]
    feats = np.concatenate([np.log(np.stack(rel, -1) + 1e-8), np.log(total)], -1)
    return feats.reshape(len(x), -1)


@per_dataset  # once per split, not once per label fraction and seed
def _features(ds: Any, sfreq: float) -> np.ndarray:
    return band_features(np.stack([ds[i]["signal"].numpy() for i in range(len(ds))]), sfreq)


def bandpower_logreg(task: Task, train_indices: Sequence[int], seed: int, sfreq: float = 128.0) -> np.ndarray:
    """Class probabilities for every item of ``task.test`` from a logistic regression on
    band-power features of the labelled training items."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sfreq = float(getattr(task.train, "store", None).attrs.get("eeg", {}).get("sfreq", sfreq)) if hasattr(task.train, "store") else sfreq
    x_tr, x_te = _features(task.train, sfreq), _features(task.test, sfreq)
    idx = np.asarray(train_indices, dtype=int)
    y = np.asarray(task.train.labels)[idx].astype(int)
    n_classes = len(task.classes) if task.classes else int(np.max(task.train.labels)) + 1
    if len(np.unique(y)) < 2:
        return np.tile(np.eye(n_classes)[y[0]], (len(x_te), 1))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
    model.fit(x_tr[idx], y)
    out = np.zeros((len(x_te), n_classes))
    out[:, model.classes_] = model.predict_proba(x_te)
    return out
