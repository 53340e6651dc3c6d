"""Real-data defects (issue 14): whole scenes in class folders, the reason of a bad file
in the final error, and other silent drops or reinterpretations (colour composites,
no-data pixels, files outside class folders). Every file is written with tifffile or
pillow."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from jepakit.errors import DataError, DataNotice
from jepakit_sar.data import load, load_folder
from jepakit_sar.io import read_sar


def said(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, DataNotice)]


def _scenes(root: Path, classes=("forest", "urban"), n=3, size=256, seed=0) -> None:
    g = np.random.default_rng(seed)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n):
            scene = g.gamma(1.0, 1.0 + 2 * k, (size, size)).astype(np.float32)
            if i % 2:
                tifffile.imwrite(root / c / f"s{i}.tif", scene)
            else:  # an uint16 product beside a float32 one
                tifffile.imwrite(root / c / f"s{i}.tif", np.clip(scene * 100, 0, 65535).astype(np.uint16))


def test_scenes_in_class_folders_are_tiled_and_split_by_scene(tmp_path):
    _scenes(tmp_path / "ds")
    (pre, tasks, desc), lines = said(load_folder, tmp_path / "ds", chip=64, test_fraction=0.34)
    task = tasks["atr"]
    assert len(task.train) + len(task.test) == 6 * 16  # every chip of every scene
    assert len(pre) == len(task.train)
    # whole scenes on one side: no scene has chips in both splits
    assert not set(task.train.scenes.tolist()) & set(task.test.scenes.tolist())
    assert len(set(task.test.scenes.tolist())) == 2 and len(task.test) == 2 * 16
    for ds in (task.train, task.test):  # every chip carries its scene's class
        for s in np.unique(ds.scenes):
            assert len(set(ds.labels[ds.scenes == s].tolist())) == 1
    assert any("6 scenes" in m and "96 chips" in m for m in lines + [desc])


def test_class_folder_of_one_bad_file_gives_the_reason(tmp_path):
    _scenes(tmp_path / "ds", n=2)
    (tmp_path / "ds" / "ships").mkdir()
    (tmp_path / "ds" / "ships" / "x.tif").write_bytes(b"II*\0garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load_folder(tmp_path / "ds", chip=64)
    msg = str(err.value)
    assert "x.tif" in msg and "unreadable TIFF" in msg and "\n" not in msg


@pytest.mark.parametrize("layout", ["folder", "file"])
def test_unlabelled_bad_file_gives_the_reason(tmp_path, layout):
    np.save(tmp_path / "x.npy", np.array([[1.0, np.nan], [1.0, 1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load_folder(tmp_path if layout == "folder" else tmp_path / "x.npy", chip=64)
    assert "x.npy" in str(err.value) and "NaN" in str(err.value)


def test_centre_crop_and_tiling_remainder_are_told(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for c in "ab":
        for i in range(2):
            tifffile.imwrite(tmp_path / c / f"{i}.tif", np.ones((100, 90), np.float32))
    _, lines = said(load_folder, tmp_path, chip=64)
    assert any("centre-cropped" in m and "4 " in m and "data.tile" in m for m in lines)
    scene = tmp_path / "scene.tif"
    tifffile.imwrite(scene, np.ones((200, 140), np.float32))
    (pre, _, _), lines = said(load_folder, scene, chip=64)
    assert len(pre) == 6
    assert any("1 scene" in m and "6 chips" in m and "edge" in m for m in lines)


def test_tile_option_never_keeps_one_centred_chip_per_file(tmp_path):
    _scenes(tmp_path / "ds", n=2)
    (pre, tasks, _), lines = said(load_folder, tmp_path / "ds", chip=64, tile="never")
    assert len(tasks["atr"].train) + len(tasks["atr"].test) == 4
    assert any("centre-cropped" in m for m in lines)
    with pytest.raises(DataError, match="data.tile"):
        load_folder(tmp_path / "ds", chip=64, tile="sometimes")


def test_nodata_and_nan_tiles_of_a_scene_are_left_out_and_told(tmp_path):
    scene = np.random.default_rng(1).gamma(1.0, 1.0, (256, 256)).astype(np.float32)
    scene[:64, :64] = np.nan  # outside the footprint
    tifffile.imwrite(tmp_path / "nan.tif", scene)
    (pre, _, _), lines = said(load_folder, tmp_path / "nan.tif", chip=64)
    assert len(pre) == 15 and all(np.isfinite(pre[i]["image"].numpy()).all() for i in range(15))
    assert any("no-data" in m and "1 " in m for m in lines)
    ints = np.clip(np.nan_to_num(scene, nan=0) * 100 + 1, 1, 60000).astype(np.uint16)
    ints[:64, :64] = 0  # GDAL_NODATA = 0
    tifffile.imwrite(tmp_path / "nodata.tif", ints, extratags=[(42113, "s", 0, "0", False)])
    (pre, _, _), lines = said(load_folder, tmp_path / "nodata.tif", chip=64)
    assert len(pre) == 15 and min(float(pre[i]["image"].min()) for i in range(15)) > 0
    with pytest.raises(DataError, match="no-data"):
        read_sar(tmp_path / "nodata.tif")  # a single chip with no-data pixels is not read as zeros


def test_colour_composite_is_not_turned_grey(tmp_path):
    g = np.random.default_rng(2)
    pauli = g.integers(0, 256, (40, 40, 3)).astype(np.uint8)  # PolSAR Pauli RGB
    Image.fromarray(pauli).save(tmp_path / "pauli.png")
    with pytest.raises(DataError, match="pauli.png.*data.band"):
        read_sar(tmp_path / "pauli.png")
    np.testing.assert_array_equal(read_sar(tmp_path / "pauli.png", band=1), pauli[..., 1].astype(np.float32))
    grey = g.integers(0, 256, (40, 40)).astype(np.uint8)
    Image.fromarray(grey).convert("RGB").save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_sar(tmp_path / "grey.png"), grey.astype(np.float32))


def test_complex_tiff_with_a_scale_is_told(tmp_path):
    slc = (np.ones((16, 16)) * (3 + 4j)).astype(np.complex64)
    tifffile.imwrite(tmp_path / "slc.tif", slc)
    out, lines = said(read_sar, tmp_path / "slc.tif", scale="db")
    np.testing.assert_allclose(out, 5.0)
    assert any("slc.tif" in m and "complex" in m and "scale=db" in m for m in lines)


def test_files_outside_class_folders_are_told(tmp_path):
    _scenes(tmp_path / "ds", n=2)
    tifffile.imwrite(tmp_path / "ds" / "loose.tif", np.ones((64, 64), np.float32))
    _, lines = said(load_folder, tmp_path / "ds", chip=64)
    assert any("loose.tif" in m and "not used" in m for m in lines)
    _scenes(tmp_path / "soc" / "train", n=2)
    _scenes(tmp_path / "soc" / "test", classes=("forest", "urban", "water"), n=2, seed=1)
    _, lines = said(load_folder, tmp_path / "soc", chip=64)
    assert any("water" in m and "not used" in m for m in lines)


def test_bundle_describe_says_scenes_and_chips(tmp_path):
    _scenes(tmp_path / "ds", n=2)
    bundle, _ = said(load, path=str(tmp_path / "ds"), chip=64, patch=8)
    assert "4 scenes" in bundle.describe and "64 chips" in bundle.describe


def test_mixed_failures_are_counted_per_reason(tmp_path):
    for name in ("a.tif", "b.tif"):
        (tmp_path / name).write_bytes(b"II*\0garbage")
    np.save(tmp_path / "c.npy", np.array([[1.0, np.nan], [1.0, 1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load_folder(tmp_path, chip=64)
    msg = str(err.value)
    assert "a.tif" in msg and "3 files" in msg and "x2" in msg and "x1" in msg and "\n" not in msg


def test_validation_split_keeps_each_scene_on_one_side(tmp_path):
    # the core's validation split (eval.split=validation) draws from the training chips;
    # chips of one tiled scene on both sides would score the probe on scenes it has seen
    from jepakit.evaluate import validation_task

    rng = np.random.default_rng(0)
    for k, name in enumerate(("tank", "truck")):
        (tmp_path / name).mkdir()
        for i in range(6):
            tifffile.imwrite(tmp_path / name / f"{i}.tif", (rng.gamma(1.0, 1.0 + k, (96, 96))).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load(path=str(tmp_path), chip=32, patch=8)
    task = next(iter(bundle.tasks.values()))
    assert task.split_key == "scene"
    val = validation_task(task, 0.3, seed=0)
    fit_scenes = {int(val.train[i]["scene"]) for i in range(len(val.train))}
    held_scenes = {int(val.test[i]["scene"]) for i in range(len(val.test))}
    assert fit_scenes and held_scenes and not fit_scenes & held_scenes
