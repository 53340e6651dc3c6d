"""Position embeddings over any token grid (1-, 2-, 3-D or more)."""

from __future__ import annotations

import math

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
    """Looks up the embedding of grid indices: ``sincos`` (fixed), ``learned`` or ``none``."""

    def __init__(self, grid: tuple[int, ...], dim: int, kind: str = "sincos"):
        super().__init__()
        check(kind in ("sincos", "learned", "none"), f"model.pos must be sincos, learned or none, got {kind!r}")
        self.kind = kind
        n = math.prod(grid)
        if kind == "learned":
            self.table = nn.Parameter(torch.zeros(n, dim))
            nn.init.trunc_normal_(self.table, std=0.02)
        elif kind == "sincos":
            self.register_buffer("table", sincos_grid(tuple(grid), dim), persistent=False)
        else:
            self.register_buffer("table", torch.zeros(n, dim), persistent=False)

    def no_weight_decay(self) -> set[str]:
        """A learned position table is not decayed (as timm exempts ``pos_embed``)."""
        return {"table"}

    def forward(self, idx: Tensor) -> Tensor:
        return self.table[idx]
