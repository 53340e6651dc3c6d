"""Throughput figures: ``python benchmarks/lidar_perf.py``.

Voxelisation points/s (this package's torch voxeliser vs spconv's ``PointToVoxel``) and
sparse BEV encoder forward+backward seconds per scene for each available backend, on
the embedded synthetic scenes. Run with ``OMP_NUM_THREADS=1`` for single-core numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from jepakit_lidar.data import load
from jepakit_lidar.dataset import IN_CHANS, collate_scenes
from jepakit_lidar.presets import BENCH
from jepakit_lidar.sparse import spconv_available
from jepakit_lidar.tokenizer import SparseBEVTokenizer
from jepakit_lidar.voxelize import VoxelGrid, voxelize


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) if repeats < 3 else statistics.median(times)


# KITTI's velodyne (HDL-64E): 64 beams, about 2000 azimuths: ~120k points a scan; the
# usual KITTI detection range (front 70.4 m x 80 m) and the plugin's default voxels
KITTI_RANGE = (0.0, -40.0, -3.0, 70.4, 40.0, 1.0)


def kitti_cloud(seed: int = 0, beams: int = 64, azimuths: int = 2048, max_range: float = 80.0) -> torch.Tensor:
    """A synthetic scan of KITTI's size (64 x 2048 rays: ~120k points), (P, 4) float32."""
    from jepakit_lidar.data import _scene

    return _scene(seed, beams, azimuths, max_range, max_range * 0.9)[0]


def voxelisers(grid: VoxelGrid, max_points: int = 32, max_voxels: int = 40000, device: str = "cpu") -> dict:
    """``name -> fn(points)``: this package's torch voxeliser and, when spconv is
    installed, spconv's ``PointToVoxel`` with the same grid and caps."""
    out = {"jepakit_lidar": lambda c: voxelize(c, grid, max_points, max_voxels)}
    if spconv_available():
        from spconv.pytorch.utils import PointToVoxel

        gen = PointToVoxel(vsize_xyz=list(grid.voxel_size), coors_range_xyz=list(grid.point_range), num_point_features=4,
                           max_num_voxels=max_voxels, max_num_points_per_voxel=max_points, device=torch.device(device))
        out["spconv PointToVoxel"] = gen
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--beams", type=int, default=BENCH["synthetic"]["beams"])
    ap.add_argument("--azimuths", type=int, default=BENCH["synthetic"]["azimuths"])
    ap.add_argument("--range", type=float, default=BENCH["synthetic"]["synthetic_point_range"][3], help="half width of the square range (m)")
    args = ap.parse_args(argv)
    r = args.range
    data = dict(BENCH["synthetic"], scenes=args.scenes, train_scenes=1, test_scenes=1, beams=args.beams, azimuths=args.azimuths,
                point_range=[-r, -r, -3.0, r, r, 3.0])
    bundle = load(**data)
    grid = VoxelGrid(tuple(data["point_range"]), tuple(bundle.info["voxel_size"]))
    from jepakit_lidar.data import _scene

    reach = max(abs(v) for v in data["point_range"])
    clouds = [_scene(i, data["beams"], data["azimuths"], reach * 1.5, reach * 1.3)[0] for i in range(args.scenes)]
    n_pts = sum(len(c) for c in clouds)
    vox = voxelisers(grid, 32, 40000)
    t_ours = _best(lambda: [vox["jepakit_lidar"](c) for c in clouds], args.repeats)
    print(f"scenes: {args.scenes}, {n_pts / args.scenes:.0f} points and "
          f"{sum(bundle.pretrain[i]['voxel_coords'].shape[0] for i in range(args.scenes)) / args.scenes:.0f} voxels per scene, "
          f"grid {grid.spatial_shape}, threads {torch.get_num_threads()}")
    print(f"voxelise (jepakit_lidar, torch): {n_pts / t_ours / 1e6:.2f} M points/s")
    if "spconv PointToVoxel" in vox:
        gen = vox["spconv PointToVoxel"]
        t_sp = _best(lambda: [gen(c) for c in clouds], args.repeats)
        print(f"voxelise (spconv PointToVoxel):   {n_pts / t_sp / 1e6:.2f} M points/s")
    batch = collate_scenes([bundle.pretrain[i % args.scenes] for i in range(args.batch)])
    tk = dict(BENCH["tokenizer"])
    tk.pop("name")
    tk.pop("backend")
    backends = ["torch"] + (["spconv"] if spconv_available() else [])
    torch.manual_seed(0)
    ref = SparseBEVTokenizer(BENCH["model"]["width"], IN_CHANS, bundle.info["spatial_shape"], backend="torch", **tk)
    for backend in backends:
        tok = SparseBEVTokenizer(BENCH["model"]["width"], IN_CHANS, bundle.info["spatial_shape"], backend=backend, **tk)
        tok.load_state_dict(ref.state_dict())

        def step(tok=tok):
            tok.zero_grad(set_to_none=True)
            tok(batch).pow(2).mean().backward()

        step()  # warm-up (spconv builds its kernels on the first call)
        t = _best(step, args.repeats)
        print(f"encoder fwd+bwd ({backend:6s}): {t / args.batch * 1e3:.1f} ms per scene (batch {args.batch})")


if __name__ == "__main__":
    main()
