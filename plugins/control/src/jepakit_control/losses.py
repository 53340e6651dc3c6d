"""ACT-JEPA's two declared losses, and the action-chunk head they train.

``act-jepa`` = ``jepa_weight`` x (the predictor's embeddings of the future steps against
the target encoder's, ``jepa`` loss) + ``action_weight`` x (the action head's chunk against
the demonstrated one, MSE in standardised action units, over the batch's *labelled*
items only). Each part is logged (``jepa_loss``, ``action_loss``); neither is padded into
the other. ``action_weight: 0`` is JEPA-only pretraining; ``jepa_weight: 0`` is behaviour
cloning with chunks (ACT without its CVAE).

The action head reads the context encoder's tokens (``out["context"]``: the past steps,
in time order), pooled (``pool``: ``mean``, ``last`` -- the current step --,
``mean+last`` or ``flat``), through an MLP to ``chunk x action_dim`` standardised actions.
It lives in the loss, not the predictor, because the core's predictor conformance check
(``jepakit.testing.check_predictor``) accepts only a tensor, not the ``{"pred",
"actions"}`` dict that contract v2 lets a predictor return; its weights are saved under
``loss.head.*`` and the evaluation reads them from there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jepakit.contract import Loss
from jepakit.kit import check
from jepakit.losses import BUILTIN_LOSSES

POOLS = ("mean", "last", "mean+last", "flat")


def pooled(tokens: Tensor, pool: str) -> Tensor:
    """``(B, T, W)`` past-step tokens -> ``(B, F)`` features."""
    if pool == "mean":
        return tokens.mean(1)
    if pool == "last":
        return tokens[:, -1]
    if pool == "mean+last":
        return torch.cat([tokens.mean(1), tokens[:, -1]], dim=1)
    return tokens.flatten(1)


def pooled_dim(width: int, window: int, pool: str) -> int:
    return {"mean": width, "last": width, "mean+last": 2 * width, "flat": window * width}[pool]


class ActionHead(nn.Module):
    """Pooled tokens -> a chunk of ``chunk`` standardised actions (``forward``) or raw
    ones (:meth:`actions`). ``width``: the token width (``dim``)."""

    def __init__(self, width: int, window: int, chunk: int, action_dim: int, hidden: int = 128, pool: str = "mean+last",
                 action_mean: Sequence[float] | None = None, action_std: Sequence[float] | None = None):
        super().__init__()
        check(pool in POOLS, f"action head pool must be one of {', '.join(POOLS)}, got {pool!r}")
        check(int(hidden) >= 1, f"hidden must be >= 1, got {hidden}")
        self.pool, self.chunk, self.action_dim = pool, int(chunk), int(action_dim)
        n_in = pooled_dim(int(width), int(window), pool)
        # no input LayerNorm: over a raw window's features it divides out the very values the
        # action depends on (raw-state cloning reached MSE 0.21 with it, see the README); the
        # encoder's tokens come out of its own final LayerNorm already
        h = int(hidden)
        self.net = nn.Sequential(nn.Linear(n_in, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, self.chunk * self.action_dim))
        mean = torch.zeros(self.action_dim) if action_mean is None else torch.tensor([float(x) for x in action_mean])
        std = torch.ones(self.action_dim) if action_std is None else torch.tensor([float(x) for x in action_std])
        self.register_buffer("mean", mean, persistent=False)  # from the data's info on every load
        self.register_buffer("std", std.clamp_min(1e-6), persistent=False)

    def from_features(self, feats: Tensor) -> Tensor:
        return self.net(feats).reshape(feats.shape[0], self.chunk, self.action_dim)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.from_features(pooled(tokens, self.pool))

    def standardise(self, actions: Tensor) -> Tensor:
        return (actions.to(self.mean.dtype) - self.mean) / self.std

    def actions(self, tokens: Tensor) -> Tensor:
        return self(tokens) * self.std + self.mean


class ActJepaLoss(Loss):
    def __init__(self, dim: int, window: int, chunk: int, action_dim: int, action_mean: Sequence[float] | None = None,
                 action_std: Sequence[float] | None = None, jepa_weight: float = 1.0, action_weight: float = 1.0,
                 jepa: str = "smooth_l1", hidden: int = 128, pool: str = "mean+last"):
        super().__init__()
        check(float(jepa_weight) >= 0 and float(action_weight) >= 0 and float(jepa_weight) + float(action_weight) > 0,
              f"jepa_weight and action_weight must be >= 0 and not both 0, got {jepa_weight} and {action_weight}")
        check(jepa in BUILTIN_LOSSES, f"jepa must be one of {', '.join(BUILTIN_LOSSES)}, got {jepa!r}")
        self.jepa_weight, self.action_weight = float(jepa_weight), float(action_weight)
        self.jepa = BUILTIN_LOSSES[jepa]()
        self.head = ActionHead(dim, window, chunk, action_dim, hidden, pool, action_mean, action_std)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None, out: dict, batch: dict) -> Tensor:
        jepa = self.jepa(pred, target, weight)
        z = self.head(out["context"])
        y = self.head.standardise(batch["actions"]).to(z.dtype)
        err = (z - y).pow(2).mean(dim=(1, 2))  # per item, standardised units
        labelled = batch["labelled"].reshape(-1) > 0.5
        # items without actions to imitate are left out (selected, not multiplied: their
        # stored zeros never enter the loss); a batch without any gives 0 with a graph
        action = err[labelled].mean() if bool(labelled.any()) else err.sum() * 0.0
        out["jepa_loss"], out["action_loss"] = jepa, action
        out["labelled_items"] = labelled.float().sum()
        return self.jepa_weight * jepa + self.action_weight * action


__all__ = ["POOLS", "ActJepaLoss", "ActionHead", "pooled", "pooled_dim"]
