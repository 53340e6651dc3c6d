"""Fixture writers: files in the formats this plugin reads, for tests and benchmarks
(every plugin keeps its writers in a module of this name)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

KITTI_TR = "0 -1 0 0 0 0 -1 0 1 0 0 0"  # velodyne -> camera: x forward becomes z


def write_kitti_folder(root: Path, scans: int, ground_x: tuple[float, float] = (-20.0, 20.0)) -> Path:
    """A KITTI-style folder (velodyne .bin, label_2, calib) of ``scans`` scans under
    ``root``: flat ground over ``ground_x`` x (-20, 20) m and one car box at x 8.5-11.5 m,
    y 1.3-2.7 m; returns ``root``."""
    root = Path(root)
    for sub in ("velodyne", "label_2", "calib"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(1)
    for i in range(scans):
        stem = f"{i:06d}"
        ground = np.concatenate([g.uniform(*ground_x, (3000, 1)), g.uniform(-20, 20, (3000, 1)), np.full((3000, 1), -1.7),
                                 g.uniform(0, 1, (3000, 1))], 1)
        car = np.concatenate([g.uniform(8.5, 11.5, (300, 1)), g.uniform(1.3, 2.7, (300, 1)), g.uniform(-1.5, 0, (300, 1)),
                              np.ones((300, 1))], 1)
        np.concatenate([ground, car]).astype(np.float32).tofile(root / "velodyne" / f"{stem}.bin")
        (root / "calib" / f"{stem}.txt").write_text(f"R0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: {KITTI_TR}\n")
        (root / "label_2" / f"{stem}.txt").write_text(f"Car 0 0 0 0 0 1 1 1.5 1.8 4.0 -2.0 1.7 10.0 {-math.pi / 2:.6f}\n")
    return root
