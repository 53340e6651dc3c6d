"""Readers for single-channel SAR chips and scenes.

Every reader returns a float32 ``(H, W)`` array of **linear amplitude** (the magnitude of
the complex backscatter). What a file holds is stated by ``scale``:

* ``"amplitude"`` (default): values are amplitudes (MSTAR magnitude, most 8-bit chips);
* ``"intensity"``: values are power, amplitude = sqrt(value);
* ``"db"``: values are 10 log10(intensity), amplitude = 10 ** (value / 20).

Complex arrays (SLC in NumPy or TIFF) always become ``abs(value)``; a ``scale`` other
than amplitude is then ignored, and said so. Formats: GeoTIFF/TIFF (tifffile; the GDAL
no-data value marks pixels as missing), PNG/JPEG (pillow; grey images saved as RGB are
read as grey, a colour composite whose channels differ needs ``band``), NumPy ``.npy``/``.npz`` (the first or the named array), and MSTAR raw files
(Phoenix ASCII header, then big-endian float32 magnitude then phase for target chips, or
big-endian uint16 magnitude after a 512-byte native header for full scenes). MSTAR files
are recognised by their header, whatever their extension (``.000``, ``.015``...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jepakit.kit import DataError, notice

SCALES = ("amplitude", "intensity", "db")
TIFF_EXT = {".tif", ".tiff"}
PIL_EXT = {".png", ".jpg", ".jpeg"}
NUMPY_EXT = {".npy", ".npz"}
# files that sit next to chips in real datasets and are never images
IGNORED_EXT = {".txt", ".md", ".json", ".csv", ".htm", ".html", ".xml", ".hdr", ".aux", ".ovr", ".pdf", ".yaml", ".yml"}

PHOENIX_START = b"[PhoenixHeaderVer"
PHOENIX_END = b"[EndofPhoenixHeader]"


@dataclass
class MSTARFile:
    """One MSTAR raw file: magnitude (rows, cols), phase (None for full scenes) and the
    Phoenix header fields as strings."""

    magnitude: np.ndarray
    phase: np.ndarray | None
    header: dict[str, str] = field(default_factory=dict)

    @property
    def complex(self) -> np.ndarray:
        if self.phase is None:
            raise ValueError("this MSTAR file has no phase (full scene)")
        return self.magnitude * np.exp(1j * self.phase)


def is_mstar(path: str | os.PathLike) -> bool:
    """True when the file starts with a Phoenix header (MSTAR files lead with a newline)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return PHOENIX_START in head


def _header_int(fields: dict[str, str], key: str, path: Path) -> int:
    if key not in fields:
        raise DataError(f"{path}: damaged MSTAR header: no {key} field")
    try:
        value = int(fields[key].split()[0])
    except (ValueError, IndexError):
        raise DataError(f"{path}: damaged MSTAR header: {key}={fields[key]!r} is not an integer") from None
    if value < 0:
        raise DataError(f"{path}: damaged MSTAR header: {key}={value} is negative")
    return value


