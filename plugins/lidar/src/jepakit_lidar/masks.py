"""Empty-aware BEV masking (AD-L-JEPA): occupied and empty cells are split into context
and targets separately, and empty target cells get their own loss weight."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from jepakit import Layout
from jepakit.kit import SampleMasker, block_mask, block_shape, check, draw_uniform, scale_pair


def _take(idx: Tensor, ratio: float, g: torch.Generator) -> Tensor:
    """A random ``ratio`` share of ``idx`` (at least one when ``idx`` is non-empty)."""
    if idx.numel() == 0 or ratio <= 0:
        return idx[:0]
    k = max(1, int(round(ratio * idx.numel())))
    return idx[torch.randperm(idx.numel(), generator=g)[:k]].sort().values


class BEVMasker(SampleMasker):
    """Target regions are ``num_targets`` BEV blocks (``mode="block"``, scale
    ``target_scale`` of the grid and aspect ``aspect_ratio``) or random cell subsets of
    that share (``mode="random"``). Inside a region every occupied cell is a target and a
    ``target_empty_ratio`` share of the empty cells; outside all regions a
    ``context_ratio`` share of the occupied cells and a ``context_empty_ratio`` share of
    the empty cells form the context. Target weights are 1 for occupied cells and
    ``empty_weight`` for empty ones. Occupancy comes from ``layout.flags["occupied"]``.
    """

    def __init__(
        self,
        num_targets: int = 4,
        mode: str = "block",
        target_scale: Sequence[float] = (0.1, 0.15),
        aspect_ratio: Sequence[float] = (0.75, 1.5),
        target_empty_ratio: float = 0.5,
        context_ratio: float = 1.0,
        context_empty_ratio: float = 0.5,
        empty_weight: float = 0.5,
    ):
        check(num_targets >= 1, f"num_targets must be >= 1, got {num_targets}")
        check(mode in ("block", "random"), f"mode must be 'block' or 'random', got {mode!r}")
        for name, v in (("target_empty_ratio", target_empty_ratio), ("context_ratio", context_ratio), ("context_empty_ratio", context_empty_ratio)):
            check(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
        check(context_ratio > 0 or context_empty_ratio > 0, "the context needs occupied or empty cells")
        check(empty_weight >= 0, f"empty_weight must be >= 0, got {empty_weight}")
        self.num_targets, self.mode = int(num_targets), mode
        self.target_scale = scale_pair(target_scale, "target_scale")
        check(self.target_scale[1] * num_targets < 1.0, "num_targets * target_scale must leave room for the context")
        self.aspect_ratio = scale_pair(aspect_ratio, "aspect_ratio")
        self.target_empty_ratio, self.context_ratio = float(target_empty_ratio), float(context_ratio)
        self.context_empty_ratio, self.empty_weight = float(context_empty_ratio), float(empty_weight)

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        self._scale = draw_uniform(self.target_scale, generator)
        self._shape = block_shape(layout.grid, self._scale, draw_uniform(self.aspect_ratio, generator), 1.0)

    def _region(self, layout: Layout, g: torch.Generator) -> Tensor:
        n = layout.num_tokens
        if self.mode == "block":
            return block_mask(layout.grid, self._shape, g)
        region = torch.zeros(n, dtype=torch.bool)
        region[torch.randperm(n, generator=g)[: max(1, round(self._scale * n))]] = True
        return region

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        n = layout.num_tokens
        occ_flags = layout.flags.get("occupied")
        occ = torch.ones(n, dtype=torch.bool) if occ_flags is None else occ_flags[b].bool().cpu()
        covered = torch.zeros(n, dtype=torch.bool)
        targets, weights = [], []
        for _ in range(self.num_targets):
            region = self._region(layout, generator)
            covered |= region
            t_occ = (region & occ).nonzero().flatten()
            t_empty = _take((region & ~occ).nonzero().flatten(), self.target_empty_ratio, generator)
            t = torch.cat([t_occ, t_empty])
            if t.numel() == 0:  # a region of empty cells with target_empty_ratio 0
                t = region.nonzero().flatten()[:1]
            order = torch.argsort(t)
            w = torch.where(occ[t], 1.0, self.empty_weight)
            targets.append(t[order])
            weights.append(w[order])
        free = ~covered
        c = torch.cat([
            _take((free & occ).nonzero().flatten(), self.context_ratio, generator),
            _take((free & ~occ).nonzero().flatten(), self.context_empty_ratio, generator),
        ]).sort().values
        if c.numel() == 0:  # every cell was covered by a target: keep one free-most cell
            c = free.nonzero().flatten()[:1] if free.any() else torch.zeros(1, dtype=torch.long)
        return c, targets, weights
