"""Readers: MSTAR raw written in the documented layout, TIFF/GeoTIFF, PNG/JPEG, NumPy,
folder layouts and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from jepakit.errors import DataError
from jepakit_sar.data import load, load_folder
from jepakit_sar.io import fit_chip, is_mstar, read_mstar, read_sar, tiles


def phoenix_header(fields: dict[str, object], native_len: int = 0) -> bytes:
    """MSTAR's Phoenix ASCII header: a leading newline, ``[PhoenixHeaderVer01.04]``,
    ``Key= value`` lines, ``[EndofPhoenixHeader]``; ``PhoenixHeaderLength`` is the byte
    length of the whole header (the data starts there)."""
    def text(length: int) -> bytes:
        lines = ["", "[PhoenixHeaderVer01.04]", f"PhoenixHeaderLength= {length:06d}", f"native_header_length= {native_len}"]
        lines += [f"{k}= {v}" for k, v in fields.items()]
        lines += ["[EndofPhoenixHeader]", ""]
        return "\n".join(lines).encode("ascii")

    return text(len(text(0)))


def write_mstar_chip(path: Path, mag: np.ndarray, phase: np.ndarray, **extra) -> Path:
    rows, cols = mag.shape
    header = phoenix_header({"PhoenixSigSize": 0, "NumberOfColumns": cols, "NumberOfRows": rows, "TargetType": "t72", "TargetAz": 31.5, "DesiredDepression": 17, **extra})
    payload = mag.astype(">f4").tobytes() + phase.astype(">f4").tobytes()
    path.write_bytes(header + payload)
    return path


@pytest.fixture
def chip():
    g = np.random.default_rng(0)
    return g.exponential(1.0, (54, 50)).astype(np.float32), g.uniform(-np.pi, np.pi, (54, 50)).astype(np.float32)


def test_mstar_chip_reads_back_exactly(tmp_path, chip):
    mag, phase = chip
    p = write_mstar_chip(tmp_path / "HB03787.015", mag, phase)
    assert is_mstar(p)
    m = read_mstar(p)
    np.testing.assert_array_equal(m.magnitude, mag)
    np.testing.assert_array_equal(m.phase, phase)
    assert m.header["TargetType"] == "t72" and m.header["NumberOfRows"] == "54"
    np.testing.assert_allclose(np.abs(m.complex), mag, rtol=1e-6)
    np.testing.assert_array_equal(read_sar(p), mag)  # the extension is irrelevant, the header decides


def test_mstar_full_scene_uint16_after_native_header(tmp_path):
    g = np.random.default_rng(1)
    mag = g.integers(0, 4000, (20, 30)).astype(np.uint16)
    header = phoenix_header({"NumberOfColumns": 30, "NumberOfRows": 20, "RadarMode": 5}, native_len=512)
    (tmp_path / "scene.000").write_bytes(header + b"\0" * 512 + mag.astype(">u2").tobytes())
    m = read_mstar(tmp_path / "scene.000")
    assert m.phase is None
    np.testing.assert_array_equal(m.magnitude, mag.astype(np.float32))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.replace(b"[EndofPhoenixHeader]", b"[EndOfSomething]     "), "no \\[EndofPhoenixHeader\\]"),
        (lambda b: b.replace(b"NumberOfRows= 54", b"NumberOfRowz= 54"), "no NumberOfRows field"),
        (lambda b: b.replace(b"NumberOfColumns= 50", b"NumberOfColumns= 5x"), "NumberOfColumns='5x' is not an integer"),
        (lambda b: b.replace(b"PhoenixHeaderLength= 000", b"PhoenixHeaderLength= 000")[:-100], "short MSTAR payload"),
        (lambda b: b.replace(b"[PhoenixHeaderVer01.04]", b"[SomethingElse.0000004]"), "not an MSTAR file"),
    ],
)
def test_mstar_damaged_files_name_the_file(tmp_path, chip, mutate, message):
    p = write_mstar_chip(tmp_path / "bad.017", *chip)
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises(DataError, match=message) as err:
        read_sar(p) if "not an MSTAR" in message else read_mstar(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_mstar_header_length_inside_text_is_damage(tmp_path, chip):
    p = write_mstar_chip(tmp_path / "a.015", *chip)
    raw = p.read_bytes()
    start = raw.index(b"PhoenixHeaderLength= ") + len(b"PhoenixHeaderLength= ")
    p.write_bytes(raw[:start] + b"000010" + raw[start + 6 :])
    with pytest.raises(DataError, match="ends inside the header"):
        read_mstar(p)


def test_mstar_nan_payload(tmp_path, chip):
    mag, phase = chip
    mag = mag.copy()
    mag[3, 4] = np.nan
    p = write_mstar_chip(tmp_path / "nan.015", mag, phase)
    with pytest.raises(DataError, match="NaN"):
        read_sar(p)


def test_tiff_geotiff_and_scales(tmp_path):
    g = np.random.default_rng(2)
    amp = g.uniform(0.1, 3.0, (40, 36)).astype(np.float32)
    tifffile.imwrite(tmp_path / "a.tif", amp)
    np.testing.assert_array_equal(read_sar(tmp_path / "a.tif"), amp)
    # GeoTIFF: georeferencing tags (ModelPixelScale, ModelTiepoint) alongside the data
    tifffile.imwrite(
        tmp_path / "g.tiff", amp**2,
        extratags=[(33550, "d", 3, (10.0, 10.0, 0.0)), (33922, "d", 6, (0, 0, 0, 500000.0, 4200000.0, 0))],
    )
    np.testing.assert_allclose(read_sar(tmp_path / "g.tiff", scale="intensity"), amp, rtol=1e-6)
    tifffile.imwrite(tmp_path / "db.tif", (20 * np.log10(amp)).astype(np.float32))
    np.testing.assert_allclose(read_sar(tmp_path / "db.tif", scale="db"), amp, rtol=1e-5)
    # band-first multi-band TIFF: pick a band
    tifffile.imwrite(tmp_path / "bands.tif", np.stack([amp, 2 * amp]))
    np.testing.assert_allclose(read_sar(tmp_path / "bands.tif", band=1), 2 * amp)
    with pytest.raises(DataError, match="single-channel"):
        read_sar(tmp_path / "bands.tif")


def test_numpy_complex_slc_and_npz(tmp_path):
    g = np.random.default_rng(3)
    slc = (g.normal(size=(32, 32)) + 1j * g.normal(size=(32, 32))).astype(np.complex64)
    np.save(tmp_path / "slc.npy", slc)
    np.testing.assert_allclose(read_sar(tmp_path / "slc.npy"), np.abs(slc), rtol=1e-6)
    np.savez(tmp_path / "x.npz", other=np.zeros(3), img=np.abs(slc))
    np.testing.assert_allclose(read_sar(tmp_path / "x.npz", npz_key="img"), np.abs(slc), rtol=1e-6)
    with pytest.raises(DataError, match="no array 'nope'"):
        read_sar(tmp_path / "x.npz", npz_key="nope")


def test_png_and_jpeg(tmp_path):
    g = np.random.default_rng(4)
    img = g.integers(0, 256, (30, 40)).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_sar(tmp_path / "a.png"), img.astype(np.float32))
    Image.fromarray(img).convert("RGB").save(tmp_path / "a.jpg", quality=95)
    back = read_sar(tmp_path / "a.jpg")
    assert back.shape == (30, 40) and np.abs(back - img).mean() < 12  # lossy but grey-converted
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(tmp_path / "b.jpeg")
    assert read_sar(tmp_path / "b.jpeg").mean() == pytest.approx(7, abs=1)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((2, 3, 4, 5), np.float32), "single-channel 2-D"),
        (np.zeros(10, np.float32), "single-channel 2-D"),
        (np.array([[1.0, np.nan], [1.0, 1.0]]), "NaN"),
        (np.array([[1.0, -1.0], [1.0, 1.0]]), "scale=db"),
    ],
)
def test_bad_arrays_give_one_line_errors(tmp_path, array, message):
    p = tmp_path / "bad.npy"
    np.save(p, array)
    with pytest.raises(DataError, match=message) as err:
        read_sar(p)
    assert str(err.value).startswith(str(p)) and "\n" not in str(err.value)


def test_unreadable_and_unknown_files(tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"II*\0garbage")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.bin").write_bytes(b"hello")
    for name, message in (("broken.tif", "unreadable TIFF"), ("broken.png", "unreadable image"), ("notes.bin", "unsupported file type")):
        with pytest.raises(DataError, match=message):
            read_sar(tmp_path / name)


def test_fit_chip_crops_centre_and_pads():
    a = np.arange(100 * 90, dtype=np.float32).reshape(100, 90)
    c = fit_chip(a, 64)
    assert c.shape == (64, 64)
    np.testing.assert_array_equal(c, a[18:82, 13:77])
    small = np.arange(40 * 30, dtype=np.float32).reshape(40, 30) + 1
    p = fit_chip(small, 64)
    assert p.shape == (64, 64) and p.min() > 0  # reflected, no zero border
    np.testing.assert_array_equal(p[12:52, 17:47], small)
    assert fit_chip(np.ones((3, 3), np.float32), 16).shape == (16, 16)  # too small to reflect: edge mode
    assert len(tiles(np.zeros((130, 200)), 64)) == 2 * 3


def _class_folders(root: Path, classes=("bmp2", "t72"), n=6, seed=0) -> None:
    g = np.random.default_rng(seed)
    for k, c in enumerate(classes):
        d = root / c
        d.mkdir(parents=True)
        for i in range(n):
            mag = g.exponential(1.0 + k, (70, 70)).astype(np.float32)
            write_mstar_chip(d / f"HB{i:05d}.015", mag, np.zeros_like(mag))


def test_class_folders_split_and_skip_a_bad_file(tmp_path):
    _class_folders(tmp_path / "ds")
    (tmp_path / "ds" / "t72" / "HB99999.015").write_bytes(b"\n[PhoenixHeaderVer01.04]\ntruncated")
    (tmp_path / "ds" / "t72" / "readme.txt").write_text("ignored")
    with pytest.warns(UserWarning, match="skipped.*HB99999.015"):
        pre, tasks, desc = load_folder(tmp_path / "ds", chip=64, test_fraction=0.5)
    task = tasks["atr"]
    assert task.classes == ["bmp2", "t72"]
    assert len(task.train) + len(task.test) == 12 and len(task.test) == 6
    item = task.train[0]
    assert item["image"].shape == (1, 64, 64)
    assert float(item["image"].mean()) == pytest.approx(1.0, rel=1e-4)  # mean-normalised
    assert sorted(set(task.test.labels.tolist())) == [0, 1]


def test_train_test_layout_and_empty_class(tmp_path):
    _class_folders(tmp_path / "soc" / "TRAIN", n=3)
    _class_folders(tmp_path / "soc" / "TEST", n=2, seed=1)
    bundle = load(path=str(tmp_path / "soc"))
    task = bundle.tasks["atr"]
    assert (len(task.train), len(task.test)) == (6, 4)
    assert bundle.info == {"img_size": 64, "patch": 8, "in_chans": 1}
    (tmp_path / "soc" / "TRAIN" / "zsu23").mkdir()
    (tmp_path / "soc" / "TEST" / "zsu23").mkdir()
    with pytest.raises(DataError, match="zsu23: class folder has no readable SAR chips"):
        load(path=str(tmp_path / "soc"))


def test_unlabelled_scene_is_tiled(tmp_path):
    scene = np.random.default_rng(5).exponential(1.0, (200, 140)).astype(np.float32)
    tifffile.imwrite(tmp_path / "scene.tif", scene)
    pre, tasks, _ = load_folder(tmp_path / "scene.tif", chip=64)
    assert len(pre) == 3 * 2 and tasks == {}
    np.testing.assert_allclose(pre[0]["image"][0].numpy(), scene[:64, :64] / scene[:64, :64].mean(), rtol=1e-5)


def test_folder_of_only_bad_files_is_an_error(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="no readable SAR images"):
            load_folder(tmp_path)
