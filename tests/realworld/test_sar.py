"""End to end on a messy SAR folder written with tifffile the way real products come.

Whole scenes in class folders (``root/<class>/*.tif``), in three encodings side by side:
float32 amplitude, uint16 digital numbers (a GDAL no-data value on a corner outside the
footprint) and complex64 SLC; beside them a scene with NaN pixels, a small chip, a
readme, a file outside the class folders and a broken TIFF. The Python API pretrains a
tiny model for a few steps and evaluates the checkpoint on the scene classes.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import tifffile
import torch

from jepakit.errors import DataNotice
from jepakit.train import pretrain

torch.set_num_threads(1)

CLASSES = ("field", "forest", "urban")
SIZE, CHIP = 96, 32  # scenes of 3 x 3 chips


def _scene(rng, k: int) -> np.ndarray:
    """Gamma speckle over a class texture: flat fields, blobby forest, bright urban grid."""
    y, x = np.mgrid[:SIZE, :SIZE]
    base = [np.ones((SIZE, SIZE)), 1.5 + np.sin(x / 4.0) * np.cos(y / 5.0), 1.0 + 4.0 * ((x % 12 < 2) | (y % 12 < 2))][k]
    return (base * rng.gamma(2.0, 0.5, (SIZE, SIZE))).astype(np.float32)


def _folder(root):
    rng = np.random.default_rng(0)
    for k, c in enumerate(CLASSES):
        d = root / c
        d.mkdir(parents=True)
        for i in range(4):
            amp = _scene(rng, k)
            if i == 0:
                tifffile.imwrite(d / f"{c}{i}_amp.tif", amp)
            elif i == 1:
                dn = np.clip(amp * 1000 + 1, 1, 65535).astype(np.uint16)
                dn[:CHIP, :CHIP] = 0  # outside the footprint
                tifffile.imwrite(d / f"{c}{i}_dn.tif", dn, extratags=[(42113, "s", 0, "0", False)])
            elif i == 2:
                phase = rng.uniform(-np.pi, np.pi, amp.shape)
                tifffile.imwrite(d / f"{c}{i}_slc.tif", (amp * np.exp(1j * phase)).astype(np.complex64))
            else:
                amp[40:45, 10:20] = np.nan
                tifffile.imwrite(d / f"{c}{i}_nan.tif", amp)
        tifffile.imwrite(d / f"{c}_chip.tif", _scene(rng, k)[:CHIP, :CHIP])
        (d / "readme.txt").write_text("acquired 2021")
    (root / "urban" / "broken.tif").write_bytes(b"II*\0not a tiff")
    tifffile.imwrite(root / "mosaic.tif", _scene(rng, 0))
    return root


def test_messy_sar_folder_pretrains_and_evaluates(tmp_path, evaluated):
    root = _folder(tmp_path / "messy")
    overrides = {
        "data": {"path": str(root), "chip": CHIP, "patch": 8, "test_fraction": 0.4},
        "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
        "train": {"steps": 4, "batch_size": 8, "lr": 1e-3, "warmup": 1, "progress": False, "rankme_every": 0, "device": "cpu"},
        "eval": {"fractions": [1.0], "seeds": 1, "max_iter": 200},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pretrain("sar", overrides=overrides, out=tmp_path / "run")
    said = [str(w.message) for w in caught if issubclass(w.category, DataNotice)]
    assert all("\n" not in s for s in said)
    assert any("broken.tif" in s and "skipped" in s for s in said)
    assert any("mosaic.tif" in s and "not used" in s for s in said)
    # 12 scenes x 9 chips, less the 3 no-data corners and the 3 chips holding NaN
    tiled = [s for s in said if "12 scenes -> 102 chips" in s]
    assert len(tiled) == 1 and "6 chip(s) with NaN/no-data" in tiled[0] and "3 image(s) smaller" not in tiled[0]
    assert "12 scenes -> 102 chips" in run.bundle.describe

    task = run.bundle.tasks["atr"]
    assert task.classes == list(CLASSES)
    assert len(task.train) + len(task.test) == 102 + 3  # and the three one-chip files
    assert not set(task.train.scenes.tolist()) & set(task.test.scenes.tolist())
    assert len(run.bundle.pretrain) == len(task.train)  # test scenes stay out of pretraining
    for ds in (task.train, task.test):
        for s in np.unique(ds.scenes):
            assert len(set(ds.labels[ds.scenes == s].tolist())) == 1
        assert torch.isfinite(ds.images).all()

    result = evaluated(run, 4)
    acc = [r["accuracy"] for r in result.summary if r["task"] == "atr"]
    assert acc and all(0.0 <= a <= 1.0 for a in acc)
