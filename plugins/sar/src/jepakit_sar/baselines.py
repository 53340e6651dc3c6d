"""The ``roa-features/linear`` baseline: a linear probe on the fixed ROA descriptor."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from jepakit import Task
from jepakit.kit import fit_predict, labels_of, per_dataset

from .roa import roa_gradients


@per_dataset  # once per split, not once per label fraction and seed
def _roa_descriptor(dataset) -> np.ndarray:
    """Hand-made ROA descriptor of every chip: per radius, ROA magnitudes averaged over a
    4x4 grid of cells (speckle-robust edges, no learning)."""
    feats = []
    for i in range(0, len(dataset), 256):
        x = torch.stack([dataset[j]["image"] for j in range(i, min(len(dataset), i + 256))])
        g = roa_gradients(x)
        cell = g.shape[-1] // 4
        feats.append(torch.nn.functional.avg_pool2d(g, cell).flatten(1).numpy())
    return np.concatenate(feats)


def roa_linear_baseline(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
    """Logistic regression on the fixed ROA descriptor: what the target alone carries."""
    idx = np.asarray(train_indices, dtype=int)
    x_tr, x_te = _roa_descriptor(task.train), _roa_descriptor(task.test)
    y_tr = labels_of(task.train)
    n_classes = len(task.classes) if task.classes else int(max(y_tr.max(), labels_of(task.test).max())) + 1
    return fit_predict("linear", "multiclass", x_tr[idx], y_tr[idx], x_te, n_classes, seed)
