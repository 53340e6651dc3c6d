"""Datasets of voxelised scans and the collate that batches them.

An item is ``voxel_feats`` (V, 6) and ``voxel_coords`` (V, 3) long (z, y, x) and, in
task splits, ``label`` (N,) long per BEV cell (-1 = ignore). Voxel features are the
mean point's offset from the voxel centre in voxel units (3), its normalised height,
its mean intensity and log point count: absolute x/y are left to the encoder's position
embedding. :func:`collate_scenes` concatenates voxels and prepends the batch index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from jepakit.kit import notice

from .voxelize import VoxelGrid, Voxels, voxelize

IN_CHANS = 6


def voxel_features(points: Tensor, grid: VoxelGrid, max_points: int, max_voxels: int, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Voxelise one scan and return (features (V, 6), coords (V, 3) z, y, x)."""
    vox = voxelize(points, grid, max_points, max_voxels, drop="first" if seed is None else "random", seed=seed)
    return _features(vox, grid, max_points), vox.coords


def _features(vox: Voxels, grid: VoxelGrid, max_points: int) -> Tensor:
    lo = torch.tensor(grid.point_range[:3])
    vs = torch.tensor(grid.voxel_size)
    centre = lo + (vox.coords.flip(1).float() + 0.5) * vs  # coords are (z, y, x)
    mean = vox.features
    z0, z1 = grid.point_range[2], grid.point_range[5]
    return torch.cat(
        [
            (mean[:, :3] - centre) / vs,
            ((mean[:, 2:3] - z0) / (z1 - z0)),
            mean[:, 3:4] if mean.shape[1] > 3 else torch.zeros_like(mean[:, :1]),
            torch.log1p(vox.num_points.float()).unsqueeze(1) / math.log1p(max_points),
        ],
        1,
    )


class ScanDataset(Dataset):
    """Voxelised scans from ``source(i) -> (points (P, >=3), cell labels (N,) | None)``.

    Items are computed once and cached: voxelising is cheap but the synthetic ray
    caster and file parsing are not, and pretraining visits each scan many times.
    Caps drop at random, seeded by ``seed + i`` (:func:`voxelize` ``drop="random"``), so a
    scan stored in scan order loses no part of the scene in particular; the first scan
    over ``max_voxels`` is reported as a one-line notice (``names[i]`` names it).
    """

    def __init__(
        self, source: Callable[[int], tuple[Tensor, Tensor | None]], n: int, grid: VoxelGrid, max_points: int = 32,
        max_voxels: int = 40000, cache: bool = True, seed: int = 0, names: Sequence[str] | None = None,
    ):
        self.source, self.n, self.grid = source, int(n), grid
        self.max_points, self.max_voxels, self.cache = int(max_points), int(max_voxels), bool(cache)
        self.seed, self.names = int(seed), names
        self._items: dict[int, dict[str, Tensor]] = {}
        self._reported = False

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        i = int(i)
        if i < 0 or i >= self.n:
            raise IndexError(i)
        if i in self._items:
            return self._items[i]
        points, label = self.source(i)
        vox = voxelize(torch.as_tensor(points, dtype=torch.float32), self.grid, self.max_points, self.max_voxels, drop="random",
                       seed=self.seed + i)
        if vox.total_voxels > self.max_voxels and not self._reported:
            self._reported = True
            name = self.names[i] if self.names is not None else f"scan {i}"
            lost = vox.total_voxels - self.max_voxels
            notice(
                f"{name}: {lost:,} of its {vox.total_voxels:,} voxels ({lost / vox.total_voxels:.0%}) dropped at random to fit "
                f"data.max_voxels={self.max_voxels}; raise data.max_voxels or data.voxel_size to keep them "
                "(later scans over the cap are not reported)"
            )
        item = {"voxel_feats": _features(vox, self.grid, self.max_points), "voxel_coords": vox.coords}
        if label is not None:
            item["label"] = torch.as_tensor(label, dtype=torch.long)
        if self.cache:
            self._items[i] = item
        return item

    @property
    def labels(self) -> np.ndarray:
        return np.stack([self[i]["label"].numpy() for i in range(self.n)])

    @property
    def ids(self) -> list[str]:
        """One id per scan (:mod:`jepakit.export`'s item-id protocol): its file, else its index."""
        return [str(n) for n in self.names] if self.names is not None else [str(i) for i in range(self.n)]


def collate_scenes(items: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Concatenate the voxels of a batch with the batch index as the first coordinate."""
    feats = torch.cat([it["voxel_feats"] for it in items]) if items else torch.zeros(0, IN_CHANS)
    coords = [
        torch.cat([torch.full((it["voxel_coords"].shape[0], 1), b, dtype=torch.long), it["voxel_coords"].long()], 1)
        for b, it in enumerate(items)
    ]
    out = {
        "voxel_feats": feats,
        "voxel_coords": torch.cat(coords) if coords else torch.zeros(0, 4, dtype=torch.long),
        "num_voxels": torch.tensor([it["voxel_coords"].shape[0] for it in items], dtype=torch.long),
    }
    if items and all("label" in it for it in items):
        out["label"] = torch.stack([torch.as_tensor(it["label"]) for it in items])
    return out