def read_mstar(path: str | os.PathLike) -> MSTARFile:
    """Read an MSTAR raw file (target chip or full scene)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    start = raw.find(PHOENIX_START, 0, 512)
    if start < 0:
        raise DataError(f"{path}: not an MSTAR file (no [PhoenixHeaderVer..] line at the start)")
    end = raw.find(PHOENIX_END, start)
    if end < 0:
        raise DataError(f"{path}: damaged MSTAR header: no [EndofPhoenixHeader] line")
    text = raw[start:end].decode("ascii", errors="replace")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    hlen = _header_int(fields, "PhoenixHeaderLength", path)
    nhlen = _header_int(fields, "native_header_length", path)
    cols = _header_int(fields, "NumberOfColumns", path)
    rows = _header_int(fields, "NumberOfRows", path)
    if hlen < end + len(PHOENIX_END):
        raise DataError(f"{path}: damaged MSTAR header: PhoenixHeaderLength={hlen} ends inside the header text")
    if rows == 0 or cols == 0:
        raise DataError(f"{path}: damaged MSTAR header: image size {rows}x{cols}")
    n = rows * cols
    if nhlen == 0:
        # target chip: float32 magnitude block then float32 phase block, big-endian
        need = hlen + 8 * n
        if len(raw) < need:
            raise DataError(
                f"{path}: short MSTAR payload: {len(raw) - hlen} bytes after the header, "
                f"expected {8 * n} (float32 magnitude + phase of {rows}x{cols})"
            )
        data = np.frombuffer(raw, dtype=">f4", count=2 * n, offset=hlen).astype(np.float32)
        magnitude, phase = data[:n].reshape(rows, cols), data[n:].reshape(rows, cols)
    else:
        # full scene / clutter: uint16 magnitude after the native (C4PL) header
        offset = hlen + nhlen
        need = offset + 2 * n
        if len(raw) < need:
            raise DataError(
                f"{path}: short MSTAR payload: {max(0, len(raw) - offset)} bytes after the headers, "
                f"expected {2 * n} (uint16 magnitude of {rows}x{cols})"
            )
        magnitude = np.frombuffer(raw, dtype=">u2", count=n, offset=offset).astype(np.float32).reshape(rows, cols)
        phase = None
    if not np.isfinite(magnitude).all():
        raise DataError(f"{path}: MSTAR magnitude holds NaN or infinite values")
    return MSTARFile(magnitude, phase, fields)


def to_amplitude(values: np.ndarray, scale: str, path: Path | str, allow_missing: bool = False) -> np.ndarray:
    """Convert a real or complex array to linear amplitude (float32), checking values.
    NaN/Inf pixels are an error, or stay NaN (missing) with ``allow_missing``."""
    if scale not in SCALES:
        raise DataError(f"{path}: unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    a = np.asarray(values)
    if np.iscomplexobj(a):
        if scale != "amplitude":
            notice(f"{path}: complex (SLC) pixels are read as their magnitude; scale={scale} does not apply to them")
        out = np.abs(a).astype(np.float64)
    else:
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            if not allow_missing:
                raise DataError(f"{path}: {bad} NaN or infinite pixel(s)")
            a = np.where(np.isfinite(a), a, np.nan)
        if scale == "db":
            out = np.power(10.0, a / 20.0)
        else:
            if (a < 0).any():
                raise DataError(
                    f"{path}: negative {scale} values (min {np.nanmin(a):.3g}); if the file is in decibels set data.scale=db"
                )
            out = np.sqrt(a) if scale == "intensity" else a
    if not np.isfinite(out).all():
        if not allow_missing:
            raise DataError(f"{path}: {int((~np.isfinite(out)).sum())} NaN or infinite pixel(s)")
        out = np.where(np.isfinite(out), out, np.nan)
    return out.astype(np.float32)


def _single_channel(a: np.ndarray, path: Path, band: int | None) -> np.ndarray:
    if a.ndim == 3 and band is not None:
        axis = 0 if a.shape[0] < a.shape[-1] else -1  # band-first (GDAL) or band-last
        if not 0 <= band < a.shape[axis]:
            raise DataError(f"{path}: band {band} out of range for shape {a.shape}")
        a = np.take(a, band, axis=axis)
    squeezed = np.squeeze(a)
    if squeezed.ndim != 2:
        raise DataError(
            f"{path}: expected a single-channel 2-D image, got an array of shape {a.shape}"
            + (" (set data.band to pick one band)" if a.ndim == 3 else "")
        )
    return squeezed


def _read_pil(path: Path) -> np.ndarray:
    """Grey image -> (H, W); colour image -> (H, W) when its channels agree (grey chips
    are often saved as RGB), else (H, W, 3): a colour composite, whose band is picked
    by ``band`` rather than blended into a luminance that no SAR channel holds."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode == "LA":
                im = im.convert("L")
            if im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
                rgb = np.asarray(im.convert("RGB")).astype(np.int16)
                # JPEG leaves grey pixels within a step or two of each other
                if np.abs(rgb[..., 1:] - rgb[..., :1]).max(initial=0) <= 3:
                    return np.asarray(im.convert("L"))
                return rgb.astype(np.uint8)
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"{path}: unreadable image: {exc}") from None


