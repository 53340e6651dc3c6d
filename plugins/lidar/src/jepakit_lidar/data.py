"""Loading LiDAR data for the ``lidar`` domain: the embedded synthetic scenes, KITTI-style
``.bin``/label folders and LAS/LAZ folders, voxelised onto a checked grid."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from jepakit import DataBundle, Task
from jepakit.kit import ConfigError, DataError, Failures, notice, read_each

from . import io
from .dataset import IN_CHANS, ScanDataset, collate_scenes
from .synthetic import CLASSES, Sensor, cell_labels, make_scene
from .voxelize import VoxelGrid


# the datasets cache voxelised items; this only spares regenerating a scene within a call
@functools.lru_cache(maxsize=16)
def _scene(seed: int, beams: int, azimuths: int, max_range: float, extent: float):
    s = make_scene(seed, Sensor(beams=beams, azimuths=azimuths, max_range=max_range), extent=extent)
    return s["points"], s["labels"]


def _bev(grid: VoxelGrid, stride: int) -> tuple[tuple[float, float], tuple[int, int]]:
    nx, ny, _ = grid.shape_xyz
    cell = (grid.voxel_size[0] * stride, grid.voxel_size[1] * stride)
    return cell, (-(-ny // stride), -(-nx // stride))


DEFAULT_RANGE = (-25.6, -25.6, -3.0, 25.6, 25.6, 3.0)
# keys of the embedded synthetic data: a loader given a path ignores them (presets set them)
SYNTHETIC_KEYS = ("scenes", "train_scenes", "test_scenes", "beams", "azimuths", "synthetic_point_range")


def load(
    path: str | None = None,
    point_range: Sequence[float] | None = None,
    voxel_size: Sequence[float] = (0.4, 0.4, 0.5),
    max_points: int = 32,
    max_voxels: int = 40000,
    bev_stride: int = 4,
    center: bool = False,
    max_bev_tokens: int = 16384,
    scenes: int = 200,
    train_scenes: int = 60,
    test_scenes: int = 30,
    beams: int = 32,
    azimuths: int = 720,
    synthetic_point_range: Sequence[float] | None = None,
    seed: int = 0,
    test_fraction: float = 0.25,
    state: dict | None = None,
) -> DataBundle:
    """Embedded synthetic scenes (``path=None``) or a folder of scans.

    ``point_range`` is the grid's window; when not given: the window a checkpoint was
    trained with (``state``, the bundle state the core saved with it), else with ``center`` the window that holds every centred
    scan (see :func:`_derived_range`), else ``synthetic_point_range`` for the synthetic
    scenes (the quick/bench presets shrink it there, never the grid of a user's data),
    else (-25.6, -25.6, -3, 25.6, 25.6, 3), a car-mounted sensor's frame. ``center``
    shifts each scan by :func:`io.scan_center` (its x/y middle, z ground level) first:
    for projected or airborne coordinates. ``bev_stride`` is the BEV cell size in voxels
    (the tokenizer's total x/y stride) and sets the resolution of the per-cell labels;
    a grid of more than ``max_bev_tokens`` cells is refused up front. Caps on voxels
    drop at random (seed ``seed``) and are reported. A folder in KITTI object layout
    (``velodyne/``, ``label_2/``, ``calib/``) yields a BEV segmentation task from its
    boxes, LAS/LAZ files with classification codes a per-cell ASPRS class task; other
    folders are for pretraining only. With a path the synthetic keys are ignored.
    """
    if not isinstance(center, bool):
        raise ConfigError(f"data.center must be true or false, got {center!r}")
    user_range = point_range if point_range is not None else (state or {}).get("point_range")
    if path is None:
        if center:
            raise ConfigError("data.center applies to scans read from data.path; the synthetic scenes are already centred on their sensor")
        grid = _grid(user_range or synthetic_point_range or DEFAULT_RANGE, voxel_size, bev_stride, max_bev_tokens)
        cell, hw = _bev(grid, int(bev_stride))
        mk = functools.partial(ScanDataset, grid=grid, max_points=max_points, max_voxels=max_voxels, seed=seed)
        reach = float(max(abs(v) for v in grid.point_range[:2] + grid.point_range[3:5]))
        max_range = reach * 1.5
        extent = reach * 1.3

        def scan(offset: int, labelled: bool):
            def source(i: int):
                pts, lab = _scene(seed * 100_003 + offset + i, beams, azimuths, max_range, extent)
                return pts, (cell_labels(pts, lab, grid.point_range, cell, hw) if labelled else None)
            return source

        pre = mk(scan(0, False), scenes)
        train = mk(scan(1_000_000, True), train_scenes)
        test = mk(scan(2_000_000, True), test_scenes)
        task = Task(train, test, "token_multiclass", CLASSES,
                    description="per-BEV-cell semantic class of synthetic driving scenes (mIoU)")
        describe = f"{scenes} synthetic ray-cast scenes, grid {grid.spatial_shape} voxels -> BEV {hw[0]}x{hw[1]}"
        return DataBundle(pre, _info(grid, hw), {"bev_seg": task}, collate_scenes, describe, _state(grid))
    return _load_folder(Path(path), user_range, voxel_size, int(bev_stride), int(max_bev_tokens), center,
                        dict(max_points=max_points, max_voxels=max_voxels, seed=seed), test_fraction, seed)


def _info(grid: VoxelGrid, hw) -> dict:
    return {"in_chans": IN_CHANS, "spatial_shape": grid.spatial_shape, "point_range": grid.point_range,
            "voxel_size": grid.voxel_size, "bev_grid": hw}


def _state(grid: VoxelGrid) -> dict:
    """What a checkpoint hands back to the loader: the window, derived or given, so other
    data is read on the grid the model was trained on."""
    return {"point_range": [float(v) for v in grid.point_range]}


def _grid(point_range, voxel_size, stride: int, max_tokens: int) -> VoxelGrid:
    """The voxel grid, refused up front (one line) when its BEV map has more than
    ``max_tokens`` cells: the encoder attends over all of them and the tokenizer holds a
    dense BEV map per scene, so a real-world window at a fine voxel size runs out of memory."""
    try:
        grid = VoxelGrid(tuple(point_range), tuple(voxel_size))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"data: {exc}") from None
    _, hw = _bev(grid, stride)
    n = hw[0] * hw[1]
    if n > max_tokens:
        nx, ny, nz = grid.shape_xyz
        pr = tuple(round(v, 3) for v in grid.point_range)
        dx, dy = pr[3] - pr[0], pr[4] - pr[1]
        need = math.sqrt(dx * dy / max_tokens) / stride
        raise DataError(
            f"data.point_range {pr} at data.voxel_size {grid.voxel_size} is a {nx}x{ny}x{nz}-voxel grid, "
            f"{hw[0]}x{hw[1]} = {n:,} BEV tokens at data.bev_stride {stride}, more than data.max_bev_tokens={max_tokens}: "
            f"use a smaller data.point_range (with data.center=true a window around each scan's centre) "
            f"or a data.voxel_size of at least {math.ceil(need * 100) / 100:g} m in x and y"
        )
    return grid


def _extent(lo, hi) -> str:
    return ", ".join(f"{k} {a:.1f}..{b:.1f}" for k, a, b in zip("xyz", lo, hi))


def _derived_range(stats: list[dict], voxel_size, stride: int) -> tuple[float, ...]:
    """The window holding every centred scan: x and y symmetric about 0 out to the widest
    scan's half-extent, z from the lowest 0.01th to the highest 99.99th height percentile
    of any scan (so a stray bird or noise return does not stretch it), snapped outwards
    to whole voxels (whole BEV cells in x and y)."""
    vx, vy, vz = (float(v) for v in voxel_size)
    ux, uy = vx * stride, vy * stride
    hx = max(max(abs(s["lo"][0]), abs(s["hi"][0])) for s in stats)
    hy = max(max(abs(s["lo"][1]), abs(s["hi"][1])) for s in stats)
    zl = min(s["zq"][0] for s in stats)
    zh = max(s["zq"][1] for s in stats)
    ex = ux * (math.floor(hx / ux) + 1)
    ey = uy * (math.floor(hy / uy) + 1)
    z0 = vz * math.floor(zl / vz)
    z1 = vz * (math.floor(zh / vz) + 1)
    return (-ex, -ey, z0, ex, ey, z1)


def _in_range(points: np.ndarray, grid: VoxelGrid) -> int:
    lo, hi = np.array(grid.point_range[:3]), np.array(grid.point_range[3:])
    return int(((points[:, :3] >= lo) & (points[:, :3] < hi)).all(1).sum())


def las_cell_labels(points: np.ndarray, index: np.ndarray, k: int, point_range, cell, hw) -> np.ndarray:
    """Per-BEV-cell class (H*W,) int64: the most frequent class ``index`` (class indices
    0..k-1 per point) among the cell's points inside ``point_range``; -1 without points."""
    h, w = hw
    x0, y0, z0, _, _, z1 = point_range
    col = np.floor((points[:, 0] - x0) / cell[0]).astype(np.int64)
    row = np.floor((points[:, 1] - y0) / cell[1]).astype(np.int64)
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h) & (points[:, 2] >= z0) & (points[:, 2] < z1)
    counts = np.bincount((row * w + col)[ok] * k + index[ok], minlength=h * w * k).reshape(h * w, k)
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1).astype(np.int64)


