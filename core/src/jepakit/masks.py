"""Built-in maskers: multi-block over 1-, 2- and 3-D token grids, and random subsets.

Maskers draw index sets per sample (:class:`SampleMasker`) and the core collates them
into rectangular tensors by trimming every set to the shortest in the batch (a random
subset of each, kept in grid order), as I-JEPA's collator does. Tokens flagged invalid
in ``layout.flags["valid"]`` are never used as context or target.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from .contract import Layout, Masker, Masks
from .errors import check


def draw_uniform(lo_hi: Sequence[float], g: torch.Generator) -> float:
    """One draw from ``[lo, hi)`` of a ``(lo, hi)`` pair with ``g`` (one ``torch.rand``
    call, so a masker's stream of draws stays reproducible from its generator)."""
    lo, hi = float(lo_hi[0]), float(lo_hi[1])
    return lo + (hi - lo) * torch.rand(1, generator=g).item()


def scale_pair(value: Sequence[float] | float, name: str) -> tuple[float, float]:
    """A masker argument given as one number or a ``(min, max)`` pair -> ``(min, max)``
    floats with ``0 < min <= max``; anything else is a one-line error naming ``name``."""
    if isinstance(value, (int, float)):
        value = (value, value)
    check(len(value) == 2, f"{name} must be a (min, max) pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    check(0 < lo <= hi, f"{name} must satisfy 0 < min <= max, got {value!r}")
    return lo, hi


def _subset(idx: Tensor, k: int, g: torch.Generator) -> Tensor:
    if idx.numel() <= k:
        return idx
    keep = torch.randperm(idx.numel(), generator=g)[:k]
    return idx[keep.sort().values]


def collate_masks(
    contexts: list[Tensor], targets: list[list[Tensor]], generator: torch.Generator, weights: list[list[Tensor]] | None = None
) -> Masks:
    """Trim per-sample index sets to common lengths and stack them into :class:`Masks`."""
    nc = min(c.numel() for c in contexts)
    nt = min(t.numel() for ts in targets for t in ts)
    m = min(len(ts) for ts in targets)
    check(nc > 0 and nt > 0, "a masker produced an empty context or target set")
    context = torch.stack([_subset(c, nc, generator) for c in contexts])
    tgt, wts = [], []
    for b, ts in enumerate(targets):
        rows, wrows = [], []
        for j in range(m):
            t = ts[j]
            if t.numel() > nt:
                keep = torch.randperm(t.numel(), generator=generator)[:nt].sort().values
            else:
                keep = torch.arange(nt)
            rows.append(t[keep])
            if weights is not None:
                wrows.append(weights[b][j][keep])
        tgt.append(torch.stack(rows))
        if weights is not None:
            wts.append(torch.stack(wrows))
    return Masks(context, torch.stack(tgt), torch.stack(wts) if weights is not None else None)


class SampleMasker(Masker):
    """Base for maskers that draw each sample's sets independently.

    Subclasses implement :meth:`sample` returning ``(context, [target, ...])`` as 1-D long
    tensors of grid indices (or a third element: one weight tensor per target).
    """

    @abstractmethod
    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        """Sample ``b``'s ``(context, [target, ...][, [weight, ...]])`` grid indices."""

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Masks:
        self.begin_batch(layout, generator)
        valid = layout.flags.get("valid")
        contexts, targets, weights = [], [], []
        for b in range(batch_size):
            drawn = self.sample(layout, b, generator)
            ctx, tgts = drawn[0], list(drawn[1])
            wts = list(drawn[2]) if len(drawn) > 2 else None
            if valid is not None:
                ok = valid[b].to(torch.bool).cpu()
                keep_c = ok[ctx]
                ctx = ctx[keep_c] if keep_c.any() else ctx[:1]
                new_t, new_w = [], []
                for j, t in enumerate(tgts):
                    keep_t = ok[t]
                    if not keep_t.any():
                        keep_t = torch.zeros_like(keep_t)
                        keep_t[0] = True
                    new_t.append(t[keep_t])
                    if wts is not None:
                        new_w.append(wts[j][keep_t])
                tgts, wts = new_t, (new_w if wts is not None else None)
            contexts.append(ctx)
            targets.append(tgts)
            if wts is not None:
                weights.append(wts)
        return collate_masks(contexts, targets, generator, weights if weights else None)

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        """Draw what is shared by a whole batch (I-JEPA draws block sizes per batch)."""


def block_shape(grid: tuple[int, ...], scale: float, aspect: float, lead: float) -> tuple[int, ...]:
    """Block extents for a grid: 1-D a run, 2-D a rectangle of given aspect (h/w), 3-D a
    rectangle over the last two dims spanning ``lead`` of the first (V-JEPA's tubes)."""
    if len(grid) == 1:
        return (max(1, min(grid[0], round(scale * grid[0]))),)
    if len(grid) == 2:
        area = scale * grid[0] * grid[1]
        h = max(1, min(grid[0], round(math.sqrt(area * aspect))))
        w = max(1, min(grid[1], round(math.sqrt(area / aspect))))
        return (h, w)
    first = max(1, min(grid[0], round(lead * grid[0])))
    return (first, *block_shape(grid[1:], scale, aspect, lead))


def block_mask(grid: tuple[int, ...], shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    """A flat boolean mask over ``grid`` with one block of extents ``shape`` at a random
    position drawn with ``g``."""
    mask = torch.zeros(grid, dtype=torch.bool)
    sl = []
    for n, s in zip(grid, shape):
        start = int(torch.randint(0, n - s + 1, (1,), generator=g))
        sl.append(slice(start, start + s))
    mask[tuple(sl)] = True
    return mask.flatten()


class MultiBlockMasker(SampleMasker):
    """I-JEPA / V-JEPA multi-block masks over a 1-, 2- or 3-D grid.

    Defaults are the I-JEPA paper's: 4 target blocks of scale 0.15–0.2 and aspect
    0.75–1.5; one context block of scale 0.85–1.0 and aspect 1 with the targets removed.
    ``context_scale=None`` makes the context the complement of the targets (V-JEPA).
    For 3-D grids a block spans ``lead_scale`` of the first (time) axis.
    """

    def __init__(
        self,
        num_targets: int = 4,
        target_scale: Sequence[float] = (0.15, 0.2),
        aspect_ratio: Sequence[float] = (0.75, 1.5),
        context_scale: Sequence[float] | None = (0.85, 1.0),
        context_aspect: Sequence[float] = (1.0, 1.0),
        lead_scale: Sequence[float] = (1.0, 1.0),
        min_keep: int = 4,
        allow_overlap: bool = False,
        tries: int = 20,
    ):
        check(num_targets >= 1, f"num_targets must be >= 1, got {num_targets}")
        self.num_targets = int(num_targets)
        self.target_scale = scale_pair(target_scale, "target_scale")
        self.aspect_ratio = scale_pair(aspect_ratio, "aspect_ratio")
        self.context_scale = None if context_scale is None else scale_pair(context_scale, "context_scale")
        self.context_aspect = scale_pair(context_aspect, "context_aspect")
        self.lead_scale = scale_pair(lead_scale, "lead_scale")
        check(max(self.target_scale[1], self.lead_scale[1]) <= 1.0, "scales must be <= 1")
        check(self.context_scale is None or self.context_scale[1] <= 1.0,
              f"context_scale must be <= 1 (a share of the grid), got {context_scale!r}")
        check(int(min_keep) >= 1 and int(tries) >= 1, f"min_keep and tries must be >= 1, got {min_keep} and {tries}")
        # the targets' share of the grid (a block spans lead_scale of the first axis of a 3-D
        # grid only): at 100 % or more they can cover every token and leave a one-token context
        share = self.num_targets * self.target_scale[1] * self.lead_scale[1]
        check((allow_overlap and self.context_scale is not None) or share < 1.0,
              f"num_targets {self.num_targets} x target_scale max {self.target_scale[1]:g}"
              f"{f' x lead_scale max {self.lead_scale[1]:g}' if self.lead_scale[1] < 1 else ''} = {share:.0%} of the grid: "
              "the targets could cover every token and leave no context; lower them"
              f"{' (or allow_overlap=true)' if self.context_scale is not None else ''}")
        self.min_keep, self.allow_overlap, self.tries = int(min_keep), bool(allow_overlap), int(tries)

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        grid = layout.grid
        self._t_shape = block_shape(
            grid, draw_uniform(self.target_scale, generator), draw_uniform(self.aspect_ratio, generator), draw_uniform(self.lead_scale, generator)
        )
        if self.context_scale is not None:
            self._c_shape = block_shape(
                grid, draw_uniform(self.context_scale, generator), draw_uniform(self.context_aspect, generator), 1.0
            )

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        grid, n = layout.grid, layout.num_tokens
        targets = [block_mask(grid, self._t_shape, generator) for _ in range(self.num_targets)]
        covered = torch.stack(targets).any(0)
        if self.context_scale is None:
            ctx = ~covered
        else:
            for _ in range(self.tries):
                ctx = block_mask(grid, self._c_shape, generator)
                if not self.allow_overlap:
                    ctx = ctx & ~covered
                if int(ctx.sum()) >= self.min_keep:
                    break
        if not ctx.any():  # degenerate tiny grids: keep one token that no target uses
            free = (~covered).nonzero().flatten()
            ctx = torch.zeros(n, dtype=torch.bool)
            ctx[free[0] if free.numel() else 0] = True
        return ctx.nonzero().flatten(), [t.nonzero().flatten() for t in targets]


class RandomSubsetMasker(SampleMasker):
    """Random disjoint subsets: a context of ``context_ratio`` of the tokens and
    ``num_targets`` target sets of ``target_ratio`` each, drawn from the rest."""

    def __init__(self, context_ratio: float = 0.5, target_ratio: float = 0.125, num_targets: int = 4):
        check(0 < context_ratio < 1, f"context_ratio must be in (0, 1), got {context_ratio}")
        check(0 < target_ratio < 1, f"target_ratio must be in (0, 1), got {target_ratio}")
        check(num_targets >= 1, f"num_targets must be >= 1, got {num_targets}")
        check(context_ratio + target_ratio * num_targets <= 1.0 + 1e-9, "context_ratio + num_targets * target_ratio must be <= 1")
        self.context_ratio, self.target_ratio, self.num_targets = context_ratio, target_ratio, int(num_targets)

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        n = layout.num_tokens
        valid = layout.flags.get("valid")
        pool = torch.arange(n) if valid is None else valid[b].cpu().nonzero().flatten()
        pool = pool[torch.randperm(pool.numel(), generator=generator)]
        m = pool.numel()
        nc = max(1, round(self.context_ratio * m))
        nt = max(1, round(self.target_ratio * m))
        ctx = pool[:nc].sort().values
        rest = pool[nc:]
        if rest.numel() == 0:
            rest = pool[-1:]
        tgts = [rest[(j * nt) % rest.numel() :][:nt].sort().values for j in range(self.num_targets)]
        return ctx, tgts


# the names these helpers had before they became public (plugin authors import them from
# jepakit.kit); kept so that code written against them keeps working
_uniform, _pair, _block_shape, _block_mask = draw_uniform, scale_pair, block_shape, block_mask
