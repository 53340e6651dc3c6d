"""Point-cloud readers and KITTI object labels.

Every reader returns a float32 array (N, 4): x, y, z, intensity (0 where the file has
none). Intensities above 1 are rescaled to [0, 1] as 8-bit (max <= 255) or 16-bit
values, so scans from different sensors share one scale; LAS/LAZ integer intensities
follow the same rule (:func:`las_intensity`: a file's maximum <= 255 -> 8-bit), so one
scene gives the same features as ``.bin`` with reflectance in [0, 1] and as 8- or
16-bit LAS. Formats: KITTI ``.bin``,
``.npy``/``.npz``, PCD (ascii and binary), PLY (ascii and binary vertex elements) and
LAS/LAZ through laspy (optional extra ``jepakit-lidar[las]``). Bad input raises
:class:`jepakit.errors.DataError` with one line naming the file.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jepakit.kit import DataError

SUFFIXES = (".bin", ".npy", ".npz", ".pcd", ".ply", ".las", ".laz")
INTENSITY_NAMES = ("intensity", "i", "reflectance", "remission", "scalar_intensity")


def _finish(path: Path, xyz: np.ndarray, intensity: np.ndarray | None) -> np.ndarray:
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    if xyz.shape[0] == 0:
        raise DataError(f"{path}: the point cloud is empty")
    bad = ~np.isfinite(xyz).all(1)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} of {xyz.shape[0]} points have NaN/Inf coordinates")
    if intensity is None:
        inten = np.zeros(xyz.shape[0], dtype=np.float64)
    else:
        inten = np.nan_to_num(np.asarray(intensity, dtype=np.float64).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(inten.max()) if inten.size else 0.0
        if top > 1.0:
            inten = inten / (255.0 if top <= 255.0 else 65535.0)
        inten = np.clip(inten, 0.0, 1.0)
    return np.concatenate([xyz, inten[:, None]], 1)  # float64: centring happens before the float32 cast


def _float32(reader):
    """Public readers return float32; ``reader.__wrapped__`` keeps float64 coordinates,
    which projected coordinates (y ~ 5e6 m: a float32 step of 0.5 m) need until centred."""

    @functools.wraps(reader)
    def read(path: str | Path) -> np.ndarray:
        return reader(path).astype(np.float32)

    return read


@_float32
def read_bin(path: str | Path) -> np.ndarray:
    """KITTI velodyne scan: float32 records (x, y, z, intensity)."""
    path = Path(path)
    size = path.stat().st_size
    if size % 16:
        raise DataError(f"{path}: size {size} bytes is not a multiple of 16 (4 float32 per point)")
    a = np.fromfile(path, dtype="<f4").reshape(-1, 4)
    return _finish(path, a[:, :3], a[:, 3])


def _from_array(path: Path, a: np.ndarray) -> np.ndarray:
    if a.dtype.names:  # structured array with named fields
        names = {n.lower(): n for n in a.dtype.names}
        if not all(k in names for k in "xyz"):
            raise DataError(f"{path}: structured array without x, y, z fields (has {', '.join(a.dtype.names)})")
        xyz = np.stack([a[names[k]] for k in "xyz"], 1)
        inten = next((a[names[n]] for n in INTENSITY_NAMES if n in names), None)
        return _finish(path, xyz, inten)
    if a.ndim != 2 or a.shape[1] < 3 or not np.issubdtype(a.dtype, np.number):
        raise DataError(f"{path}: expected a numeric (N, >=3) array of x, y, z[, intensity], got shape {a.shape}")
    return _finish(path, a[:, :3], a[:, 3] if a.shape[1] > 3 else None)


@_float32
def read_npy(path: str | Path) -> np.ndarray:
    """``.npy`` (N, >=3) array or structured array; ``.npz``: the ``points`` array, else the only one."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if "points" in keys:
                    a = z["points"]
                elif len(keys) == 1:
                    a = z[keys[0]]
                else:
                    raise DataError(f"{path}: npz holds {keys}; name the point array 'points'")
        else:
            a = np.load(path, allow_pickle=False)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: not a readable numpy file ({type(exc).__name__}: {exc})") from None
    return _from_array(path, a)


_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}