def _split(files: list, test_fraction: float, seed: int) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(files))
    n_test = max(1, int(round(test_fraction * len(files))))
    return [files[i] for i in sorted(order[n_test:])], [files[i] for i in sorted(order[:n_test])]


def _load_folder(root: Path, point_range, voxel_size, stride: int, max_tokens: int, center: bool, caps: dict,
                 test_fraction: float, seed: int) -> DataBundle:
    files = io.list_scans(root)
    derived = point_range is None and center
    grid = None if derived else _grid(point_range or DEFAULT_RANGE, voxel_size, stride, max_tokens)
    # one pass over the files: readability, extent (after centring), classification codes
    failures = Failures(verb="skipping")  # the plugin's wording since its first release

    def scan_stats(f: Path) -> dict:
        pts, codes, shift = io.read_scan(f, center)
        s = {"file": f, "shift": shift, "n": len(pts), "lo": pts[:, :3].min(0).astype(float), "hi": pts[:, :3].max(0).astype(float),
             "codes": np.unique(codes) if codes is not None else None}
        if derived:
            s["zq"] = np.percentile(pts[:, 2].astype(np.float64), [0.01, 99.99])
        else:
            s["inside"] = _in_range(pts, grid)
        return s

    # a single file's own error is the error; in a folder a bad file is told in one line and skipped
    scans = ((f, scan_stats(f)) for f in files) if len(files) == 1 else read_each(files, scan_stats, failures)
    stats, far = [], False
    for f, s in scans:
        reach = float(max(np.abs(s["lo"]).max(), np.abs(s["hi"]).max()))
        if not center and reach > 1e5 and not far:
            far = True
            notice(f"{f}: coordinates reach {reach:.0f} m, where float32 keeps steps of {np.spacing(np.float32(reach)):.2g} m; "
                   "set data.center=true to centre each scan before the cast")
        stats.append(s)
    if not stats:
        raise failures.error(root, len(files), "point-cloud files")
    if derived:
        grid = _grid(_derived_range(stats, voxel_size, stride), voxel_size, stride, max_tokens)
        notice(f"data.center: data.point_range {tuple(round(v, 3) for v in grid.point_range)} spans the {len(stats)} "
               "centred scans (set data.point_range to choose another window)")
        for s in stats:
            s["inside"] = _in_range(io.read_scan(s["file"], center)[0], grid)
    cell, hw = _bev(grid, stride)
    # what the grid keeps of each scan
    good, kept, total = [], 0, 0
    for s in stats:
        if s["inside"] == 0:
            hint = "a data.point_range that covers it" if center else "data.center=true (each scan centred on its x/y middle and ground) or a data.point_range that covers it"
            msg = (f"{s['file']}: all {s['n']:,} points lie outside point_range {grid.point_range}; the scan spans "
                   f"{_extent(s['lo'] + s['shift'], s['hi'] + s['shift'])}{' (before centring)' if center else ''}; set {hint}")
            if len(files) == 1:
                raise DataError(msg)
            failures.add(s["file"], msg)
            continue
        kept += s["inside"]
        total += s["n"]
        good.append(s)
    if not good:
        raise failures.error(root, len(files), "point-cloud files")
    frac = kept / total
    lo = np.min([s["lo"] for s in good], 0)
    hi = np.max([s["hi"] for s in good], 0)
    if frac < 0.5:
        fix = "a data.point_range that covers it" if center else "data.center=true and/or a data.point_range that covers it"
        notice(f"{root}: only {frac:.1%} of the {total:,} points of {len(good)} scans lie inside data.point_range "
               f"{grid.point_range}; the data spans {_extent(lo, hi)}{' after centring' if center else ''}; set {fix}")
    names = [str(s["file"]) for s in good]
    mk = functools.partial(ScanDataset, grid=grid, **caps)

    def points(s: dict) -> np.ndarray:
        return io.read_scan(s["file"], center)[0]

    pre = mk(lambda i: (torch.from_numpy(points(good[i])), None), len(good), names=names)
    tasks, notes = {}, []
    base = root if root.is_dir() else root.parent
    labelled = [s for s in good if (base / "label_2" / f"{s['file'].stem}.txt").is_file() and (base / "calib" / f"{s['file'].stem}.txt").is_file()]
    if len(labelled) >= 2:
        def source(part):
            def get(i: int):
                s = part[i]
                pts, f = points(s), s["file"]
                boxes = io.read_kitti_labels(base / "label_2" / f"{f.stem}.txt", base / "calib" / f"{f.stem}.txt")
                for b in boxes:
                    b.x, b.y, b.z = b.x - s["shift"][0], b.y - s["shift"][1], b.z - s["shift"][2]
                occ = cell_labels(torch.from_numpy(pts), torch.zeros(len(pts), dtype=torch.long), grid.point_range, cell, hw) >= 0
                bev = io.boxes_to_bev(boxes, grid.point_range, cell, occ.reshape(hw).numpy(), origin=tuple(-s["shift"][:2]))
                return torch.from_numpy(pts), torch.from_numpy(bev.reshape(-1))
            return get
        train_files, test_files = _split(labelled, test_fraction, seed)
        tasks["bev_seg"] = Task(mk(source(train_files), len(train_files), names=[str(s["file"]) for s in train_files]),
                                mk(source(test_files), len(test_files), names=[str(s["file"]) for s in test_files]),
                                "token_multiclass", io.KITTI_CLASSES, description="KITTI boxes rasterised to BEV cells (mIoU)")
        notes.append(f"{len(labelled)} with KITTI labels")
    # LAS classification: a file is labelled when some code says more than "no class"
    classified = [s for s in good if s["codes"] is not None and bool(np.setdiff1d(s["codes"], [0, 1]).size)]
    codes = np.unique(np.concatenate([s["codes"] for s in classified])) if classified else np.zeros(0, np.uint8)
    if len(classified) >= 2 and codes.size >= 2:
        lut = np.full(256, -1, dtype=np.int64)
        lut[codes] = np.arange(codes.size)

        def las_source(part):
            def get(i: int):
                pts, cls, _ = io.read_scan(part[i]["file"], center)
                lab = las_cell_labels(pts, lut[cls], int(codes.size), grid.point_range, cell, hw)
                return torch.from_numpy(pts), torch.from_numpy(lab)
            return get
        train_files, test_files = _split(classified, test_fraction, seed)
        classes = tuple(io.asprs_name(c) for c in codes)
        tasks["las_classes"] = Task(
            mk(las_source(train_files), len(train_files), names=[str(s["file"]) for s in train_files]),
            mk(las_source(test_files), len(test_files), names=[str(s["file"]) for s in test_files]),
            "token_multiclass", classes,
            description="majority ASPRS class (LAS classification codes " + ", ".join(str(int(c)) for c in codes)
            + ") of the points of each BEV cell; cells without points ignored (mIoU)")
        notes.append(f"{len(classified)} with LAS classes {', '.join(classes)}")
    describe = (f"{len(good)} scans from {root}{' (centred)' if center else ''}, {frac:.1%} of the {total:,} points inside "
                f"point_range {grid.point_range}, grid {grid.spatial_shape} voxels -> BEV {hw[0]}x{hw[1]}"
                + "".join(f"; {n}" for n in notes))
    return DataBundle(pre, _info(grid, hw), tasks, collate_scenes, describe, _state(grid))
