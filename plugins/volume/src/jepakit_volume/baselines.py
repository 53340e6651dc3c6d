"""The ``raw/linear`` baseline: logistic regression on the raw voxels (or pixels).

Each item's slices are average-pooled 2 x 2 in-plane and flattened (16 x 16 x 16 -> 1024
features; an image fills the first slice's 64 of them): what a linear model reads off
the data with no learning of features at all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from jepakit import Task
from jepakit.kit import fit_predict, labels_of, per_dataset


@per_dataset  # once per split, not once per label fraction and seed
def _raw(dataset) -> np.ndarray:
    feats = []
    for i in range(0, len(dataset), 256):
        x = torch.stack([torch.as_tensor(dataset[j]["x"]) for j in range(i, min(len(dataset), i + 256))]).float()
        if x.shape[-1] >= 2 and x.shape[-2] >= 2:
            x = F.avg_pool2d(x, 2)
        feats.append(x.flatten(1).numpy())
    return np.concatenate(feats)


def raw_linear_baseline(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
    """Logistic regression on 2 x 2-pooled raw voxels."""
    idx = np.asarray(train_indices, dtype=int)
    x_tr, x_te = _raw(task.train), _raw(task.test)
    y_tr = labels_of(task.train)
    n_classes = len(task.classes) if task.classes else int(max(y_tr.max(), labels_of(task.test).max())) + 1
    return fit_predict("linear", "multiclass", x_tr[idx], y_tr[idx], x_te, n_classes, seed)


__all__ = ["raw_linear_baseline"]