@_float32
def read_pcd(path: str | Path) -> np.ndarray:
    """Point Cloud Library ``.pcd`` v0.7, ``DATA ascii`` or ``binary``."""
    path = Path(path)
    raw = path.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise DataError(f"{path}: PCD header has no DATA line")
        line = raw[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
        mode = header["DATA"][0].lower()
    except (KeyError, ValueError, IndexError) as exc:
        raise DataError(f"{path}: malformed PCD header ({exc})") from None
    if not (len(fields) == len(sizes) == len(types) == len(counts)):
        raise DataError(f"{path}: PCD header FIELDS/SIZE/TYPE/COUNT lengths differ")
    try:
        dt = np.dtype([(f, "<" + _PCD_TYPES[(t.upper(), s)], (c,) if c > 1 else ()) for f, s, t, c in zip(fields, sizes, types, counts)])
    except KeyError:
        raise DataError(f"{path}: unsupported PCD field type/size in {list(zip(types, sizes))}") from None
    if mode == "ascii":
        try:
            table = np.loadtxt(raw[pos:].decode("ascii").splitlines(), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise DataError(f"{path}: bad ascii PCD data ({exc})") from None
        if n and table.shape[0] != n:
            raise DataError(f"{path}: header says {n} points, found {table.shape[0]}")
        cols: dict[str, np.ndarray] = {}
        start = 0
        for f, c in zip(fields, counts):
            cols[f.lower()] = table[:, start] if table.size else np.zeros(0)
            start += c
    elif mode == "binary":
        need = n * dt.itemsize
        if len(raw) - pos < need:
            raise DataError(f"{path}: binary PCD data is truncated ({len(raw) - pos} of {need} bytes)")
        arr = np.frombuffer(raw, dtype=dt, count=n, offset=pos)
        cols = {f.lower(): arr[f] for f in fields}
    else:
        raise DataError(f"{path}: PCD DATA {mode!r} is not supported (use ascii or binary)")
    if not all(k in cols for k in "xyz"):
        raise DataError(f"{path}: PCD has no x, y, z fields (has {', '.join(fields)})")
    xyz = np.stack([cols[k] for k in "xyz"], 1)
    inten = next((cols[k] for k in INTENSITY_NAMES if k in cols), None)
    return _finish(path, xyz, inten)


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


@_float32
def read_ply(path: str | Path) -> np.ndarray:
    """``.ply`` whose first element is ``vertex`` (ascii, binary little- or big-endian)."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(b"ply"):
        raise DataError(f"{path}: not a PLY file (no 'ply' magic)")
    end = raw.find(b"end_header")
    if end < 0:
        raise DataError(f"{path}: PLY header has no end_header")
    body = raw.index(b"\n", end) + 1
    fmt, elements = None, []
    for line in raw[:end].decode("ascii", "replace").splitlines()[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            fmt = parts[1]
        elif parts[0] == "element":
            elements.append((parts[1], int(parts[2]), []))
        elif parts[0] == "property":
            if not elements:
                raise DataError(f"{path}: PLY property before any element")
            if parts[1] == "list":
                elements[-1][2].append((parts[-1], None))
            else:
                if parts[1] not in _PLY_TYPES:
                    raise DataError(f"{path}: unknown PLY property type {parts[1]!r}")
                elements[-1][2].append((parts[2], _PLY_TYPES[parts[1]]))
    if not elements or elements[0][0] != "vertex":
        raise DataError(f"{path}: the first PLY element must be 'vertex'")
    _, n, props = elements[0]
    if any(t is None for _, t in props):
        raise DataError(f"{path}: list properties in the vertex element are not supported")
    names = [p for p, _ in props]
    if fmt == "ascii":
        lines = raw[body:].decode("ascii", "replace").splitlines()[:n]
        try:
            table = np.array([[float(v) for v in ln.split()[: len(names)]] for ln in lines], dtype=np.float64).reshape(-1, len(names))
        except ValueError as exc:
            raise DataError(f"{path}: bad ascii PLY vertex data ({exc})") from None
        if table.shape[0] != n:
            raise DataError(f"{path}: header says {n} vertices, found {table.shape[0]}")
        cols = {nm.lower(): table[:, i] for i, nm in enumerate(names)}
    elif fmt in ("binary_little_endian", "binary_big_endian"):
        order = "<" if fmt == "binary_little_endian" else ">"
        dt = np.dtype([(p, order + t) for p, t in props])
        if len(raw) - body < n * dt.itemsize:
            raise DataError(f"{path}: binary PLY vertex data is truncated")
        arr = np.frombuffer(raw, dtype=dt, count=n, offset=body)
        cols = {p.lower(): arr[p].astype(np.float64) for p in names}
    else:
        raise DataError(f"{path}: unknown PLY format {fmt!r}")
    if not all(k in cols for k in "xyz"):
        raise DataError(f"{path}: PLY vertex has no x, y, z properties")
    inten = next((cols[k] for k in INTENSITY_NAMES + ("scalar_reflectance",) if k in cols), None)
    return _finish(path, np.stack([cols[k] for k in "xyz"], 1), inten)


def las_intensity(raw: np.ndarray) -> np.ndarray:
    """LAS integer intensities -> [0, 1]: a file whose largest intensity is <= 255 stores
    8-bit values (divided by 255), any other 16-bit ones (divided by 65535, the LAS spec's
    range). Decided per file, so 8- and 16-bit files of one scene match KITTI's [0, 1]."""
    raw = np.asarray(raw, dtype=np.float64)
    top = float(raw.max()) if raw.size else 0.0
    return raw / (255.0 if top <= 255.0 else 65535.0)


def _read_las(path: Path):
    try:
        import laspy
    except ImportError:
        raise DataError(f"{path}: reading LAS/LAZ needs laspy: pip install 'jepakit-lidar[las]'") from None
    try:
        return laspy.read(path)
    except Exception as exc:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{path}: cannot read LAS/LAZ ({msg})") from None


def _las_points(path: Path, las) -> np.ndarray:
    xyz = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], 1)
    inten = las_intensity(las.intensity) if "intensity" in las.point_format.dimension_names else None
    return _finish(path, xyz, inten)


