"""Voxelisation against a brute-force reference and, when spconv imports, PointToVoxel."""

from __future__ import annotations

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
