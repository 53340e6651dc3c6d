"""Built-in view sampler: global and local views as blocks (or random subsets) of the
token grid, for the multi-view LeJEPA recipe.

A view keeps a block of the grid -- a time window of a 1-D grid, a rectangle of a 2-D
one, a box of a 3-D one -- so every domain gets multi-crop views through the tokenizer's
``keep`` without code of its own. Positions keep their absolute embedding (a view is a
crop that is not resized). Block shapes are drawn once per view and batch, positions per
sample, so a view has the same number of tokens in every sample; tokens flagged invalid
are dropped and the view trimmed to the shortest sample, as the maskers do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .contract import Layout, Views, ViewSampler
from .errors import check
from .masks import _block_mask, _pair, _subset, _uniform


def view_shape(grid: tuple[int, ...], scale: float, aspect: float) -> tuple[int, ...]:
    """Extents of a block holding ``scale`` of an N-D grid: every axis is cut by
    ``scale ** (1 / N)``, the last two stretched by ``aspect`` (height / width)."""
    d = len(grid)
    f = scale ** (1.0 / d)
    factors = [f] * d
    if d >= 2:
        factors[-2] *= math.sqrt(aspect)
        factors[-1] /= math.sqrt(aspect)
    return tuple(max(1, min(n, round(n * c))) for n, c in zip(grid, factors))


class BlockViews(ViewSampler):
    """``global_views`` large and ``local_views`` small views per sample.

    ``mode="block"``: each view is a block of the grid covering ``global_scale`` /
    ``local_scale`` of it (drawn uniformly), aspect ``aspect_ratio`` on 2-D and 3-D grids.
    ``mode="random"``: each view is a random subset of that share of the tokens, for grids
    whose neighbours mean nothing (table columns). Defaults follow LeJEPA's image recipe
    (2 global crops of 30-100 %, local crops of 5-30 %), with 4 local views instead of 6
    for CPU budgets.
    """

    def __init__(
        self,
        global_views: int = 2,
        local_views: int = 4,
        global_scale: Sequence[float] = (0.3, 1.0),
        local_scale: Sequence[float] = (0.05, 0.3),
        aspect_ratio: Sequence[float] = (0.75, 1.5),
        mode: str = "block",
    ):
        check(int(global_views) >= 1, f"global_views must be >= 1 (the invariance target is their mean), got {global_views}")
        check(int(local_views) >= 0, f"local_views must be >= 0, got {local_views}")
        check(int(global_views) + int(local_views) >= 2, "LeJEPA needs at least two views")
        check(mode in ("block", "random"), f"mode must be 'block' or 'random', got {mode!r}")
        self.global_views, self.local_views, self.mode = int(global_views), int(local_views), mode
        self.global_scale = _pair(global_scale, "global_scale")
        self.local_scale = _pair(local_scale, "local_scale")
        check(max(self.global_scale[1], self.local_scale[1]) <= 1.0, "view scales must be <= 1")
        self.aspect_ratio = _pair(aspect_ratio, "aspect_ratio")

    def _view(self, layout: Layout, batch_size: int, scale: tuple[float, float], g: torch.Generator) -> Tensor:
        grid, n = layout.grid, layout.num_tokens
        s = _uniform(scale, g)
        valid = layout.flags.get("valid")
        shape = view_shape(grid, s, _uniform(self.aspect_ratio, g))
        rows = []
        for b in range(batch_size):
            ok = torch.ones(n, dtype=torch.bool) if valid is None else valid[b].to(torch.bool).cpu()
            if self.mode == "block":
                keep = _block_mask(grid, shape, g) & ok
            else:
                pool = ok.nonzero().flatten()
                k = max(1, round(s * pool.numel()))
                keep = torch.zeros(n, dtype=torch.bool)
                keep[pool[torch.randperm(pool.numel(), generator=g)[:k]]] = True
            if not keep.any():  # a block over invalid tokens only: keep one valid token
                first = ok.nonzero().flatten()
                keep[first[int(torch.randint(first.numel(), (1,), generator=g))] if first.numel() else 0] = True
            rows.append(keep.nonzero().flatten())
        k = min(r.numel() for r in rows)
        return torch.stack([_subset(r, k, g) for r in rows])

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Views:
        glob = [self._view(layout, batch_size, self.global_scale, generator) for _ in range(self.global_views)]
        loc = [self._view(layout, batch_size, self.local_scale, generator) for _ in range(self.local_views)]
        return Views(glob, loc)