@_float32
def read_las(path: str | Path) -> np.ndarray:
    """LAS/LAZ through laspy (LAZ also needs a backend such as lazrs); intensities as
    :func:`las_intensity` scales them."""
    path = Path(path)
    return _las_points(path, _read_las(path))


# ASPRS standard point classes (LAS 1.4 R15, table 17); 0-1 mean "no class assigned"
ASPRS_CLASSES = {
    0: "never_classified", 1: "unclassified", 2: "ground", 3: "low_vegetation", 4: "medium_vegetation",
    5: "high_vegetation", 6: "building", 7: "low_noise", 8: "model_key_point", 9: "water", 10: "rail",
    11: "road_surface", 12: "overlap", 13: "wire_guard", 14: "wire_conductor", 15: "transmission_tower",
    16: "wire_connector", 17: "bridge_deck", 18: "high_noise", 19: "overhead_structure", 20: "ignored_ground",
    21: "snow", 22: "temporal_exclusion",
}


def asprs_name(code: int) -> str:
    """Name of an ASPRS class code (``class_<code>`` for reserved and user codes)."""
    return ASPRS_CLASSES.get(int(code), f"class_{int(code)}")


READERS = {".bin": read_bin, ".npy": read_npy, ".npz": read_npy, ".pcd": read_pcd, ".ply": read_ply,
           ".las": read_las, ".laz": read_las}


