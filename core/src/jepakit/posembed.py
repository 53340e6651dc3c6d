"""Position embeddings over any token grid (1-, 2-, 3-D or more)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .errors import check


def sincos_1d(positions: Tensor, dim: int) -> Tensor:
    """Transformer sin-cos embedding of ``positions`` (any shape) into ``dim`` (even) features."""
    omega = 1.0 / (10000 ** (torch.arange(dim // 2, dtype=torch.float64) / max(1, dim // 2)))
    angles = positions.to(torch.float64).unsqueeze(-1) * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1).float()


def sincos_grid(grid: tuple[int, ...], dim: int) -> Tensor:
    """``(prod(grid), dim)`` fixed embedding: each axis gets an equal even share of the
    features (the remainder stays zero), as MAE/I-JEPA do for 2-D and V-JEPA for 3-D."""
    per_axis = (dim // len(grid)) // 2 * 2
    check(per_axis >= 2, f"width {dim} is too small for a {len(grid)}-D sin-cos position embedding")
    coords = torch.meshgrid(*[torch.arange(n) for n in grid], indexing="ij")
    parts = [sincos_1d(c.flatten(), per_axis) for c in coords]
    out = torch.cat(parts, dim=-1)
    if out.shape[-1] < dim:
        out = torch.cat([out, out.new_zeros(out.shape[0], dim - out.shape[-1])], dim=-1)
    return out


class PositionEmbedding(nn.Module):
    """Looks up the embedding of grid indices: ``sincos`` (fixed), ``learned`` or ``none``.

    With ``segments`` (``(name, grid)`` pairs of a segmented layout, whose ``grid`` is the
    flat total) each segment's tokens get the embedding of their place in their own grid
    (a 2-D image segment keeps its 2-D positions) plus a learned embedding of the segment
    (``segment``), so that two modalities with equal positions stay apart."""

    def __init__(self, grid: tuple[int, ...], dim: int, kind: str = "sincos", segments: Sequence[Any] = ()):
        super().__init__()
        check(kind in ("sincos", "learned", "none"), f"model.pos must be sincos, learned or none, got {kind!r}")
        self.kind = kind
        n = math.prod(grid)
        grids = [tuple(getattr(s, "grid", None) or s[1]) for s in segments]
        check(not grids or sum(math.prod(g) for g in grids) == n, f"segments {grids} do not add up to the grid {grid}")
        if kind == "learned":
            self.table = nn.Parameter(torch.zeros(n, dim))
            nn.init.trunc_normal_(self.table, std=0.02)
        elif kind == "sincos":
            table = torch.cat([sincos_grid(g, dim) for g in grids]) if grids else sincos_grid(tuple(grid), dim)
            self.register_buffer("table", table, persistent=False)
        else:
            self.register_buffer("table", torch.zeros(n, dim), persistent=False)
        self.segment: nn.Parameter | None = None
        if grids:
            self.segment = nn.Parameter(torch.zeros(len(grids), dim))
            nn.init.trunc_normal_(self.segment, std=0.02)
            ids = torch.cat([torch.full((math.prod(g),), i, dtype=torch.long) for i, g in enumerate(grids)])
            self.register_buffer("segment_of", ids, persistent=False)

    def no_weight_decay(self) -> set[str]:
        """A learned position table is not decayed (as timm exempts ``pos_embed``), nor
        the segment embeddings."""
        return {"table", "segment"} if self.segment is not None else {"table"}

    def lookup(self) -> Tensor:
        """``(N, dim)``: the embedding of every grid token, in grid order."""
        return self.table if self.segment is None else self.table + self.segment[self.segment_of]

    def forward(self, idx: Tensor) -> Tensor:
        if self.segment is None:
            return self.table[idx]
        return self.table[idx] + self.segment[self.segment_of[idx]]
