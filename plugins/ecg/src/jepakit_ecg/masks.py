"""ECG-JEPA's masks: 75-85 % of the time patches hidden in a few contiguous blocks of at
least ``min_block`` patches, the visible rest is the context.

The core's multi-block masker draws blocks of one size that may overlap, so neither the
masked fraction nor the minimum block length is guaranteed; this masker draws the exact
number of masked patches and splits it into blocks. On a (lead, time) grid whole time
columns are masked across all leads, so no lead can leak a masked moment to another.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from jepakit.contract import Layout
from jepakit.kit import SampleMasker, check


def _composition(total: int, parts: int, g: torch.Generator) -> list[int]:
    """``total`` split into ``parts`` non-negative integers, uniformly over compositions."""
    if parts == 1:
        return [total]
    cuts = torch.randperm(total + parts - 1, generator=g)[: parts - 1].sort().values.tolist()
    bounds = [-1, *cuts, total + parts - 1]
    return [bounds[i + 1] - bounds[i] - 1 for i in range(parts)]


def block_mask_1d(steps: int, masked: int, blocks: int, min_block: int, g: torch.Generator) -> list[tuple[int, int]]:
    """``blocks`` disjoint runs ``(start, stop)`` covering exactly ``masked`` of ``steps``
    positions, each at least ``min_block`` long (fewer, longer blocks when that does not fit)."""
    masked = max(1, min(masked, steps - 1))
    min_block = min(min_block, masked)
    blocks = max(1, min(blocks, masked // min_block, steps - masked + 1))
    lengths = [min_block + e for e in _composition(masked - blocks * min_block, blocks, g)]
    free = steps - masked
    # gaps between blocks are >= 1 so that the blocks stay distinct
    gaps = _composition(free - (blocks - 1), blocks + 1, g)
    for i in range(1, blocks):
        gaps[i] += 1
    runs, pos = [], 0
    for i, n in enumerate(lengths):
        pos += gaps[i]
        runs.append((pos, pos + n))
        pos += n
    return runs


class ContiguousBlockMasker(SampleMasker):
    """Masks ``mask_ratio`` (drawn per batch) of the time patches in 1 to ``max_blocks``
    contiguous blocks of at least ``min_block`` patches. ``targets="all"`` predicts every
    masked patch as one target group (ECG-JEPA); ``"blocks"`` makes each block a group.
    The time axis is the last grid axis; other axes (leads) are masked together."""

    def __init__(
        self, mask_ratio: Sequence[float] = (0.75, 0.85), min_block: int = 10, max_blocks: int = 4, targets: str = "all"
    ):
        lo, hi = float(mask_ratio[0]), float(mask_ratio[1])
        check(0 < lo <= hi < 1, f"mask_ratio must satisfy 0 < min <= max < 1, got {mask_ratio}")
        check(min_block >= 1, f"min_block must be >= 1, got {min_block}")
        check(max_blocks >= 1, f"max_blocks must be >= 1, got {max_blocks}")
        check(targets in ("all", "blocks"), f"targets must be 'all' or 'blocks', got {targets!r}")
        self.mask_ratio, self.min_block, self.max_blocks, self.targets = (lo, hi), int(min_block), int(max_blocks), targets

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        lo, hi = self.mask_ratio
        steps = layout.grid[-1]
        check(steps >= 2, f"the time axis has {steps} patch(es); masking needs at least 2")
        self._masked = int(round((lo + (hi - lo) * torch.rand(1, generator=generator).item()) * steps))
        room = max(1, self._masked // min(self.min_block, max(1, self._masked)))
        self._blocks = int(torch.randint(1, min(self.max_blocks, room) + 1, (1,), generator=generator))

    def sample(self, layout: Layout, b: int, generator: torch.Generator) -> tuple[Tensor, list[Tensor]]:
        steps = layout.grid[-1]
        rows = layout.num_tokens // steps
        runs = block_mask_1d(steps, self._masked, self._blocks, self.min_block, generator)
        hidden = torch.zeros(steps, dtype=torch.bool)
        for a, z in runs:
            hidden[a:z] = True
        offsets = (torch.arange(rows) * steps).unsqueeze(1)

        def cells(cols: Tensor) -> Tensor:
            return (offsets + cols.unsqueeze(0)).flatten().sort().values

        context = cells((~hidden).nonzero().flatten())
        if self.targets == "all":
            return context, [cells(hidden.nonzero().flatten())]
        return context, [cells(torch.arange(a, z)) for a, z in runs]