def _read64(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise DataError(f"{path}: unsupported point-cloud format {path.suffix!r}; use one of {', '.join(SUFFIXES)}")
    try:
        if suffix in (".las", ".laz"):
            las = _read_las(path)
            dims = las.point_format.dimension_names
            codes = np.asarray(las.classification, dtype=np.uint8) if "classification" in dims else None
            return _las_points(path, las), codes
        return reader.__wrapped__(path), None
    except DataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def read_points(path: str | Path) -> np.ndarray:
    """Read one scan (any supported format) as float32 (N, 4): x, y, z, intensity."""
    return _read64(Path(path))[0].astype(np.float32)


def scan_center(xyz: np.ndarray) -> np.ndarray:
    """The shift ``data.center`` subtracts from a scan: the middle of its x and y extent
    and, for z, its ground level, taken as the 1st percentile of z (robust to a few low
    noise points; the median would sit in the canopy of a forest tile)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    lo, hi = xyz[:, :2].min(0), xyz[:, :2].max(0)
    return np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, float(np.percentile(xyz[:, 2], 1.0))])


def read_scan(path: str | Path, center: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One scan as float32 (N, 4) points, its LAS classification codes (uint8 (N,), or
    ``None`` for other formats and LAS without them) and the float64 shift (3,) that was
    subtracted in float64 before the float32 cast: :func:`scan_center` with ``center``,
    else zeros."""
    pts, codes = _read64(Path(path))
    shift = scan_center(pts[:, :3]) if center else np.zeros(3)
    pts[:, :3] -= shift
    return pts.astype(np.float32), codes, shift


def list_scans(folder: str | Path) -> list[Path]:
    """Supported scan files under ``folder`` (recursively, sorted); a KITTI layout's
    ``velodyne/`` is preferred when present."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise DataError(f"{folder}: no such file or directory")
    root = folder / "velodyne" if (folder / "velodyne").is_dir() else folder
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no point-cloud files ({', '.join(SUFFIXES)})")
    return files


# ---------------------------------------------------------------- KITTI object labels

KITTI_CLASSES = ("background", "car", "pedestrian", "cyclist")
_KITTI_MAP = {"Car": 1, "Van": 1, "Truck": 1, "Pedestrian": 2, "Person_sitting": 2, "Cyclist": 3}
_KITTI_IGNORE = ("Tram", "Misc", "DontCare")


@dataclass
class Box:
    """A box in the LiDAR frame: bottom-centre (x, y, z), length along ``yaw``, width, height."""

    cls: int  # index into KITTI_CLASSES, -1 = ignore
    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float


def read_calib(path: str | Path) -> dict[str, np.ndarray]:
    """KITTI object calibration: ``R0_rect`` (3x3) and ``Tr_velo_to_cam`` (3x4) at least."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        if ":" not in line:
            continue
        key, vals = line.split(":", 1)
        try:
            out[key.strip()] = np.array([float(v) for v in vals.split()], dtype=np.float64)
        except ValueError:
            raise DataError(f"{path}: non-numeric calibration entry {key.strip()!r}") from None
    for key, n in (("R0_rect", 9), ("Tr_velo_to_cam", 12)):
        if key not in out or out[key].size != n:
            raise DataError(f"{path}: calibration needs {key} with {n} numbers")
    return out


def read_kitti_labels(label_path: str | Path, calib_path: str | Path) -> list[Box]:
    """KITTI ``label_2`` boxes (camera frame) turned into LiDAR-frame :class:`Box` es."""
    label_path = Path(label_path)
    calib = read_calib(calib_path)
    r0 = np.eye(4)
    r0[:3, :3] = calib["R0_rect"].reshape(3, 3)
    tr = np.eye(4)
    tr[:3, :4] = calib["Tr_velo_to_cam"].reshape(3, 4)
    cam_to_velo = np.linalg.inv(r0 @ tr)
    boxes = []
    for ln, line in enumerate(label_path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 15:
            raise DataError(f"{label_path}:{ln}: a KITTI label line has 15 fields, found {len(parts)}")
        name = parts[0]
        try:
            h, w, l_, x, y, z, ry = (float(v) for v in parts[8:15])
        except ValueError:
            raise DataError(f"{label_path}:{ln}: non-numeric box fields") from None
        cls = _KITTI_MAP.get(name, -1)
        if cls < 0 and name not in _KITTI_IGNORE:
            warnings.warn(f"{label_path}:{ln}: unknown KITTI class {name!r} treated as ignore", stacklevel=2)
        p = cam_to_velo @ np.array([x, y, z, 1.0])
        # camera yaw is about the downward y axis from the x axis; LiDAR heading is about z from x
        boxes.append(Box(cls, float(p[0]), float(p[1]), float(p[2]), l_, w, h, -ry - math.pi / 2))
    return boxes


def boxes_to_bev(
    boxes: list[Box], point_range: tuple[float, ...], cell: tuple[float, float], occupied: np.ndarray, fov_deg: float = 40.0,
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Per-cell class map (H, W) over ``point_range`` with ``cell`` = (dx, dy) metres.

    A cell whose centre lies in a box gets that box's class; other occupied cells are
    background; empty cells, cells outside the front camera's field of view (KITTI only
    labels objects there) and cells of ignored boxes are -1. ``origin`` is the sensor's
    x, y in the grid's frame (not 0 when ``data.center`` shifted the scan).
    """
    x0, y0 = point_range[0], point_range[1]
    h, w = occupied.shape
    xs = x0 + (np.arange(w) + 0.5) * cell[0]
    ys = y0 + (np.arange(h) + 0.5) * cell[1]
    gx, gy = np.meshgrid(xs, ys)
    out = np.where(occupied, 0, -1).astype(np.int64)
    for b in boxes:
        dx, dy = gx - b.x, gy - b.y
        u = math.cos(b.yaw) * dx + math.sin(b.yaw) * dy
        v = -math.sin(b.yaw) * dx + math.cos(b.yaw) * dy
        inside = (np.abs(u) <= b.length / 2) & (np.abs(v) <= b.width / 2)
        out[inside] = b.cls
    sx, sy = gx - origin[0], gy - origin[1]
    in_fov = (sx > 0) & (np.abs(np.degrees(np.arctan2(sy, sx))) <= fov_deg)
    out[~in_fov] = -1
    return out
