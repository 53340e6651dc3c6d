"""The simplest fair baseline: the raw observation window, no encoder.

* :class:`RawEncoder` stands in for a backbone: its "tokens" are the window's
  standardised observations, one per step, so the evaluation fits the very same action
  head on them (``pool`` ``flat``: every step's features) -- behaviour cloning with
  chunks by an MLP on the raw state window (:func:`raw_policy`).
* :func:`raw_linear` is the probe tasks' baseline row (``raw/linear``): the core's linear
  probe on the flattened standardised window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from jepakit.kit import fit_predict, labels_of, per_dataset


class RawEncoder(nn.Module):
    """``encoder(batch, keep)`` -> the standardised past observations ``(B, T, d)``."""

    num_prefix = 0

    def __init__(self, info: dict[str, Any]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(info["obs_mean"]))
        self.register_buffer("std", torch.tensor(info["obs_std"]).clamp_min(1e-6))
        self.width = int(self.mean.numel())

    def forward(self, batch: dict[str, Any], keep: Any = None) -> torch.Tensor:
        x = batch["obs"].float()
        return (x.reshape(x.shape[0], x.shape[1], -1) - self.mean) / self.std


def raw_policy(bundle: Any, fraction: float, seed: int, config: dict[str, Any]):
    """The raw-state behaviour-cloning policy: the evaluation's head, ``flat`` pooling, on
    :class:`RawEncoder`."""
    from .evaluate import fit_head

    data = bundle.pretrain.control
    return fit_head(RawEncoder(data.info), data, fraction, seed, config, pool="flat")


@per_dataset
def _flat(dataset: Any) -> np.ndarray:
    obs = np.stack([dataset[i]["obs"] for i in range(len(dataset))])
    return obs.reshape(len(obs), -1)


def raw_linear(task: Any, train_indices: list[int], seed: int) -> np.ndarray:
    """Linear probe (the core's ridge) on the flattened raw window."""
    x_tr, x_te = _flat(task.train), _flat(task.test)
    y_tr = labels_of(task.train)[np.asarray(train_indices, dtype=int)]
    return fit_predict("linear", task.kind, x_tr[np.asarray(train_indices, dtype=int)], y_tr, x_te, None, seed)


__all__ = ["RawEncoder", "raw_linear", "raw_policy"]
