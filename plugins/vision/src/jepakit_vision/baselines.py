"""The raw-pixel baseline: the core's linear probe on the task's pixels, projected on their
first 64 principal components (fit on every training image, labels unused).

Why the projection: the core's probe standardises each feature on the *labelled* subset,
and a raw pixel that is dark in every one of 60 labelled views (a border pixel of the
shapes) but not in the test views becomes a huge standardised value: the first bench gave
R² of about -1000 for the 10 %-label regression tasks on plain pixels (and -0.3 to -1.0 at
100 %). The principal components are dense, like an encoder's features. 64 components keep
87 % of the pixel variance of the 3500 MNIST training digits and 93 % of the 600 shapes
training views (sklearn's PCA)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from jepakit import Task
from jepakit.kit import fit_predict, labels_of, per_dataset

COMPONENTS = 64


def _pixels(dataset) -> np.ndarray:
    x = dataset.images if hasattr(dataset, "images") else torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    return x.float().flatten(1).numpy()


@per_dataset  # once per training split, not once per label fraction and seed
def _pca(train) -> object:
    from sklearn.decomposition import PCA

    x = _pixels(train)
    return PCA(n_components=min(COMPONENTS, x.shape[0], x.shape[1]), random_state=0).fit(x)


@per_dataset
def _projected(dataset, train) -> np.ndarray:
    return _pca(train).transform(_pixels(dataset)).astype(np.float32)


def pixels_linear(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
    """Linear probe (logistic / ridge regression) on the pixels' first 64 principal components."""
    idx = np.asarray(train_indices, dtype=int)
    x_tr, x_te = _projected(task.train, task.train), _projected(task.test, task.train)
    y_tr = labels_of(task.train)
    n_classes = None
    if task.kind == "multiclass":
        n_classes = len(task.classes) if task.classes else int(max(y_tr.max(), labels_of(task.test).max())) + 1
    return fit_predict("linear", task.kind, x_tr[idx], y_tr[idx], x_te, n_classes, seed)
