"""Vectorised voxelisation of point clouds in torch.

The semantics follow spconv's ``PointToVoxel`` so that the two can be compared: a point
belongs to voxel ``floor((p - range_min) / voxel_size)`` (float32 arithmetic) when that
index lies inside the grid; voxels are numbered in order of their first point; a voxel
keeps its first ``max_points`` points and only the first ``max_voxels`` voxels survive.
``drop="random"`` instead shuffles the points with the given seed first and numbers
the voxels in a random order, so which points survive ``max_points`` and which voxels
survive ``max_voxels`` is a uniform random draw (no bias to the start of the file, to
one part of the scene or to dense voxels), reproducible from the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from jepakit.errors import check


@dataclass
class VoxelGrid:
    """A regular grid over ``point_range`` = (x0, y0, z0, x1, y1, z1) with ``voxel_size`` (dx, dy, dz)."""

    point_range: tuple[float, float, float, float, float, float]
    voxel_size: tuple[float, float, float]

    def __post_init__(self) -> None:
        self.point_range = tuple(float(v) for v in self.point_range)  # type: ignore[assignment]
        self.voxel_size = tuple(float(v) for v in self.voxel_size)  # type: ignore[assignment]
        check(len(self.point_range) == 6, f"point_range needs 6 numbers (x0, y0, z0, x1, y1, z1), got {self.point_range}")
        check(len(self.voxel_size) == 3, f"voxel_size needs 3 numbers, got {self.voxel_size}")
        check(all(v > 0 for v in self.voxel_size), f"voxel_size must be positive, got {self.voxel_size}")
        check(
            all(self.point_range[i + 3] > self.point_range[i] for i in range(3)),
            f"point_range must have max > min on every axis, got {self.point_range}",
        )

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        return tuple(
            int(round((self.point_range[i + 3] - self.point_range[i]) / self.voxel_size[i])) for i in range(3)
        )  # type: ignore[return-value]

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        """(D, H, W) = (nz, ny, nx): the sparse tensors' axis order (z, y, x)."""
        nx, ny, nz = self.shape_xyz
        return (nz, ny, nx)


@dataclass
class Voxels:
    """``features`` (V, C): mean of the kept points; ``coords`` (V, 3) long (z, y, x);
    ``num_points`` (V,); ``point_voxel`` (P,): each input point's voxel row, -1 when the
    point fell outside the range or was dropped by a cap; ``total_voxels``: the voxels
    the points in range occupy before the ``max_voxels`` cap."""

    features: Tensor
    coords: Tensor
    num_points: Tensor
    point_voxel: Tensor
    total_voxels: int = -1


def voxelize(
    points: Tensor,
    grid: VoxelGrid,
    max_points: int = 32,
    max_voxels: int = 40000,
    drop: str = "first",
    seed: int | None = None,
) -> Voxels:
    """Voxelise ``points`` (P, C >= 3; x, y, z first). See the module docstring."""
    check(points.ndim == 2 and points.shape[1] >= 3, f"points must be (P, C>=3), got {tuple(points.shape)}")
    check(drop in ("first", "random"), f"drop must be 'first' or 'random', got {drop!r}")
    check(max_points >= 1 and max_voxels >= 1, "max_points and max_voxels must be >= 1")
    pts = points.to(torch.float32)
    p = pts.shape[0]
    order = torch.arange(p)
    if drop == "random":
        g = torch.Generator().manual_seed(0 if seed is None else int(seed))
        order = torch.randperm(p, generator=g)
        pts = pts[order]
    lo = torch.tensor(grid.point_range[:3], dtype=torch.float32)
    vs = torch.tensor(grid.voxel_size, dtype=torch.float32)
    nxyz = torch.tensor(grid.shape_xyz)
    c = torch.floor((pts[:, :3] - lo) / vs).long()
    inside = ((c >= 0) & (c < nxyz)).all(1)
    idx = inside.nonzero().flatten()
    nx, ny, _ = grid.shape_xyz
    key = (c[idx, 2] * ny + c[idx, 1]) * nx + c[idx, 0]
    point_voxel = torch.full((p,), -1, dtype=torch.long)
    if idx.numel() == 0:
        empty = pts.new_zeros(0, pts.shape[1])
        return Voxels(empty, torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long), point_voxel, 0)
    # one stable sort groups the points by voxel and keeps input order inside a voxel:
    # it gives the distinct voxels, each point's voxel and its rank inside it at once
    skey, perm = torch.sort(key, stable=True)
    new = torch.ones_like(skey, dtype=torch.bool)
    new[1:] = skey[1:] != skey[:-1]
    starts = new.nonzero().flatten()
    group = torch.cumsum(new, 0) - 1  # voxel (in key order) of each sorted point
    slot_sorted = torch.arange(skey.numel()) - starts[group]
    first = perm[starts]  # input position of each voxel's first point
    # number voxels by their first point, as PointToVoxel does; "random": in random order
    if drop == "random":
        by_first = torch.randperm(first.numel(), generator=g)
    else:
        by_first = torch.argsort(first)
    rank_of = torch.empty_like(by_first)
    rank_of[by_first] = torch.arange(by_first.numel())
    vid = torch.empty_like(perm)
    vid[perm] = rank_of[group]
    slot = torch.empty_like(perm)
    slot[perm] = slot_sorted
    keep = (vid < max_voxels) & (slot < max_points)
    nv = min(int(by_first.numel()), int(max_voxels))
    kv = vid[keep]
    kp = idx[keep]
    counts = torch.bincount(kv, minlength=nv)
    feats = pts.new_zeros(nv, pts.shape[1]).index_add_(0, kv, pts[kp])
    feats = feats / counts.clamp(min=1).unsqueeze(1).to(feats.dtype)
    k = skey[starts[by_first[:nv]]]
    coords = torch.stack([k // (nx * ny), (k // nx) % ny, k % nx], 1)
    point_voxel[order[kp]] = kv
    return Voxels(feats, coords, counts, point_voxel, int(first.numel()))


def bev_cells(coords: Tensor, grid_hw: Sequence[int], stride_yx: Sequence[int]) -> Tensor:
    """BEV token index (row-major over ``grid_hw``) of voxels with (z, y, x) ``coords``,
    for a backbone that downsamples y and x by ``stride_yx``."""
    h, w = int(grid_hw[0]), int(grid_hw[1])
    r = torch.div(coords[:, -2], int(stride_yx[0]), rounding_mode="floor").clamp_(max=h - 1)
    col = torch.div(coords[:, -1], int(stride_yx[1]), rounding_mode="floor").clamp_(max=w - 1)
    return r * w + col
