"""Real-data defects (issue 14): LAS intensities, point budget and grid size, projected
coordinates and centring, LAS classification tasks, presets over user data, lazy spconv.

Every file here is written with the real library (laspy) or numpy, as a user's would be."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from jepakit.errors import DataError

laspy = pytest.importorskip("laspy")


def write_las(path, xyz, intensity=None, classification=None, scale=0.01, offset=None):
    """A LAS 1.2 point-format-3 file as survey software writes it: scaled integer
    coordinates around an offset, integer intensities, classification codes."""
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([scale] * 3)
    header.offsets = np.floor(xyz.min(0)) if offset is None else np.asarray(offset, dtype=float)
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if intensity is not None:
        las.intensity = np.asarray(intensity).astype(np.uint16)
    if classification is not None:
        las.classification = np.asarray(classification).astype(np.uint8)
    las.write(str(path))


def airborne_tile(seed=0, x0=600_000.0, y0=5_200_000.0, size=40.0, step=0.5):
    """A projected-coordinate airborne tile in scan order (rows along y, swept in x):
    ground at ~300 m, a 20 m tall building and a 12 m tree; ASPRS codes 2/6/5."""
    g = np.random.default_rng(seed)
    xs = np.arange(0, size, step)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")  # x-major: the first half of the file is the west half
    x, y = gx.reshape(-1), gy.reshape(-1)
    z = 300.0 + 0.02 * x + g.normal(0, 0.03, x.size)
    cls = np.full(x.size, 2)
    bld = (x >= 5) & (x < 15) & (y >= 5) & (y < 15)
    z[bld] += 20.0
    cls[bld] = 6
    tree = (x - 28) ** 2 + (y - 28) ** 2 < 16
    z[tree] += 12.0 * g.uniform(0.5, 1.0, int(tree.sum()))
    cls[tree] = 5
    inten = np.where(cls == 2, 40, np.where(cls == 6, 180, 90)) + g.integers(0, 20, x.size)  # 8-bit
    xyz = np.stack([x + x0, y + y0, z], 1)
    return xyz, inten, cls


# ------------------------------------------------------------------ 6: LAS intensity scale


def _scene():
    g = np.random.default_rng(3)
    # coordinates on a 2^-10 m lattice and reflectances k/255: exact in float32, in LAS
    # integers at scale 2^-10, as 8-bit k and as 16-bit 257 k
    xyz = np.round(g.uniform(-10, 10, (4000, 3)) * 1024) / 1024
    xyz[:, 2] = np.round(g.uniform(-2.5, 2.5, 4000) * 1024) / 1024
    k = g.integers(0, 256, 4000)
    return xyz, k


def test_las_8_and_16_bit_intensity_give_the_same_features_as_kitti_bin(tmp_path):
    from jepakit_lidar import io
    from jepakit_lidar.data import load

    xyz, k = _scene()
    for d in ("bin", "las8", "las16"):
        (tmp_path / d).mkdir()
    np.concatenate([xyz, (k / 255.0)[:, None]], 1).astype(np.float32).tofile(tmp_path / "bin" / "a.bin")
    write_las(tmp_path / "las8" / "a.las", xyz, k, scale=2.0**-10, offset=(0, 0, 0))
    write_las(tmp_path / "las16" / "a.las", xyz, k * 257, scale=2.0**-10, offset=(0, 0, 0))
    ref = io.read_points(tmp_path / "bin" / "a.bin")
    for d in ("las8", "las16"):
        got = io.read_points(tmp_path / d / "a.las")
        np.testing.assert_array_equal(got[:, :3], ref[:, :3])
        np.testing.assert_allclose(got[:, 3], ref[:, 3], atol=1e-6, err_msg=d)
    items = {d: load(path=str(tmp_path / d)).pretrain[0] for d in ("bin", "las8", "las16")}
    assert items["bin"]["voxel_feats"][:, 4].max() > 0.5  # intensities in [0, 1], not ~0.004
    for d in ("las8", "las16"):
        assert torch.equal(items[d]["voxel_coords"], items["bin"]["voxel_coords"])
        torch.testing.assert_close(items[d]["voxel_feats"], items["bin"]["voxel_feats"], atol=1e-6, rtol=0)


# ------------------------------------------------------ 7: point budget, grid size up front


def test_max_voxels_drops_at_random_not_the_end_of_the_file_and_says_so(tmp_path):
    from jepakit_lidar.data import load

    xyz, inten, cls = airborne_tile(x0=0.0, y0=0.0)
    xyz[:, :2] -= 20.0
    xyz[:, 2] -= 300.0
    write_las(tmp_path / "tile.las", xyz, inten, cls)
    pr = (-20.0, -20.0, -2.0, 20.0, 20.0, 30.0)
    full = load(path=str(tmp_path / "tile.las"), point_range=pr, voxel_size=(1.0, 1.0, 1.0)).pretrain[0]
    n = full["voxel_coords"].shape[0]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        item = load(path=str(tmp_path / "tile.las"), point_range=pr, voxel_size=(1.0, 1.0, 1.0), max_voxels=n // 2).pretrain[0]
    assert item["voxel_coords"].shape[0] == n // 2
    west = float((item["voxel_coords"][:, 2] < 20).float().mean())  # x index < 20: the first half of the file
    assert 0.35 < west < 0.65, west
    msgs = [str(w.message) for w in rec]
    hit = [m for m in msgs if "max_voxels" in m]
    assert hit and "tile.las" in hit[0] and f"{n - n // 2}" in hit[0] and "%" in hit[0] and "\n" not in hit[0]


def test_random_voxel_cap_has_no_density_bias():
    from jepakit_lidar.voxelize import VoxelGrid, voxelize

    grid = VoxelGrid((0.0, 0.0, 0.0, 20.0, 10.0, 1.0), (1.0, 1.0, 1.0))
    g = torch.Generator().manual_seed(0)
    cells = torch.stack(torch.meshgrid(torch.arange(20.0), torch.arange(10.0), indexing="ij"), -1).reshape(-1, 2) + 0.5
    dense = cells[cells[:, 0] < 10].repeat_interleave(30, 0)  # 30 points a voxel in the west
    sparse = cells[cells[:, 0] >= 10]  # one point a voxel in the east
    pts = torch.cat([dense, sparse])
    pts = torch.cat([pts, torch.full((len(pts), 1), 0.5)], 1)
    pts = pts[torch.randperm(len(pts), generator=g)]
    v = voxelize(pts, grid, 32, 100, drop="random", seed=0)
    east = float((v.coords[:, 2] >= 10).float().mean())
    assert 0.35 < east < 0.65, east


def test_grid_too_large_is_one_line_up_front(tmp_path):
    from jepakit_lidar.data import load

    xyz, inten, cls = airborne_tile()
    write_las(tmp_path / "tile.las", xyz, inten, cls)
    with pytest.raises(DataError) as ei:
        load(path=str(tmp_path / "tile.las"), point_range=(599_000.0, 5_199_000.0, 0.0, 601_000.0, 5_201_000.0, 400.0))
    msg = str(ei.value)
    assert "\n" not in msg and "tokens" in msg and "point_range" in msg and "voxel_size" in msg


# ------------------------------------------------------ 10: projected coordinates, centring


def test_projected_coordinates_error_shows_extent_and_the_fix(tmp_path):
    from jepakit_lidar.data import load

    xyz, inten, cls = airborne_tile()
    write_las(tmp_path / "tile.las", xyz, inten, cls)
    with pytest.raises(DataError) as ei:
        load(path=str(tmp_path / "tile.las"))
    msg = str(ei.value)
    assert "\n" not in msg and "tile.las" in msg and "outside point_range" in msg
    assert "600000" in msg and "5200000" in msg  # the data's extent
    assert "data.center" in msg and "data.point_range" in msg


def test_center_keeps_roofs_and_trees_and_reports_the_kept_fraction(tmp_path):
    from jepakit_lidar.data import load

    for i in range(2):
        xyz, inten, cls = airborne_tile(seed=i, x0=600_000.0 + 40 * i)
        write_las(tmp_path / f"t{i}.las", xyz, inten, cls)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        b = load(path=str(tmp_path), center=True, voxel_size=(1.0, 1.0, 1.0))
    pr = b.info["point_range"]
    assert pr[2] <= -0.5 and pr[5] >= 20.5  # the z window holds the ground and the 20 m roofs
    assert pr[0] <= -20 and pr[3] >= 20
    assert re.search(r"(99\.\d|100\.0)% of the", b.describe), b.describe  # the kept fraction
    assert not [w for w in rec if "inside" in str(w.message)]
    item = b.pretrain[0]
    top = (item["voxel_coords"][:, 0].max().item() + 0.5) * 1.0 + pr[2]
    assert top > 19.0
    # a window that keeps little of the centred data is one line of warning
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        b = load(path=str(tmp_path), center=True, point_range=(-5.0, -5.0, -3.0, 5.0, 5.0, 3.0))
    small = [str(w.message) for w in rec if "point_range" in str(w.message)]
    assert small and "%" in small[0] and "\n" not in small[0]


def test_the_derived_window_is_bundle_state_that_a_checkpoint_hands_back(tmp_path):
    """The window derived from the pretraining scans is the bundle's declared state; with
    it (what the core saved with the checkpoint) other data is read on the same grid, and
    an old checkpoint's info (which holds point_range too) does the same."""
    from jepakit_lidar.data import load

    for i in range(2):
        xyz, inten, cls = airborne_tile(seed=i, x0=600_000.0 + 40 * i)
        write_las(tmp_path / f"t{i}.las", xyz, inten, cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = load(path=str(tmp_path), center=True, voxel_size=(1.0, 1.0, 1.0))
    assert b.state == {"point_range": list(b.info["point_range"])}
    other = tmp_path / "other"
    other.mkdir()
    xyz, inten, cls = airborne_tile(seed=5, x0=600_000.0)
    write_las(other / "t.las", xyz[xyz[:, 0] < xyz[:, 0].mean()], inten[xyz[:, 0] < xyz[:, 0].mean()], cls[xyz[:, 0] < xyz[:, 0].mean()])
    for saved in (b.state, dict(b.info)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = load(path=str(other), center=True, voxel_size=(1.0, 1.0, 1.0), state=saved)
        assert list(again.info["point_range"]) == list(b.info["point_range"])


def test_center_applies_to_files_only():
    from jepakit.errors import ConfigError
    from jepakit_lidar.data import load

    with pytest.raises((ConfigError, DataError), match="data.center"):
        load(center=True, scenes=2, train_scenes=1, test_scenes=1)


# -------------------------------------------------------- 11: LAS classification as a task


def test_las_classification_is_a_bev_task(tmp_path):
    from jepakit_lidar.data import load

    for i in range(4):
        xyz, inten, cls = airborne_tile(seed=i, x0=600_000.0 + 40 * i)
        write_las(tmp_path / f"t{i}.las", xyz, inten, cls)
    b = load(path=str(tmp_path), center=True, voxel_size=(1.0, 1.0, 1.0), bev_stride=2)
    assert list(b.tasks) == ["las_classes"]
    task = b.tasks["las_classes"]
    assert task.kind == "token_multiclass"
    assert task.classes == ("ground", "high_vegetation", "building")
    assert len(task.train) == 3 and len(task.test) == 1
    h, w = b.info["bev_grid"]
    lab = task.test[0]["label"].reshape(h, w)
    assert lab.shape[0] * lab.shape[1] == task.test[0]["label"].numel()
    assert set(lab.unique().tolist()) <= {-1, 0, 1, 2}
    # tile centre at (20, 20) of the tile, z at ground: the building spans x, y in [5, 15)
    # of the tile = [-15, -5) centred; cells are 2 m, the grid starts at point_range[0]
    pr = b.info["point_range"]
    r = int((-10 - pr[1]) // 2)
    c = int((-10 - pr[0]) // 2)
    assert lab[r, c] == 2  # building
    assert lab[int((10 - pr[1]) // 2), int((-10 - pr[0]) // 2)] == 0  # ground
    assert lab[int((8 - pr[1]) // 2), int((8 - pr[0]) // 2)] == 1  # tree at (28, 28)


def test_trivial_classification_gives_no_task(tmp_path):
    from jepakit_lidar.data import load

    for i in range(3):
        xyz, inten, _ = airborne_tile(seed=i, x0=600_000.0 + 40 * i)
        write_las(tmp_path / f"t{i}.las", xyz, inten, np.ones(len(xyz)))  # all "unclassified"
    b = load(path=str(tmp_path), center=True, voxel_size=(1.0, 1.0, 1.0))
    assert b.tasks == {}


# ------------------------------------------------------------ 16: presets over user data


@pytest.mark.parametrize("which", ["quick", "bench"])
def test_presets_do_not_change_the_grid_of_user_data(tmp_path, which):
    from jepakit import Domain
    from jepakit.train import load_bundle, resolve_config
    from jepakit_lidar.data import load
    from jepakit_lidar.presets import BENCH, DEFAULTS, QUICK

    dom = Domain(name="lidar", load=load, summary="", defaults=DEFAULTS, quick=QUICK, bench=BENCH)
    g = np.random.default_rng(0)
    pts = np.concatenate([g.uniform(-20, 20, (3000, 2)), g.uniform(-2, 2, (3000, 1)), g.uniform(0, 1, (3000, 1))], 1)
    pts.astype(np.float32).tofile(tmp_path / "000000.bin")
    preset = QUICK if which == "quick" else BENCH
    plain = load_bundle(dom, resolve_config(dom, None, None, None, tmp_path))
    b = load_bundle(dom, resolve_config(dom, None, None, preset, tmp_path))
    assert b.info["point_range"] == plain.info["point_range"]
    # the user's own window always wins
    mine = [-8.0, -8.0, -2.0, 8.0, 8.0, 2.0]
    b = load_bundle(dom, resolve_config(dom, {"data": {"point_range": mine}}, None, preset, tmp_path))
    assert list(b.info["point_range"]) == mine
    # and the presets still shrink the embedded synthetic data
    syn = load_bundle(dom, resolve_config(dom, None, {"data": {"scenes": 2, "train_scenes": 1, "test_scenes": 1}}, preset, None))
    assert syn.info["point_range"] != plain.info["point_range"]


# ------------------------------------------------------------------ 18: lazy, quiet spconv


def _py(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def test_spconv_is_imported_only_by_a_spconv_backend(tmp_path):
    # a regression guard: the plugin, its data and the torch backend never import spconv
    np.zeros((10, 4), np.float32).tofile(tmp_path / "a.bin")
    out = _py(
        "import sys\n"
        "import jepakit_lidar, jepakit_lidar.plugin, jepakit_lidar.data as d\n"
        f"d.load(path={str(tmp_path)!r}).pretrain[0]\n"
        "from jepakit_lidar.tokenizer import SparseBEVTokenizer\n"
        "t = SparseBEVTokenizer(16, 6, (8, 16, 16), channels=(4, 8, 8), backend='torch')\n"
        "print('spconv' in sys.modules)\n"
    )
    assert out == "False"


def test_spconv_backend_leaks_no_deprecation_notices():
    pytest.importorskip("spconv")
    r = subprocess.run([sys.executable, "-c", (
        "import warnings, torch\n"
        "from jepakit_lidar.sparse import SparseVoxels\n"
        "from jepakit_lidar.tokenizer import SparseBEVTokenizer\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    t = SparseBEVTokenizer(16, 6, (8, 16, 16), channels=(4, 8, 8), backend='auto')\n"
        "    b = {'voxel_feats': torch.randn(5, 6), 'voxel_coords': torch.tensor([[0, 1, 2, 3], [0, 2, 3, 4], [0, 1, 5, 5], [1, 3, 3, 3], [1, 0, 0, 0]]),\n"
        "         'num_voxels': torch.tensor([3, 2])}\n"
        "    t(b).sum().backward()\n"
        "print(t.backend, len([x for x in w if issubclass(x.category, (FutureWarning, DeprecationWarning))]))\n"
    )], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "spconv 0"
    assert "is_fx_tracing" not in r.stderr and "Warning" not in r.stderr, r.stderr[-2000:]


def test_tokenizer_refuses_a_grid_whose_bev_map_would_not_fit():
    from jepakit.errors import ConfigError
    from jepakit.plugins import create

    # a 2 km x 2 km window at 0.4 m and 100 m of height: a 37 GB map a scene
    with pytest.raises(ConfigError) as ei:
        create("tokenizer", "sparse-bev", {"backend": "torch"}, {"dim": 64, "in_chans": 6, "spatial_shape": (200, 5000, 5000)})
    msg = str(ei.value)
    assert "\n" not in msg and "GiB" in msg and "data.point_range" in msg


def test_kitti_boxes_follow_the_points_under_center(tmp_path, kitti_folder):
    from jepakit_lidar.data import load

    kitti_folder(tmp_path, 3, ground_x=(-20.0, 30.0))
    pr = (-25.6, -25.6, -1.0, 25.6, 25.6, 3.0)
    b = load(path=str(tmp_path), center=True, point_range=pr, voxel_size=(0.4, 0.4, 0.5))
    lab = b.tasks["bev_seg"].test[0]["label"].reshape(32, 32)
    # the scan's x middle is ~5 m ahead of the sensor: the car (x 8..12) sits at 3..7 m,
    # cols 17..19, and the camera's view starts at the sensor, x = -5 m (col 12)
    assert (lab[17, 18:20] == 1).all(), lab[17]
    assert (lab[:, :12] == -1).all() and (lab[:, 14:] == 0).any()
