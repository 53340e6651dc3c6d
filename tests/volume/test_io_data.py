"""Readers and the loader: NumPy, NIfTI and TIFF volumes, images, labelled folders, and the
one-line refusals (wrong dims, NaN voxels, a slice axis that does not exist)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from jepakit import DataError
from jepakit_volume.data import load
from jepakit_volume.io import read_array
from jepakit_volume.testing import write_folder, write_nifti, write_tiff_stack

HAS_NIBABEL = importlib.util.find_spec("nibabel") is not None
needs_nibabel = pytest.mark.skipif(not HAS_NIBABEL, reason="the nifti extra (nibabel) is not installed")


def _ramp(shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def test_npy_npz_and_slice_axis(tmp_path):
    a = _ramp((4, 5, 6))
    np.save(tmp_path / "v.npy", a)
    assert read_array(tmp_path / "v.npy").shape == (4, 5, 6)
    assert np.array_equal(read_array(tmp_path / "v.npy", slice_axis=2), np.moveaxis(a, 2, 0))
    np.savez(tmp_path / "two.npz", a=a, b=a)
    with pytest.raises(DataError, match=r"two\.npz: holds 2 arrays \(a, b\); name one with data.key"):
        read_array(tmp_path / "two.npz")
    assert read_array(tmp_path / "two.npz", key="b").shape == (4, 5, 6)
    with pytest.raises(DataError, match=r"v\.npy: data.slice_axis=3 is not an axis of this 3-D volume of shape \(4, 5, 6\); give 0, 1, 2 or auto"):
        read_array(tmp_path / "v.npy", slice_axis=3)


def test_refusals_are_one_line_naming_the_file(tmp_path):
    bad = _ramp((3, 4, 5))
    bad[1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    np.save(tmp_path / "flat.npy", np.zeros(7, dtype=np.float32))
    np.save(tmp_path / "series.npy", np.zeros((2, 3, 4, 5), dtype=np.float32))
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    cases = {
        "nan.npy": r"nan\.npy: 1 NaN or infinite voxels \(the first at index \(1, 2, 3\)\); fill or mask them",
        "flat.npy": r"flat\.npy: a 1-D array .*give one 3-D volume \(S, H, W\) or one 2-D image per file",
        "series.npy": r"series\.npy: a 4-D array .*save each volume",
        "text.npy": r"text\.npy: holds <U1 data, not numbers",
    }
    for name, pattern in cases.items():
        with pytest.raises(DataError, match=pattern) as info:
            read_array(tmp_path / name)
        assert "\n" not in str(info.value)
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    with pytest.raises(DataError, match=r"broken\.tif: not a readable TIFF file"):
        read_array(tmp_path / "broken.tif")


def test_tiff_stack_is_a_volume_and_a_page_an_image(tmp_path):
    vol = _ramp((5, 6, 7))
    write_tiff_stack(tmp_path / "s.tif", vol)
    a = read_array(tmp_path / "s.tif")
    assert a.shape == (5, 6, 7) and np.corrcoef(a.ravel(), vol.ravel())[0, 1] > 0.999
    write_tiff_stack(tmp_path / "p.tif", vol[:1])
    assert read_array(tmp_path / "p.tif").shape == (6, 7)


@needs_nibabel
def test_nifti_slices_along_z_with_a_trailing_axis(tmp_path):
    vol = _ramp((5, 6, 7))  # (S, H, W)
    write_nifti(tmp_path / "v.nii.gz", vol, trailing=True)  # stored (6, 7, 5, 1)
    a = read_array(tmp_path / "v.nii.gz")
    assert a.shape == (5, 6, 7) and np.corrcoef(a.ravel(), vol.ravel())[0, 1] > 0.999
    (tmp_path / "bad.nii").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match=r"bad\.nii: not a readable NIfTI file"):
        read_array(tmp_path / "bad.nii")


@needs_nibabel
def test_a_real_volume_that_nibabel_ships():
    """nibabel's wheel carries a real anatomical MRI (tests/data/anatomical.nii): it reads
    as a finite 3-D volume, slices along z."""
    import nibabel

    path = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"
    if not path.exists():
        pytest.skip("this nibabel build ships no test data")
    a = read_array(path)
    assert a.ndim == 3 and np.isfinite(a).all() and a.std() > 0
    assert a.shape[0] == nibabel.load(str(path)).shape[2]


def test_labelled_folder_gives_both_tasks_and_resamples(tmp_path):
    formats = ("npy", "nii.gz", "tif") if HAS_NIBABEL else ("npy", "tif")
    root = write_folder(tmp_path / "data", per_class=6, images_per_class=6, size=(12, 16, 16), formats=formats)
    bundle = load(str(root), size=[8, 8, 8], test_fraction=0.5)
    assert set(bundle.tasks) == {"volume3d", "image2d"}
    t3, t2 = bundle.tasks["volume3d"], bundle.tasks["image2d"]
    assert len(t3.train) + len(t3.test) == 12 and len(t2.train) + len(t2.test) == 12
    assert t3.classes == ["cylinder", "sphere"]  # class folders in sorted order
    item = t3.train[0]
    assert item["x"].shape == (8, 8, 8) and item["valid"].all() and item["modality"] == 1
    img = t2.test[0]
    assert img["valid"].tolist() == [True] + [False] * 7 and not img["x"][1:].any()
    assert len(bundle.pretrain) == 24
    kinds = [bundle.pretrain[i]["modality"] for i in range(4)]
    assert kinds == [1, 0, 1, 0]  # interleaved: every batch holds both modalities
    assert bundle.pretrain[1]["valid"].sum() == 2  # a pretraining image: two augmented views
    only = load(str(root), size=8, modalities="volumes")
    assert len(only.pretrain) == 12 and set(only.tasks) == {"volume3d", "image2d"}


def test_folder_refusals(tmp_path):
    root = write_folder(tmp_path / "d", per_class=2, images_per_class=0, formats=("npy",))
    np.save(root / "loose.npy", np.zeros((4, 4, 4), dtype=np.float32))
    with pytest.raises(DataError, match=r"holds class sub-folders \(cylinder, sphere\) and 1 files beside them"):
        load(str(root))
    (root / "loose.npy").unlink()
    with pytest.raises(DataError, match=r"no images \(2-D arrays\) to pretrain on \(data.modalities=images\)"):
        load(str(root), modalities="images")
    with pytest.raises(Exception, match="data.modalities has no option 'all'"):
        load(str(root), modalities="all")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no volume or image files"):
        load(str(empty))
    for f in (root / "sphere").iterdir():
        arr = np.load(f)
        arr[0, 0, 0] = np.nan
        np.save(f, arr)
    for f in (root / "cylinder").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"none of the 2 files could be read: .*NaN or infinite voxels"):
        load(str(root))


def test_embedded_data_shapes():
    b = load(n_volumes=8, n_images=8, n_train=8, n_test=8)
    assert b.info == {"size": [16, 16, 16]} and len(b.pretrain) == 16
    assert set(b.tasks) == {"volume3d", "image2d"}
    assert sorted(set(b.tasks["volume3d"].train.labels.tolist())) == [0, 1, 2, 3]


@needs_nibabel
def test_pretrains_on_the_real_volume_nibabel_ships(tmp_path):
    """End to end on real data: nibabel's anatomical MRI, resampled to 16^3, pretrains
    (a few steps; one volume, no labels, so no tasks)."""
    import shutil

    import nibabel

    from jepakit.train import pretrain

    src = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"
    if not src.exists():
        pytest.skip("this nibabel build ships no test data")
    (tmp_path / "data").mkdir()
    shutil.copy(src, tmp_path / "data" / "anatomical.nii")
    run = pretrain("volume", data=str(tmp_path / "data"), out=tmp_path / "run", overrides=[
        "model.width=32", "model.depth=1", "model.heads=2", "model.pred_width=16", "model.pred_heads=2",
        "train.steps=3", "train.batch_size=2", "train.rankme_every=0", "train.ckpt_minutes=0", "train.progress=false",
    ])
    assert run.bundle.tasks == {} and len(run.bundle.pretrain) == 1
    assert all(np.isfinite(h["loss"]) for h in run.history if "loss" in h)
