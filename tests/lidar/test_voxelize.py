"""Voxelisation against a brute-force reference and, when spconv imports, PointToVoxel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit_lidar.voxelize import VoxelGrid, bev_cells, voxelize

GRID = VoxelGrid((-4.0, -4.0, -2.0, 4.0, 4.0, 2.0), (0.5, 0.5, 1.0))


def _points(n=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, 4, generator=g) * torch.tensor([10.0, 10.0, 5.0, 1.0]) - torch.tensor([5.0, 5.0, 2.5, 0.0])
    pts[: n // 2, :3] *= 0.2  # a dense cluster so that the per-voxel cap bites
    return pts


def _reference(points, grid, max_points, max_voxels):
    """Plain-Python voxelisation: voxels in order of first point, caps applied in order."""
    lo, vs = grid.point_range[:3], grid.voxel_size
    nx, ny, nz = grid.shape_xyz
    voxels: dict[tuple, list[int]] = {}
    for i, p in enumerate(points.tolist()):
        c = [int(torch.floor((torch.tensor(p[k]) - lo[k]) / vs[k]).item()) for k in range(3)]
        if not (0 <= c[0] < nx and 0 <= c[1] < ny and 0 <= c[2] < nz):
            continue
        key = (c[2], c[1], c[0])
        if key not in voxels:
            if len(voxels) >= max_voxels:
                continue
            voxels[key] = []
        if len(voxels[key]) < max_points:
            voxels[key].append(i)
    coords = torch.tensor(list(voxels.keys()), dtype=torch.long)
    means = torch.stack([points[idx].mean(0) for idx in voxels.values()])
    counts = torch.tensor([len(v) for v in voxels.values()])
    return coords, means, counts, voxels


@pytest.mark.parametrize("max_points,max_voxels", [(32, 10000), (3, 50)])
def test_matches_brute_force(max_points, max_voxels):
    pts = _points()
    v = voxelize(pts, GRID, max_points, max_voxels)
    coords, means, counts, groups = _reference(pts, GRID, max_points, max_voxels)
    assert torch.equal(v.coords, coords)
    assert torch.equal(v.num_points, counts)
    torch.testing.assert_close(v.features, means, atol=1e-5, rtol=1e-5)
    for row, idx in enumerate(groups.values()):
        assert (v.point_voxel[idx] == row).all()
    assert int((v.point_voxel >= 0).sum()) == int(counts.sum())


def test_random_drop_is_seeded():
    pts = _points()
    a = voxelize(pts, GRID, 4, 60, drop="random", seed=1)
    b = voxelize(pts, GRID, 4, 60, drop="random", seed=1)
    c = voxelize(pts, GRID, 4, 60, drop="random", seed=2)
    assert torch.equal(a.coords, b.coords) and torch.equal(a.features, b.features)
    assert not torch.equal(a.features, c.features)
    assert a.coords.shape[0] == 60 and int(a.num_points.max()) <= 4
    # the mean of each voxel is the mean of the points mapped to it
    for row in range(0, 60, 7):
        torch.testing.assert_close(a.features[row], pts[a.point_voxel == row].mean(0))


def test_empty_after_crop():
    v = voxelize(torch.full((10, 4), 100.0), GRID)
    assert v.coords.shape == (0, 3) and v.features.shape == (0, 4) and (v.point_voxel == -1).all()


def test_bev_cells():
    coords = torch.tensor([[0, 0, 0], [1, 3, 5], [2, 15, 15]])
    assert bev_cells(coords, (4, 4), (4, 4)).tolist() == [0, 1, 15]


def test_against_spconv_point_to_voxel():
    utils = pytest.importorskip("spconv.pytorch.utils")
    pts = _points(20000, seed=3)
    for max_points, max_voxels in [(32, 20000), (5, 100)]:
        gen = utils.PointToVoxel(
            vsize_xyz=list(GRID.voxel_size), coors_range_xyz=list(GRID.point_range), num_point_features=4,
            max_num_voxels=max_voxels, max_num_points_per_voxel=max_points,
        )
        vox, coords, num = gen(pts)
        v = voxelize(pts, GRID, max_points, max_voxels)
        assert torch.equal(v.coords, coords.long())
        assert torch.equal(v.num_points, num.long())
        torch.testing.assert_close(v.features, vox.sum(1) / num.unsqueeze(1), atol=1e-5, rtol=1e-5)


def _numpy_reference(points, grid, max_points, max_voxels):
    """Row-by-row loop over numpy float32 arithmetic: (coords, features, counts, point_voxel, total)."""
    a = points.numpy().astype(np.float32)
    lo = np.array(grid.point_range[:3], np.float32)
    vs = np.array(grid.voxel_size, np.float32)
    n = np.array(grid.shape_xyz)
    with np.errstate(all="ignore"):
        c = np.floor((a[:, :3] - lo) / vs)
    rows: dict[tuple, list[int]] = {}  # voxel -> its kept rows, in order of first row
    number: dict[tuple, int] = {}
    total = set()
    point_voxel = np.full(len(a), -1, np.int64)
    for i in range(len(a)):
        if not ((c[i] >= 0) & (c[i] < n)).all():
            continue
        key = (int(c[i, 2]), int(c[i, 1]), int(c[i, 0]))
        total.add(key)
        if key not in rows:
            if len(rows) >= max_voxels:
                continue
            number[key] = len(rows)
            rows[key] = []
        if len(rows[key]) < max_points:
            point_voxel[i] = number[key]
            rows[key].append(i)
    coords = np.array(list(rows), np.int64).reshape(-1, 3)
    feats = np.stack([a[r].sum(0, dtype=np.float64) / len(r) for r in rows.values()]) if rows else np.zeros((0, a.shape[1]))
    counts = np.array([len(r) for r in rows.values()], np.int64)
    return coords, feats, counts, point_voxel, len(total)


def _awkward_cloud(n, seed):
    """Points inside and outside the range, exact duplicates, one voxel far over any cap,
    and NaN / inf / -0.0 coordinates."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, 4, generator=g) * torch.tensor([12.0, 12.0, 6.0, 1.0]) - torch.tensor([6.0, 6.0, 3.0, 0.0])
    pts[: n // 3, :3] = pts[: n // 3, :3] * 0.05 + 0.1  # one crowded voxel (hundreds of points)
    pts[n // 3: n // 2] = pts[n // 2: n // 2 + (n // 2 - n // 3)]  # exact duplicates
    pts[-4, 0], pts[-3, 1], pts[-2, 2], pts[-1, 0] = float("nan"), float("inf"), -float("inf"), -0.0
    return pts[torch.randperm(n, generator=g)]


@pytest.mark.parametrize("grid", [GRID, VoxelGrid((0.0, -4.0, -2.0, 4.0, 4.0, 2.0), (0.1, 0.1, 0.1))], ids=["small", "fine"])
@pytest.mark.parametrize("max_points,max_voxels", [(32, 100000), (3, 40), (1, 5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_reference(grid, max_points, max_voxels, seed, monkeypatch):
    """Both voxel-numbering paths (dense cell table, and hashing with its torch.unique
    fallback) against a row-by-row loop; the caps bite in all but the first setting."""
    pts = _awkward_cloud(1500, seed)
    coords, feats, counts, point_voxel, total = _numpy_reference(pts, grid, max_points, max_voxels)
    if max_voxels < 100000:
        assert total > max_voxels and counts.max() == max_points  # both caps in play
    from jepakit_lidar import voxelize as vox

    for dense_max, rounds in [(vox._DENSE_MAX, vox._HASH_ROUNDS), (0, 2), (0, 0)]:
        monkeypatch.setattr(vox, "_DENSE_MAX", dense_max)
        monkeypatch.setattr(vox, "_HASH_ROUNDS", rounds)
        v = voxelize(pts, grid, max_points, max_voxels)
        assert v.coords.dtype == torch.long and v.num_points.dtype == torch.long and v.point_voxel.dtype == torch.long
        assert v.features.dtype == torch.float32 and v.features.is_contiguous()
        assert v.coords.tolist() == coords.tolist()
        assert v.num_points.tolist() == counts.tolist()
        assert v.point_voxel.tolist() == point_voxel.tolist()
        assert v.total_voxels == total
        np.testing.assert_allclose(v.features.numpy(), feats, rtol=1e-5, atol=1e-5)
