"""seq-JEPA's loss: the predicted embedding of the next view against that view's pooled
target embedding (the EMA encoder's tokens of the view, mean-pooled), per sequence.

``kind``: ``cosine`` (default; 1 - cosine similarity, scale-free -- our choice for a
pooled embedding of layer-normed tokens, not a number from the paper), ``mse`` or
``smooth_l1``. Rows whose masks weight is 0 (the context views of the ``seq-views``
masker) do not count.

``center`` (default true): the targets' mean over the batch's weighted rows is taken out
before comparing (the targets carry no gradient, so this only moves what is predicted).
The mean of an image's layer-normed tokens is mostly a direction every image shares: in a
20-step check on the shapes, the uncentred cosine loss fell to 0.002 (predicting that
shared direction) while saying nothing about the view; centred, the prediction must
carry what differs between views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from jepakit.contract import Loss
from jepakit.kit import check

KINDS = ("cosine", "mse", "smooth_l1")


class PooledViewLoss(Loss):
    """seq-JEPA's loss (see the module doc).

    Args:
        kind: ``cosine``, ``mse`` or ``smooth_l1`` between the pooled prediction and target.
        center: take the targets' batch mean out before comparing.
    """

    def __init__(self, kind: str = "cosine", center: bool = True):
        super().__init__()
        check(kind in KINDS, f"loss.kind must be one of {', '.join(KINDS)}, got {kind!r}")
        check(isinstance(center, bool), f"loss.center must be true or false, got {center!r}")
        self.kind, self.center = kind, center

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
        p = pred.float().mean(2)  # (R, M, D): the prediction is one vector per row, broadcast over tokens
        t = target.float().mean(2)
        if self.center:
            w = torch.ones_like(t[..., 0]) if weight is None else weight.float().mean(2)
            mean = (t * w.unsqueeze(-1)).sum((0, 1)) / w.sum().clamp_min(1e-8)
            t = t - mean
        if self.kind == "cosine":
            per = 1.0 - F.cosine_similarity(p, t, dim=-1, eps=1e-6)
        elif self.kind == "mse":
            per = (p - t).pow(2).mean(-1)
        else:
            per = F.smooth_l1_loss(p, t, reduction="none").mean(-1)
        if weight is None:
            return per.mean()
        w = weight.float().mean(2)  # (R, M)
        return (per * w).sum() / w.sum().clamp_min(1e-8)


__all__ = ["PooledViewLoss"]
