"""The slice masker: masked slice-embedding prediction's masks over the slices of a
volume (or the views of an image).

Per sample, ``num_targets`` blocks of consecutive valid slices are the targets and the
remaining valid slices the context; the blocks' length is ``scale`` of the slices (one
draw per batch, so every sample has the same number of tokens). With the defaults on 16
slices: two blocks of 2-4 slices, 25-50 % of the volume hidden, a span a neighbour-copy
cannot bridge for the middle slices of a 4-slice block.

Invalid (padding) slices fill what a sample lacks, so that every sample has the same
``Nc`` context and ``Nt`` target tokens without repeating any: pads in the context are
the learned pad token the full view also sees, pads among the targets get loss weight 0.
A 2-slice item (a pretraining image: two views of it) has its first view as context and
its second as the one target; a 1-slice item (an image at evaluation) has nothing to
predict and only pads as targets (weight 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from jepakit import Layout, Masker, Masks
from jepakit.kit import check, draw_uniform, scale_pair


class SliceMasker(Masker):
    """``num_targets`` blocks of consecutive valid slices as targets, the other valid
    slices as context (see the module doc). ``scale``: each block's length as a share of
    the grid's slices, drawn per batch (at least 1 slice, and at least 1 context slice
    left)."""

    def __init__(self, num_targets: int = 2, scale: Sequence[float] = (0.15, 0.25)):
        check(int(num_targets) >= 1, f"num_targets must be >= 1, got {num_targets}")
        self.num_targets = int(num_targets)
        self.scale = scale_pair(scale, "scale")

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Masks:
        check(len(layout.grid) == 1, f"the slice masker needs a 1-D grid of slices, got grid {layout.grid}")
        s, m = layout.num_tokens, self.num_targets
        check(s >= m + 1, f"the slice masker needs more slices ({s}) than target blocks ({m})")
        nt = max(1, round(draw_uniform(self.scale, generator) * s))
        nt = min(nt, (s - 1) // m)
        nc = s - m * nt
        valid = layout.flags.get("valid")
        contexts, targets, weights = [], [], []
        for b in range(batch_size):
            ok = torch.ones(s, dtype=torch.bool) if valid is None else valid[b].to(torch.bool).cpu()
            v, pads = ok.nonzero().flatten(), (~ok).nonzero().flatten()
            pads = pads[torch.randperm(pads.numel(), generator=generator)]
            nv = v.numel()
            k = [0] * m
            for r in range(min(m * nt, max(nv - 1, 0))):  # valid targets, round-robin over the groups
                k[r % m] += 1
            free = nv - sum(k)
            cuts = torch.randint(0, free + 1, (m,), generator=generator).sort().values.tolist() if free > 0 else [0] * m
            gaps = [b_ - a_ for a_, b_ in zip([0, *cuts], [*cuts, max(free, 0)])]
            order = torch.randperm(m, generator=generator).tolist()
            blocks: list[torch.Tensor] = [v[:0]] * m
            pos = gaps[0]
            for i, j in enumerate(order):
                blocks[j] = v[pos : pos + k[j]]
                pos += k[j] + gaps[i + 1]
            taken = torch.zeros(s, dtype=torch.bool)
            for blk in blocks:
                taken[blk] = True
            ctx = v[~taken[v]]
            used = 0
            groups, gw = [], []
            for j in range(m):
                fill = pads[used : used + nt - k[j]]
                used += nt - k[j]
                idx = torch.cat([blocks[j], fill])
                w = torch.cat([torch.ones(k[j]), torch.zeros(fill.numel())])
                order_j = idx.argsort()
                groups.append(idx[order_j])
                gw.append(w[order_j])
            ctx = torch.cat([ctx, pads[used : used + nc - ctx.numel()]]).sort().values
            contexts.append(ctx)
            targets.append(torch.stack(groups))
            weights.append(torch.stack(gw))
        weight = torch.stack(weights).float()
        return Masks(torch.stack(contexts).long(), torch.stack(targets).long(), None if bool((weight == 1).all()) else weight)


__all__ = ["SliceMasker"]
