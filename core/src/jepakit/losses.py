"""Prediction losses (the built-ins of the ``loss`` registry, weighted per target token),
the variance hinge and the covariance penalty (the ``variance`` and ``covariance``
regularizers' statistics, :mod:`jepakit.regularizers`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .contract import Loss
from .errors import check, unknown


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


class TokenLoss(Loss):
    """A per-token distance between prediction and target, averaged over the target
    tokens (weighted by the masks' weights when a masker gives them)."""

    kind = "smooth_l1"

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
        return prediction_loss(self.kind, pred, target, weight)


class SmoothL1Loss(TokenLoss):
    """Smooth L1 (Huber, beta 1) per token: I-JEPA's loss."""

    kind = "smooth_l1"


class L1Loss(TokenLoss):
    """Mean absolute difference per token."""

    kind = "l1"


class MSELoss(TokenLoss):
    """Mean squared difference per token."""

    kind = "mse"


class CosineLoss(TokenLoss):
    """1 - cosine similarity per token: scale-free, for targets whose norm drifts."""

    kind = "cosine"


def _rows(pred: Tensor, target: Tensor, weight: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(N, D)`` predictions and targets of every target token with a non-zero weight."""
    p, t = pred.reshape(-1, pred.shape[-1]).float(), target.reshape(-1, target.shape[-1]).float()
    if weight is not None:
        keep = weight.reshape(-1) > 0
        p, t = p[keep], t[keep]
    return p, t


class _Temperature(torch.nn.Module):
    """A softmax temperature, fixed or learned (as CLIP learns its logit scale: the log
    of 1 / temperature is the parameter, clamped so the scale stays <= 100)."""

    def __init__(self, temperature: float, learn: bool):
        super().__init__()
        check(float(temperature) > 0, f"temperature must be > 0, got {temperature}")
        value = torch.tensor(-float(torch.log(torch.tensor(float(temperature)))))
        if learn:
            self.log_scale = torch.nn.Parameter(value)
        else:
            self.register_buffer("log_scale", value, persistent=False)

    def no_weight_decay(self) -> set[str]:
        return {"log_scale"}

    def scale(self) -> Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()


class InfoNCELoss(Loss):
    """InfoNCE between predictions and targets: every target token's prediction must pick
    its own target among all the batch's target tokens (cosine similarity / temperature,
    cross-entropy on the matching pair). ``symmetric`` also asks each target to pick its
    prediction (CLIP's two directions, averaged). With ``M = Nt = 1`` (one pooled
    embedding per item and side) it is the contrastive loss between two views or
    modalities of an item. ``temperature`` is fixed, or learned with ``learn_temperature``."""

    def __init__(self, temperature: float = 0.1, symmetric: bool = True, learn_temperature: bool = False):
        super().__init__()
        self.symmetric = bool(symmetric)
        self.temperature = _Temperature(temperature, bool(learn_temperature))

    def logits(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        p, t = _rows(pred, target, weight)
        return F.normalize(p, dim=-1) @ F.normalize(t, dim=-1).T * self.temperature.scale()

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
        logits = self.logits(pred, target, weight)
        labels = torch.arange(logits.shape[0], device=logits.device)
        loss = F.cross_entropy(logits, labels)
        return 0.5 * (loss + F.cross_entropy(logits.T, labels)) if self.symmetric else loss


class SupConLoss(InfoNCELoss):
    """Supervised contrastive loss (Khosla et al. 2020, the "out" form): every target token
    whose item shares the prediction's label is a positive (the mean log-probability
    over positives), items of other labels are negatives. Labels come from the batch's
    ``label_key`` (one per item; ``ignore`` = no label: then only its own target is a
    positive, which is InfoNCE). ``symmetric`` as for InfoNCE."""

    lower_at_target = False  # other items of the label are positives too

    def __init__(self, temperature: float = 0.1, symmetric: bool = True, learn_temperature: bool = False,
                 label_key: str = "label", ignore: int = -1):
        super().__init__(temperature, symmetric, learn_temperature)
        self.label_key, self.ignore = str(label_key), int(ignore)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None, batch: dict) -> Tensor:
        check(self.label_key in batch, f"supcon needs the batch's {self.label_key!r} (label_key); its keys: {sorted(batch)}")
        b, m, nt = pred.shape[:3]
        y = torch.as_tensor(batch[self.label_key], device=pred.device).reshape(b).long()
        y = y.repeat_interleave(m * nt)  # one label per target token, in (B, M, Nt) order
        if weight is not None:
            y = y[weight.reshape(-1) > 0]
        eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
        positive = ((y.unsqueeze(0) == y.unsqueeze(1)) & (y.unsqueeze(1) != self.ignore)) | eye
        logits = self.logits(pred, target, weight)
        loss = _positives_nll(logits, positive)
        return 0.5 * (loss + _positives_nll(logits.T, positive.T)) if self.symmetric else loss


def _positives_nll(logits: Tensor, positive: Tensor) -> Tensor:
    """Mean over rows of -(mean log-softmax over the row's positives)."""
    logp = logits.log_softmax(dim=1)
    return -((logp * positive).sum(1) / positive.sum(1)).mean()


BUILTIN_LOSSES: dict[str, type[Loss]] = {
    "smooth_l1": SmoothL1Loss, "l1": L1Loss, "mse": MSELoss, "cosine": CosineLoss, "infonce": InfoNCELoss,
}


def across_samples(x: Tensor, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Deviations of each row from the mean over samples, and the degrees of freedom.

    ``x`` (B, D): rows minus the batch mean. ``x`` (B, n, D) with ``idx`` (B, n) the grid
    positions of the tokens: each token minus the mean of the tokens at its position over
    the samples that have one there (positions held by one sample only are skipped);
    without ``idx`` slot j is position j. Returns ``(resid (rows, D), dof)``.
    """
    x = x.float()
    if x.ndim == 2:
        return x - x.mean(0, keepdim=True), x.new_tensor(max(x.shape[0] - 1, 1))
    b, n, d = x.shape
    if idx is None:
        idx = torch.arange(n, device=x.device).expand(b, n)
    flat, pos = x.reshape(-1, d), idx.reshape(-1)
    size = int(pos.max()) + 1
    count = torch.zeros(size, device=x.device, dtype=x.dtype).index_add_(0, pos, torch.ones_like(pos, dtype=x.dtype))
    mean = torch.zeros(size, d, device=x.device, dtype=x.dtype).index_add_(0, pos, flat) / count.clamp_min(1.0).unsqueeze(-1)
    shared = count[pos] > 1
    return (flat - mean[pos])[shared], (count[count > 1] - 1).sum().clamp_min(1.0)


def variance_hinge(x: Tensor, gamma: float = 1.0, idx: Tensor | None = None, eps: float = 1e-4) -> Tensor:
    """VICReg's variance term, across *samples*: mean over features of relu(gamma - std),
    the std of each feature taken over the samples (at each position, see
    :func:`across_samples`). A code that depends on the position but not on the item has
    std 0 and pays the full hinge; a std over all tokens flattened is satisfied by such
    position codes and lets across-sample collapse through. The hinge alone is also met
    by one large direction of variation; :func:`covariance_penalty` rules that out.
    """
    resid, dof = across_samples(x, idx)
    std = torch.sqrt(resid.pow(2).sum(0) / dof + eps)
    return F.relu(gamma - std).mean()


def covariance_penalty(x: Tensor, idx: Tensor | None = None) -> Tensor:
    """VICReg's covariance term across samples: the squared off-diagonal covariances of
    the features over the samples (at each position), summed and divided by the width."""
    resid, dof = across_samples(x, idx)
    cov = resid.T @ resid / dof
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / x.shape[-1]
