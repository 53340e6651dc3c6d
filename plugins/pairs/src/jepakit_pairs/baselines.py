"""The ``features/linear`` baseline: a linear probe of the genre on hand-made descriptors
of both modalities (no learning): per colour channel the mean and spread of the frames,
the frames' mean gradient along four orientations, and the music's mean and spread per
mel band."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from jepakit import Task
from jepakit.kit import fit_predict, labels_of, per_dataset


@per_dataset  # once per split, not once per label fraction and seed
def descriptors(dataset) -> np.ndarray:
    feats = []
    for s in range(0, len(dataset), 256):
        items = [dataset[j] for j in range(s, min(len(dataset), s + 256))]
        v = torch.stack([it["video"] for it in items]).float()  # (b, 3, T, H, W)
        a = torch.stack([it["audio"] for it in items]).float()  # (b, M, F)
        gx = (v[..., :, 1:] - v[..., :, :-1]).abs().mean((2, 3, 4))
        gy = (v[..., 1:, :] - v[..., :-1, :]).abs().mean((2, 3, 4))
        gd = (v[..., 1:, 1:] - v[..., :-1, :-1]).abs().mean((2, 3, 4))
        ga = (v[..., 1:, :-1] - v[..., :-1, 1:]).abs().mean((2, 3, 4))
        feats.append(torch.cat([v.mean((2, 3, 4)), v.std((2, 3, 4)), gx, gy, gd, ga, a.mean(2), a.std(2)], 1).numpy())
    return np.concatenate(feats)


def features_linear(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
    """Logistic regression on :func:`descriptors`."""
    idx = np.asarray(train_indices, dtype=int)
    x_tr, x_te = descriptors(task.train), descriptors(task.test)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    y_tr = labels_of(task.train)
    n_classes = len(task.classes) if task.classes else int(max(y_tr.max(), labels_of(task.test).max())) + 1
    return fit_predict("linear", "multiclass", (x_tr[idx] - mu) / sd, y_tr[idx], (x_te - mu) / sd, n_classes, seed)


__all__ = ["descriptors", "features_linear"]