def _read_tiff(path: Path) -> tuple[np.ndarray, float | None]:
    """The image and its GDAL no-data value (None when the file has none)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            a = tif.asarray()
            tag = tif.pages[0].tags.get(42113) if len(tif.pages) else None  # GDAL_NODATA
            nodata = tag.value if tag is not None else None
    except Exception as exc:  # tifffile raises several types for damaged files
        raise DataError(f"{path}: unreadable TIFF: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if a.size == 0:  # tifffile returns an empty array when no page can be found
        raise DataError(f"{path}: unreadable TIFF: no image data")
    if nodata is not None:
        try:
            nodata = float(str(nodata).strip().strip("\x00"))
        except ValueError:
            raise DataError(f"{path}: GDAL_NODATA tag {nodata!r} is not a number") from None
    return a, nodata


def _read_numpy(path: Path, key: str | None) -> np.ndarray:
    try:
        obj = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: unreadable NumPy file: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            names = list(obj.files)
            if not names:
                raise DataError(f"{path}: empty .npz archive")
            name = key if key is not None else names[0]
            if name not in names:
                raise DataError(f"{path}: no array {name!r} in the archive (has {', '.join(names)})")
            return obj[name]
    return obj


@dataclass
class SARImage:
    """What :func:`read_image` read: linear amplitude (NaN where pixels are missing,
    only with ``allow_missing``) and whether the file is an MSTAR target chip (a centred
    target, cropped rather than tiled)."""

    amplitude: np.ndarray
    target_chip: bool = False

    @property
    def missing(self) -> int:
        return int(np.isnan(self.amplitude).sum())


def read_image(
    path: str | os.PathLike, scale: str = "amplitude", band: int | None = None, npz_key: str | None = None,
    allow_missing: bool = False,
) -> SARImage:
    """Read one single-channel SAR image. NaN/Inf and GDAL no-data pixels are an error,
    or NaN in the result with ``allow_missing`` (for scenes whose tiles can do without)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    ext = path.suffix.lower()
    nodata = None
    if ext in TIFF_EXT:
        a, nodata = _read_tiff(path)
    elif ext in PIL_EXT:
        a = _read_pil(path)
    elif ext in NUMPY_EXT:
        a = _read_numpy(path, npz_key)
    elif is_mstar(path):
        m = read_mstar(path)
        return SARImage(to_amplitude(m.magnitude, "amplitude", path), target_chip=m.phase is not None)
    else:
        raise DataError(f"{path}: unsupported file type {ext or '(no extension)'!r} and not an MSTAR file")
    if a.dtype.kind not in "biufc":
        raise DataError(f"{path}: unsupported pixel type {a.dtype}")
    if a.size == 0:
        raise DataError(f"{path}: empty image")
    a = _single_channel(a, path, band)
    if nodata is not None:
        hole = a == nodata if not np.isnan(nodata) else np.isnan(a)
        if hole.any():
            if not allow_missing:
                raise DataError(f"{path}: {int(hole.sum())} no-data pixel(s) (GDAL_NODATA={nodata:g}) in one chip")
            a = np.where(hole, np.nan, a.astype(np.complex128 if np.iscomplexobj(a) else np.float64))
    return SARImage(to_amplitude(a, scale, path, allow_missing))


def read_sar(
    path: str | os.PathLike, scale: str = "amplitude", band: int | None = None, npz_key: str | None = None
) -> np.ndarray:
    """Read one single-channel SAR image as float32 linear amplitude ``(H, W)``."""
    return read_image(path, scale, band, npz_key).amplitude


def fit_chip(a: np.ndarray, size: int, pad_mode: str = "reflect") -> np.ndarray:
    """Centre-crop or pad ``a`` to ``size x size``. Padding reflects the chip (a constant
    fill would put an artificial edge, i.e. a strong ROA response, at the border); where
    the chip is too small to reflect, edge values are repeated."""
    out = a
    h, w = out.shape
    if h > size:
        top = (h - size) // 2
        out = out[top : top + size]
    if w > size:
        left = (w - size) // 2
        out = out[:, left : left + size]
    h, w = out.shape
    if h < size or w < size:
        ph, pw = size - h, size - w
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        mode = pad_mode
        if mode == "reflect" and (max(pads[0]) >= h or max(pads[1]) >= w):
            mode = "edge"
        out = np.pad(out, pads, mode=mode)
    return np.ascontiguousarray(out, dtype=np.float32)


def tiles(a: np.ndarray, size: int) -> list[np.ndarray]:
    """Non-overlapping ``size x size`` tiles of a scene (the remainder is dropped)."""
    h, w = a.shape
    return [
        np.ascontiguousarray(a[i : i + size, j : j + size])
        for i in range(0, h - size + 1, size)
        for j in range(0, w - size + 1, size)
    ]


def is_candidate(path: Path) -> bool:
    """Files a folder scan tries to read: not hidden, not a known non-image type."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() not in IGNORED_EXT

