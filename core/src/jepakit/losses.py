"""Prediction losses and the variance hinge, all weighted per target token."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import unknown


def _per_token(name: str, pred: Tensor, target: Tensor) -> Tensor:
    if name == "smooth_l1":
        return F.smooth_l1_loss(pred, target, reduction="none").mean(-1)
    if name == "l1":
        return (pred - target).abs().mean(-1)
    if name == "mse":
        return (pred - target).pow(2).mean(-1)
    if name == "cosine":
        return 1.0 - F.cosine_similarity(pred, target, dim=-1, eps=1e-6)
    raise unknown("loss", name, LOSSES)


LOSSES = ("smooth_l1", "l1", "mse", "cosine")
_FUSED = {"smooth_l1": F.smooth_l1_loss, "l1": F.l1_loss, "mse": F.mse_loss}


def prediction_loss(name: str, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean per-token loss between ``pred`` and ``target`` (``(..., D)``), weighted by
    ``weight`` (``(...)``) when given."""
    if weight is None and name in _FUSED:
        # unweighted: the mean over all elements equals the mean of per-token means, in one pass
        return _FUSED[name](pred.float(), target.float())
    per = _per_token(name, pred.float(), target.float())
    if weight is None:
        return per.mean()
    weight = weight.to(per.dtype)
    return (per * weight).sum() / weight.sum().clamp_min(1e-8)


def variance_hinge(x: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """VICReg's variance term: mean over features of relu(gamma - std) across all rows
    of ``x`` flattened to (rows, D); it stops every feature collapsing to a constant."""
    flat = x.reshape(-1, x.shape[-1]).float()
    std = torch.sqrt(flat.var(dim=0) + eps)
    return F.relu(gamma - std).mean()
