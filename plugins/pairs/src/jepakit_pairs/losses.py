"""The semi-supervised contrastive loss: the core's ``infonce`` between the paired
embeddings of head 0 plus its ``supcon`` on the labels between those of head 1, mixed
``(1 - alpha) * InfoNCE + alpha * SupCon`` (Control-MVR's two objectives, Stewart et al.
2024, arXiv:2412.05831)."""

from __future__ import annotations

import torch
from torch import Tensor

from jepakit.contract import Loss
from jepakit.kit import check


def pooled(x: Tensor, j: int, weight: Tensor | None = None) -> Tensor:
    """Group ``j`` of ``(B, M, Nt, D)`` averaged over its tokens, as ``(B, 1, 1, D)``."""
    g = x[:, min(j, x.shape[1] - 1)].float()
    if weight is None:
        return g.mean(1)[:, None, None]
    w = weight[:, min(j, weight.shape[1] - 1)].to(g.dtype).unsqueeze(-1)
    return ((g * w).sum(1) / w.sum(1).clamp_min(1e-8))[:, None, None]


class SemiSupervisedContrastive(Loss):
    """``(1 - alpha) * InfoNCE(group 0) + alpha * SupCon(group 1)``.

    InfoNCE (symmetric, the core's ``infonce``): each query's head-0 embedding must pick
    its own pair's among the batch's. SupCon (the core's ``supcon``): the head-1
    embeddings of items sharing the batch's ``label_key`` are positives; it is computed
    over the *labelled* items only (label != ``ignore``), so unlabelled pairs train the
    self-supervised head alone and never push the label head towards instance
    discrimination. ``alpha`` 0 is self-supervised only, 1 label-supervised only.
    Temperatures are learned from ``temperature`` (CLIP's form) unless
    ``learn_temperature`` is false. The parts are logged as ``infonce`` and ``supcon``."""

    def __init__(self, alpha: float = 0.5, temperature: float = 0.1, label_temperature: float = 0.1,
                 learn_temperature: bool = True, label_key: str = "genre", ignore: int = -1):
        super().__init__()
        from jepakit.losses import InfoNCELoss, SupConLoss

        check(0.0 <= float(alpha) <= 1.0, f"loss.alpha is the label objective's weight in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.label_key, self.ignore = str(label_key), int(ignore)
        self.ssl = InfoNCELoss(temperature, True, learn_temperature)
        self.sup = SupConLoss(label_temperature, True, learn_temperature, label_key=self.label_key, ignore=self.ignore)
        # InfoNCE is lowest when each prediction equals its target; SupCon alone is not
        self.lower_at_target = self.alpha < 1.0

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None, out: dict, batch: dict) -> Tensor:
        total = pred.new_zeros((), dtype=torch.float32)
        if self.alpha < 1.0:
            nce = self.ssl(pooled(pred, 0, weight), pooled(target, 0, weight), None)
            out["infonce"] = nce.detach()
            total = total + (1.0 - self.alpha) * nce
        if self.alpha > 0.0:
            check(self.label_key in batch, f"loss.alpha > 0 needs labels in the batch's {self.label_key!r}; its keys: {sorted(batch)}")
            y = torch.as_tensor(batch[self.label_key], device=pred.device).reshape(-1).long()
            known = y != self.ignore
            p1, t1 = pooled(pred, 1, weight), pooled(target, 1, weight)
            if int(known.sum()) >= 2:
                sup = self.sup(p1[known], t1[known], None, batch={self.label_key: y[known]})
            else:  # fewer than two labelled pairs: nothing to contrast, no gradient
                sup = (p1.sum() + t1.sum()) * 0.0
            out["supcon"] = sup.detach()
            total = total + self.alpha * sup
        return total


__all__ = ["SemiSupervisedContrastive", "pooled"]
