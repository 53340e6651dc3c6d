"""RankMe, the effective rank of a set of embeddings: what the collapse guard watches
during pretraining and what evaluation and the sweep report afterwards. Its own module
so that :mod:`jepakit.collapse` (which training imports) needs nothing of
:mod:`jepakit.evaluate`."""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import check


def rankme(z: torch.Tensor | np.ndarray, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): ``exp(-sum p log p)`` with ``p = s / ||s||_1 + eps``
    over the singular values ``s`` of the embedding matrix ``z`` (N, D)."""
    z = torch.as_tensor(z)
    check(z.ndim == 2, f"rankme expects (N, D), got {tuple(z.shape)}")
    s = torch.linalg.svdvals(z.double())
    p = s / s.sum().clamp_min(1e-300) + eps
    return float(math.exp(float(-(p * p.log()).sum())))
