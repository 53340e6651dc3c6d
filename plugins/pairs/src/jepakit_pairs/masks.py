"""The cross-modal "mask": one modality is the context, the other the target, whole.

Contrastive retrieval needs each modality embedded *alone* (a query clip has no music
yet), so the context encoder sees only the query segment's tokens and the target encoder
only the other segment's -- never both in one attention. The target is given as
``groups`` identical groups, one per projection head (group 0: the self-supervised
head, group 1: the label head), so that the predictor, the target and the loss of this
plugin keep the core's ``(B, M, Nt, D)`` shapes: group ``j`` of a prediction is head
``j``'s embedding of the query, broadcast over the group's tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor

from jepakit.contract import Layout, Masker, Masks
from jepakit.kit import check


class CrossModalMasker(Masker):
    """Context: the ``query`` segment's tokens; targets: ``groups`` copies of the other
    segment's. ``drop``: a share of the query tokens left out of each sample's context
    (FLIP-style token dropout, drawn from the step's generator; 0 keeps all)."""

    def __init__(self, query: str = "video", groups: int = 2, drop: float = 0.0):
        check(int(groups) >= 1, f"masker.groups must be >= 1, got {groups}")
        check(0.0 <= float(drop) < 1.0, f"masker.drop must be in [0, 1), got {drop}")
        self.query, self.groups, self.drop = str(query), int(groups), float(drop)

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Masks:
        names = [s.name for s in layout.segments]
        check(len(names) == 2, f"the pair masker needs a layout of two segments, got {names or 'an unsegmented one'}")
        check(self.query in names, f"masker.query {self.query!r} is not a segment of the layout {names}")
        key = next(n for n in names if n != self.query)
        qs, qe = layout.span(self.query)
        ks, ke = layout.span(key)
        context: Tensor = torch.arange(qs, qe).expand(batch_size, -1)
        if self.drop > 0:
            keep = max(1, int(round((qe - qs) * (1.0 - self.drop))))
            order = torch.rand(batch_size, qe - qs, generator=generator).argsort(dim=1)[:, :keep]
            context = (order.sort(dim=1).values + qs)
        target = torch.arange(ks, ke).expand(batch_size, self.groups, -1)
        return Masks(context.contiguous(), target.contiguous())


__all__ = ["CrossModalMasker"]
