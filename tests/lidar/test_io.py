"""Readers: each format round-trips a file written here; bad input gives one-line DataErrors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from jepakit.errors import DataError
from jepakit_lidar import io

RNG = np.random.default_rng(0)
PTS = np.concatenate([RNG.uniform(-20, 20, (50, 3)), RNG.uniform(0, 1, (50, 1))], 1).astype(np.float32)


def test_bin_roundtrip_and_bad_size(tmp_path):
    f = tmp_path / "000001.bin"
    PTS.tofile(f)
    np.testing.assert_array_equal(io.read_points(f), PTS)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(PTS.tobytes()[:-4])
    with pytest.raises(DataError, match=r"bad\.bin.*not a multiple of 16"):
        io.read_points(bad)


def test_empty_and_nonfinite_clouds(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        io.read_points(empty)
    p = PTS.copy()
    p[3, 1] = np.nan
    p[7, 2] = np.inf
    f = tmp_path / "nan.npy"
    np.save(f, p)
    with pytest.raises(DataError, match=r"nan\.npy: 2 of 50 points have NaN/Inf"):
        io.read_points(f)


def test_npy_npz_and_structured(tmp_path):
    np.save(tmp_path / "a.npy", PTS[:, :3].astype(np.float64))
    got = io.read_points(tmp_path / "a.npy")
    np.testing.assert_allclose(got[:, :3], PTS[:, :3], rtol=1e-6)
    assert (got[:, 3] == 0).all()
    np.savez(tmp_path / "b.npz", points=PTS, other=np.zeros(3))
    np.testing.assert_array_equal(io.read_points(tmp_path / "b.npz"), PTS)
    np.savez(tmp_path / "c.npz", a=PTS, b=PTS)
    with pytest.raises(DataError, match="name the point array 'points'"):
        io.read_points(tmp_path / "c.npz")
    rec = np.zeros(len(PTS), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "u1")])
    for i, k in enumerate("xyz"):
        rec[k] = PTS[:, i]
    rec["intensity"] = (PTS[:, 3] * 255).astype(np.uint8)
    np.save(tmp_path / "d.npy", rec)
    got = io.read_points(tmp_path / "d.npy")
    np.testing.assert_array_equal(got[:, :3], PTS[:, :3])
    np.testing.assert_allclose(got[:, 3], rec["intensity"] / 255.0, atol=1e-6)  # 8-bit intensities rescaled


def _pcd_header(n: int, data: str) -> str:
    return (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\n"
        f"TYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    )


def test_pcd_ascii_and_binary(tmp_path):
    a = tmp_path / "a.pcd"
    a.write_text(_pcd_header(len(PTS), "ascii") + "\n".join(" ".join(f"{v:.7g}" for v in row) for row in PTS) + "\n")
    np.testing.assert_allclose(io.read_points(a), PTS, rtol=1e-6, atol=1e-6)
    b = tmp_path / "b.pcd"
    b.write_bytes(_pcd_header(len(PTS), "binary").encode() + PTS.astype("<f4").tobytes())
    np.testing.assert_array_equal(io.read_points(b), PTS)
    c = tmp_path / "c.pcd"
    c.write_bytes(_pcd_header(len(PTS), "binary").encode() + PTS.astype("<f4").tobytes()[:100])
    with pytest.raises(DataError, match="truncated"):
        io.read_points(c)
    d = tmp_path / "d.pcd"
    d.write_bytes(_pcd_header(len(PTS), "binary_compressed").encode() + b"\0" * 16)
    with pytest.raises(DataError, match="not supported"):
        io.read_points(d)


def _ply_header(fmt: str, n: int) -> str:
    return (
        f"ply\nformat {fmt} 1.0\ncomment written by a test\nelement vertex {n}\nproperty float x\nproperty float y\n"
        "property float z\nproperty float intensity\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n"
    )


@pytest.mark.parametrize("fmt,order", [("binary_little_endian", "<"), ("binary_big_endian", ">")])
def test_ply_binary(tmp_path, fmt, order):
    f = tmp_path / "a.ply"
    f.write_bytes(_ply_header(fmt, len(PTS)).encode() + PTS.astype(order + "f4").tobytes())
    np.testing.assert_array_equal(io.read_points(f), PTS)


def test_ply_ascii(tmp_path):
    f = tmp_path / "a.ply"
    f.write_text(_ply_header("ascii", len(PTS)) + "\n".join(" ".join(f"{v:.7g}" for v in row) for row in PTS) + "\n")
    np.testing.assert_allclose(io.read_points(f), PTS, rtol=1e-6, atol=1e-6)
    g = tmp_path / "bad.ply"
    g.write_text("solid cube\n")
    with pytest.raises(DataError, match="not a PLY"):
        io.read_points(g)


def _write_las(path, compressed=False):
    laspy = pytest.importorskip("laspy")
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.zeros(3)
    las = laspy.LasData(header)
    las.x, las.y, las.z = PTS[:, 0], PTS[:, 1], PTS[:, 2]
    las.intensity = (PTS[:, 3] * 65535).astype(np.uint16)
    las.write(str(path))


def test_las_roundtrip(tmp_path):
    f = tmp_path / "a.las"
    _write_las(f)
    got = io.read_points(f)
    np.testing.assert_allclose(got[:, :3], PTS[:, :3], atol=1e-3)
    np.testing.assert_allclose(got[:, 3], (PTS[:, 3] * 65535).astype(np.uint16) / 65535, atol=1e-6)


def test_laz_roundtrip(tmp_path):
    pytest.importorskip("lazrs")
    f = tmp_path / "a.laz"
    _write_las(f)
    np.testing.assert_allclose(io.read_points(f)[:, :3], PTS[:, :3], atol=1e-3)


def test_unknown_suffix_and_missing(tmp_path):
    (tmp_path / "a.xyz").write_text("1 2 3\n")
    with pytest.raises(DataError, match="unsupported point-cloud format"):
        io.read_points(tmp_path / "a.xyz")
    with pytest.raises(DataError, match="no such file"):
        io.read_points(tmp_path / "nope.bin")


def test_folder_skips_bad_files(tmp_path):
    from jepakit_lidar.data import load

    PTS.tofile(tmp_path / "000000.bin")
    PTS.tofile(tmp_path / "000001.bin")
    (tmp_path / "000002.bin").write_bytes(b"\0" * 10)
    far = PTS.copy()
    far[:, :3] += 1000.0  # every point outside the range
    far.tofile(tmp_path / "000003.bin")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        bundle = load(path=str(tmp_path))
    msgs = [str(x.message) for x in w]
    assert len(bundle.pretrain) == 2
    # one line per skipped file, in the format every plugin's reader uses (jepakit.kit.read_each)
    assert any(m.startswith("skipping ") and "000002.bin" in m and "multiple of 16" in m for m in msgs), msgs
    assert any(m.startswith("skipping ") and "000003.bin" in m and "outside point_range" in m for m in msgs), msgs
    with pytest.raises(DataError, match="outside point_range"):
        load(path=str(tmp_path / "000003.bin"))
    # a folder where nothing can be used: one line with the files' own reasons
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "000000.bin").write_bytes(b"\0" * 10)
    (bad / "000001.bin").write_bytes(b"\0" * 10)
    far.tofile(bad / "000002.bin")
    with pytest.raises(DataError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load(path=str(bad))
    msg = str(err.value)
    assert "\n" not in msg and "none of the 3 point-cloud files could be read" in msg, msg
    assert "multiple of 16" in msg and " x2" in msg and "outside point_range" in msg, msg
    item = bundle.pretrain[0]
    assert item["voxel_feats"].shape[1] == bundle.info["in_chans"] and item["voxel_coords"].shape[1] == 3


def test_kitti_labels_to_bev(tmp_path):
    # camera = LiDAR rotated so that cam x = -lidar y, cam y = -lidar z, cam z = lidar x (KITTI's convention)
    tr = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]], dtype=float)
    calib = tmp_path / "calib.txt"
    calib.write_text(
        "P2: " + " ".join(["0"] * 12) + "\nR0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: " + " ".join(map(str, tr.reshape(-1))) + "\n"
    )
    label = tmp_path / "label.txt"
    # a car 10 m ahead, 2 m to the left (cam x = -2 -> lidar y = +2), heading along lidar x (ry = -pi/2)
    label.write_text(
        f"Car 0.00 0 -1.57 0 0 50 50 1.5 1.8 4.0 -2.0 1.7 10.0 {-math.pi / 2:.6f}\n"
        f"Pedestrian 0.00 0 0 0 0 5 5 1.7 0.6 0.6 3.5 1.7 6.5 0.0\n"
        "DontCare -1 -1 -10 0 0 1 1 -1 -1 -1 -1000 -1000 -1000 -10\n"
    )
    boxes = io.read_kitti_labels(label, calib)
    car = boxes[0]
    assert car.cls == 1 and car.x == pytest.approx(10.0) and car.y == pytest.approx(2.0) and car.z == pytest.approx(-1.7)
    assert math.cos(car.yaw) == pytest.approx(1.0, abs=1e-5)
    assert boxes[1].cls == 2 and boxes[2].cls == -1
    pr = (0.0, -8.0, -3.0, 16.0, 8.0, 1.0)
    occ = np.zeros((16, 16), dtype=bool)
    occ[4:12, 4:14] = True
    bev = io.boxes_to_bev(boxes[:2], pr, (1.0, 1.0), occ)
    # car footprint: x in [8, 12], y in [1.1, 2.9] -> cols 8..11, row 9 (y centre 1.5 .. 2.5)
    assert (bev[9, 8:12] == 1).all() and bev[9, 7] != 1 and bev[9, 12] != 1
    assert bev[4, 6] == 2 and (bev == 2).sum() == 1  # lidar (6.5, -3.5): row 4, col 6
    assert bev[0, 0] == -1 and bev[5, 13] == 0  # empty outside boxes is ignored, occupied is background
    bad = tmp_path / "bad.txt"
    bad.write_text("Car 0 0\n")
    with pytest.raises(DataError, match=r"bad\.txt:1: a KITTI label line has 15 fields"):
        io.read_kitti_labels(bad, calib)


def test_kitti_folder_gives_bev_task(tmp_path, kitti_folder):
    from jepakit_lidar.data import load

    kitti_folder(tmp_path, 4)
    bundle = load(path=str(tmp_path), point_range=(-25.6, -25.6, -3.0, 25.6, 25.6, 3.0), voxel_size=(0.4, 0.4, 0.5))
    task = bundle.tasks["bev_seg"]
    assert len(task.train) == 3 and len(task.test) == 1 and task.classes == io.KITTI_CLASSES
    lab = task.test[0]["label"].reshape(32, 32)  # 1.6 m cells
    # the car's cells (x 8..12 m -> cols 21..23, y 1.1..2.9 m -> row 17) are class 1
    assert (lab[17, 21:23] == 1).all()
    assert (lab[:, :16] == -1).all()  # behind the sensor: outside the camera view
    assert set(lab.unique().tolist()) <= {-1, 0, 1}
    assert (lab == 0).any()
