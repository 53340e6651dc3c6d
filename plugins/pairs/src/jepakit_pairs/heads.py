"""The two towers' projection heads, as a registered predictor (the query side) and a
registered target (the key side, with gradient: both towers learn, as in CLIP).

Each side pools its modality's tokens (mean over the segment) and projects the pooled
vector through one head per target group: head 0 is trained by InfoNCE between the pair
(self-supervised), head 1 by supervised contrast on the labels. Retrieval mixes the two
heads' similarities with a weight chosen at query time (:mod:`jepakit_pairs.retrieval`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from jepakit.contract import Batch, Encoder, Masks, Target
from jepakit.kit import check


def _head(width: int, hidden: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, out))


class Heads(nn.Module):
    """``heads`` MLP heads on one pooled vector: ``(B, width)`` -> ``(B, heads, out)``."""

    def __init__(self, width: int, hidden: int, out: int, heads: int = 2):
        super().__init__()
        self.heads = nn.ModuleList(_head(int(width), int(hidden), int(out)) for _ in range(int(heads)))

    def forward(self, pooled: Tensor) -> Tensor:
        return torch.stack([h(pooled) for h in self.heads], dim=1)


def _broadcast(z: Tensor, masks: Masks) -> Tensor:
    """``(B, M, D)`` head outputs as ``(B, M, Nt, D)`` predictions at the target tokens."""
    b, m, nt = masks.target.shape
    check(z.shape[1] == m, f"the pair heads give {z.shape[1]} embeddings, the masks {m} target groups; set masker.groups={z.shape[1]}")
    return z.unsqueeze(2).expand(b, m, nt, z.shape[-1])


class QueryHeads(nn.Module):
    """The query tower's heads: mean of the context tokens (the query modality), one
    projection per target group. ``hidden``: the heads' hidden width (default
    ``model.pred_width``)."""

    def __init__(self, width: int, out_dim: int, pred_width: int = 64, hidden: int | None = None, num_prefix: int = 0,
                 heads: int = 2):
        super().__init__()
        self.num_prefix = int(num_prefix)
        self.proj = Heads(width, hidden or pred_width, out_dim, heads)

    def pooled(self, context: Tensor) -> Tensor:
        return context[:, self.num_prefix :].mean(1)

    def forward(self, context: Tensor, masks: Masks, batch: Batch) -> Tensor:
        return _broadcast(self.proj(self.pooled(context)), masks)


class KeyHeads(Target):
    """The key tower: the online backbone over the target tokens alone (the other
    modality; no attention to the query), mean-pooled, one projection per target group.
    Trained with the encoder (``needs_grad``); ``proj_dim`` is the joint space's width."""

    needs_grad = True

    def __init__(self, dim: int, proj_dim: int = 32, hidden: int = 64, heads: int = 2):
        super().__init__()
        self.dim = int(proj_dim)
        self.proj = Heads(dim, hidden, proj_dim, heads)

    def pooled(self, model: Encoder, batch: Batch, idx: Tensor) -> Tensor:
        p = model.backbone.num_prefix
        return model.backbone(batch, idx)[:, p:].mean(1)

    def forward(self, model: Encoder, batch: Batch, masks: Masks) -> Tensor:
        groups = masks.target
        if all(torch.equal(groups[:, 0], groups[:, j]) for j in range(1, groups.shape[1])):
            z = self.proj(self.pooled(model, batch, groups[:, 0]))  # one pass serves every head
        else:  # groups of different tokens: each head sees its own
            z = torch.stack([self.proj.heads[j](self.pooled(model, batch, groups[:, j])) for j in range(groups.shape[1])], 1)
        return _broadcast(z, masks)


__all__ = ["Heads", "KeyHeads", "QueryHeads"]
