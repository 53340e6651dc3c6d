"""The sparse-voxel BEV encoder as a jepakit tokenizer.

Voxels go through a SECOND-style sparse 3-D backbone (submanifold + strided sparse
convolutions), the output is compressed along height into a bird's-eye-view map and each
BEV cell is one token. ``forward(batch, keep)`` drops the voxels of cells outside
``keep`` *before* the sparse convolutions, so the context encoder sees only the context
cells' points and an EMA target with ``sees="target"`` only the target cells'. Cells
without any voxel get a learnable empty token: AD-L-JEPA treats empty space as
something to predict, not padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jepakit import Layout, Tokenizer, gather_tokens
from jepakit.kit import DataError, check

from .sparse import SparseBackbone, SparseVoxels
from .voxelize import bev_cells

DENSE_BEV_MAX_BYTES = 1 << 30


class SparseBEVTokenizer(Tokenizer):
    """Sparse 3-D conv backbone -> height compression -> one token per BEV cell.

    ``spatial_shape`` (D, H, W voxels) and ``in_chans`` come from the data; ``channels``
    are the stem's and each stage's widths, ``strides`` each stage's (z, y, x) or
    isotropic stride; ``backend`` is ``auto`` (spconv on GPU when installed, else pure
    torch), ``torch`` or ``spconv``.
    """

    def __init__(
        self,
        dim: int,
        in_chans: int,
        spatial_shape: Sequence[int],
        channels: Sequence[int] = (16, 32, 64),
        strides: Sequence[int | Sequence[int]] = (2, 2),
        blocks: int = 1,
        backend: str = "auto",
    ):
        super().__init__()
        self.dim, self.in_chans = int(dim), int(in_chans)
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        check(len(self.spatial_shape) == 3, f"spatial_shape must be (D, H, W), got {spatial_shape}")
        self.backbone = SparseBackbone(self.in_chans, channels, strides, blocks, backend)
        d2, h2, w2 = self.backbone.output_shape(self.spatial_shape)
        self.out_depth = d2
        self.grid = (h2, w2)
        self.stride_yx = (
            math.prod(s[1] for s in self.backbone.strides),
            math.prod(s[2] for s in self.backbone.strides),
        )
        feat = self.backbone.out_channels * d2
        # forward() holds a dense (B, H, W, D, C) BEV map: refuse, in one line, a grid whose
        # map alone would take gigabytes a scene rather than fail inside torch
        size = h2 * w2 * feat * 4
        check(
            size <= DENSE_BEV_MAX_BYTES,
            f"spatial_shape {self.spatial_shape} gives a {h2}x{w2}-cell BEV map of {d2} heights x {self.backbone.out_channels} "
            f"channels, {size / 2**30:.1f} GiB a scene (limit {DENSE_BEV_MAX_BYTES / 2**30:.0f} GiB): use a smaller "
            "data.point_range or a larger data.voxel_size",
        )
        self.proj = nn.Linear(feat, self.dim)
        nn.init.trunc_normal_(self.proj.weight, std=(1.0 / feat) ** 0.5)
        nn.init.zeros_(self.proj.bias)
        self.empty_token = nn.Parameter(torch.zeros(self.dim))
        nn.init.trunc_normal_(self.empty_token, std=0.02)

    @property
    def backend(self) -> str:
        return self.backbone.backend

    def _inputs(self, batch) -> tuple[Tensor, Tensor, int]:
        for key in ("voxel_feats", "voxel_coords", "num_voxels"):
            if key not in batch:
                raise DataError(f"the batch has no {key!r} entry (keys: {', '.join(batch)}); use the lidar domain's collate")
        feats, coords = batch["voxel_feats"], batch["voxel_coords"].long()
        if feats.shape[-1] != self.in_chans:
            raise DataError(f"voxel features have {feats.shape[-1]} channels, the tokenizer expects {self.in_chans}")
        return feats.float(), coords, int(batch["num_voxels"].shape[0])

    def cells(self, coords: Tensor) -> Tensor:
        """BEV token index of each voxel row (b, z, y, x)."""
        return bev_cells(coords[:, 1:], self.grid, self.stride_yx)

    def occupied(self, batch) -> Tensor:
        """(B, N) bool: cells holding at least one voxel -- cheap, no convolution."""
        _, coords, b = self._inputs(batch)
        occ = torch.zeros(b, self.grid[0] * self.grid[1], dtype=torch.bool, device=coords.device)
        if coords.shape[0]:
            occ[coords[:, 0], self.cells(coords)] = True
        return occ

    def layout(self, batch) -> Layout:
        return Layout(self.grid, 0, {"occupied": self.occupied(batch)})

    def forward(self, batch, keep: Tensor | None = None) -> Tensor:
        feats, coords, b = self._inputs(batch)
        n = self.grid[0] * self.grid[1]
        cells = self.cells(coords)
        occ = torch.zeros(b, n, dtype=torch.bool, device=coords.device)
        if coords.shape[0]:
            occ[coords[:, 0], cells] = True
        if keep is not None:
            kept = torch.zeros(b, n, dtype=torch.bool, device=coords.device).scatter_(1, keep.long(), True)
            sel = kept[coords[:, 0], cells]
            feats, coords = feats[sel], coords[sel]
        out = self.backbone(SparseVoxels(feats, coords, self.spatial_shape, b))
        c = self.backbone.out_channels
        h2, w2 = self.grid
        dense = out.features.new_zeros(b, h2, w2, self.out_depth, c)
        i = out.indices
        if i.shape[0]:
            dense = dense.index_put((i[:, 0], i[:, 2], i[:, 3], i[:, 1]), out.features)
        tokens = self.proj(dense.reshape(b, n, self.out_depth * c))
        tokens = torch.where(occ.unsqueeze(-1), tokens, self.empty_token.to(tokens.dtype))
        return tokens if keep is None else gather_tokens(tokens, keep.long())

    def embed(self, batch) -> Tensor:
        return self.forward(batch)
