"""End to end on a messy airborne LAS folder written with laspy the way survey software writes it.

* four tiles in projected coordinates (UTM-like x ~ 6e5 m, y ~ 5.2e6 m, ground ~ 300 m),
  scaled integer coordinates around a per-tile offset;
* points in scan order (the west half of a tile first), 8-bit intensities (0..255) in a
  format whose spec says 16-bit;
* ASPRS classification codes: ground, high vegetation, building, a few low-noise (7)
  returns under the ground and unclassified (1) points; one tile as LAZ;
* a truncated copy and a stray text file.

The Python API pretrains a tiny model for a few steps with ``data.center`` and a voxel
budget that bites, then evaluates the checkpoint on the per-BEV-cell LAS class task and
runs the quick bench on the folder.
"""

from __future__ import annotations

import os
import re
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

from jepakit import get_domain
from jepakit.bench import run_bench, run_evaluate
from jepakit.errors import DataNotice
from jepakit.train import pretrain

laspy = pytest.importorskip("laspy")
torch.set_num_threads(1)


def _tile(path, seed: int, x0: float, y0: float, size: float = 48.0, step: float = 0.5) -> None:
    g = np.random.default_rng(seed)
    xs = np.arange(0, size, step)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")  # scan order: x-major rows
    x, y = gx.reshape(-1) + g.uniform(0, step, gx.size), gy.reshape(-1) + g.uniform(0, step, gx.size)
    z = 300.0 + 0.05 * x - 0.03 * y + g.normal(0, 0.05, x.size)
    cls = np.full(x.size, 2)
    bx, by = g.uniform(4, 20, 2)
    bld = (x >= bx) & (x < bx + 12) & (y >= by) & (y < by + 10)
    z[bld] += g.uniform(8, 20)
    cls[bld] = 6
    for _ in range(4):
        cx, cy = g.uniform(26, 44, 2)
        tree = (x - cx) ** 2 + (y - cy) ** 2 < 9
        z[tree] += g.uniform(6, 14) * g.uniform(0.6, 1.0, int(tree.sum()))
        cls[tree] = 5
    noise = g.random(x.size) < 0.002
    z[noise] -= g.uniform(2, 8, int(noise.sum()))
    cls[noise] = 7
    cls[(cls == 2) & (g.random(x.size) < 0.01)] = 1
    inten = np.clip(np.select([cls == 2, cls == 6, cls == 5], [60, 200, 120], 30) + g.normal(0, 15, x.size), 0, 255)
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([np.floor(x0), np.floor(y0), 0.0])
    las = laspy.LasData(header)
    las.x, las.y, las.z = x + x0, y + y0, z
    las.intensity = inten.astype(np.uint16)
    las.classification = cls.astype(np.uint8)
    las.return_number = np.ones(x.size, dtype=np.uint8)
    las.number_of_returns = np.ones(x.size, dtype=np.uint8)
    las.write(str(path))


def test_messy_las_folder_pretrains_and_evaluates_las_classes(tmp_path):
    data = tmp_path / "tiles"
    data.mkdir()
    laz = pytest.importorskip("lazrs", reason="LAZ backend") is not None
    for i in range(4):
        suffix = ".laz" if (i == 3 and laz) else ".las"
        _tile(data / f"tile_{i}{suffix}", i, 612_000.0 + 48 * i, 5_201_000.0 + 17 * i)
    (data / "broken.las").write_bytes((data / "tile_0.las").read_bytes()[:700])
    (data / "README.txt").write_text("flight 12, EPSG:32632\n")

    dom = get_domain("lidar")
    # without centring: one line naming the data's extent and the fix
    from jepakit.errors import DataError

    with pytest.raises(DataError) as ei:
        dom.load(path=str(data / "tile_0.las"))
    assert "612000" in str(ei.value) and "data.center" in str(ei.value) and "\n" not in str(ei.value)

    overrides = {
        "data": {"center": True, "voxel_size": [1.0, 1.0, 1.0], "bev_stride": 4, "max_voxels": 1500, "test_fraction": 0.25},
        "tokenizer": {"name": "sparse-bev", "channels": [8, 8, 16], "strides": [2, 2], "blocks": 0, "backend": "torch"},
        "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
        "train": {"steps": 4, "batch_size": 2, "rankme_every": 0, "progress": False, "seed": 0},
        "eval": {"fractions": [1.0], "seeds": 1, "max_iter": 100, "max_tokens": 2000, "batch_size": 4},
    }
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        run = pretrain(dom, data=str(data), overrides=overrides, out=tmp_path / "run")
    notes = [str(w.message) for w in rec if issubclass(w.category, DataNotice)]
    assert all("\n" not in m for m in notes)
    assert any("broken.las" in m and "skipping" in m for m in notes)
    assert any("max_voxels" in m and "dropped at random" in m for m in notes)
    assert not [w for w in rec if issubclass(w.category, (FutureWarning, DeprecationWarning)) and "spconv" in str(w.filename)]
    b = run.bundle
    assert len(b.pretrain) == 4 and "las_classes" in b.tasks
    assert re.search(r"(99\.\d|100\.0)% of the", b.describe), b.describe
    pr = b.info["point_range"]
    assert pr[5] >= 20 and pr[2] <= -1  # roofs and trees kept, ground at 0 after centring
    task = b.tasks["las_classes"]
    assert task.classes == ("unclassified", "ground", "high_vegetation", "building", "low_noise")
    # 8-bit intensities are in [0, 1] as a KITTI scan's: buildings ~200/255
    feats = b.pretrain[0]["voxel_feats"]
    assert 0.5 < float(feats[:, 4].max()) <= 1.0
    # scan order: the voxel budget keeps both halves of a tile
    xs = b.pretrain[0]["voxel_coords"][:, 2].float()
    west = float((xs < xs.new_tensor(b.info["spatial_shape"][2] / 2)).float().mean())
    assert 0.3 < west < 0.7, west
    assert all(np.isfinite(h["loss"]) for h in run.history) and len(run.history) == 4

    result = run_evaluate(run.out, echo=False)
    rows = [r for r in result.rows if r["task"] == "las_classes"]
    assert rows and all(0.0 <= r["miou"] <= 1.0 for r in rows)
    assert rows[0]["accuracy"] > 0.3  # ground dominates; a linear probe on 3 tiles finds it

    # the quick bench on the folder: a task to benchmark, the user's grid options kept
    bench = run_bench(
        dom, quick=True, data=str(data), overrides=dict(overrides, eval=dict(overrides["eval"], supervised=False, finetune=False)),
        out=tmp_path / "bench", echo=False,
    )
    assert {r["task"] for r in bench.rows} == {"las_classes"}
    assert {r["method"] for r in bench.rows} == {"jepa/linear", "random-init/linear"}
    assert list(bench.runs["jepa"].bundle.info["voxel_size"]) == [1.0, 1.0, 1.0]
