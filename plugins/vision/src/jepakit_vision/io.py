"""Image readers: PNG/JPEG/BMP/GIF (Pillow), TIFF (tifffile), NumPy ``.npy``/``.npz``.

Every reader returns a float32 ``(C, H, W)`` array in ``[0, 1]`` with ``C`` 1 (grey) or 3
(RGB): 8-bit values are divided by 255, 16-bit by 65535, float images are taken as they
are when they lie in [0, 1] and min-max scaled per image otherwise (a float TIFF of
reflectances or of raw counts both end in [0, 1]). An alpha channel is dropped; a palette
image becomes RGB. Arrays may be ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` with C in
1, 3, 4. Anything else -- a file that does not decode, a wrong rank, NaN pixels, an
empty image -- is a one-line :class:`DataError` naming the file.

:func:`fit` brings an image to the model's size, as stated in one line by the loader:
``crop`` (default) resizes the shorter side to ``size`` and centre-crops the longer
(aspect kept, the borders of the longer side lost), ``stretch`` resizes both sides to
``size`` (nothing lost, aspect changed), ``pad`` resizes the longer side to ``size`` and
pads the shorter with zeros (nothing lost, aspect kept).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jepakit.kit import DataError

PIL_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TIFF_EXT = {".tif", ".tiff"}
NUMPY_EXT = {".npy", ".npz"}
IMAGE_EXT = PIL_EXT | TIFF_EXT | NUMPY_EXT
FITS = ("crop", "stretch", "pad")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXT and not path.name.startswith(".")


def _to_chw(a: np.ndarray, path: Path) -> np.ndarray:
    """``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` -> ``(C, H, W)``, C 1 or 3."""
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 3:
        if a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3, 4):
            a = np.moveaxis(a, -1, 0)
        elif a.shape[0] in (1, 3, 4):
            pass
        elif a.shape[-1] in (1, 3, 4):
            a = np.moveaxis(a, -1, 0)
        else:
            raise DataError(f"{path}: an image array needs 1, 3 or 4 channels, got shape {a.shape}")
    else:
        raise DataError(f"{path}: an image must be 2-D (H, W) or 3-D (H, W, C), got shape {a.shape}")
    if a.shape[0] == 4:  # RGBA: the alpha channel is not part of the picture
        a = a[:3]
    if a.shape[1] == 0 or a.shape[2] == 0:
        raise DataError(f"{path}: empty image {a.shape[1]}x{a.shape[2]}")
    return a


def _unit(a: np.ndarray, path: Path) -> np.ndarray:
    """Values -> float32 in [0, 1] (see the module doc)."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        if info.min < 0:
            a = a.astype(np.float64)
        else:
            return (a.astype(np.float64) / float(info.max if info.max <= 65535 else max(1, a.max()))).astype(np.float32)
    a = a.astype(np.float64)
    if np.iscomplexobj(a):
        raise DataError(f"{path}: complex pixels; save the magnitude (np.abs) as the image")
    if not np.isfinite(a).all():
        raise DataError(f"{path}: {int((~np.isfinite(a)).sum())} NaN or infinite pixel(s)")
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0.0 and hi <= 1.0:
        return a.astype(np.float32)
    if hi == lo:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "HSV", "LAB", "1"):
                im = im.convert("RGB" if im.mode not in ("LA", "1") else "L")
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
    return a


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        return np.asarray(tifffile.imread(path))
    except Exception as exc:  # tifffile raises several types for damaged files
        raise DataError(f"{path}: not a readable TIFF ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None


def _read_numpy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable NumPy file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = list(data.files)
            if not names:
                raise DataError(f"{path}: the .npz holds no array")
            return np.asarray(data[names[0]])
    return np.asarray(data)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file -> float32 ``(C, H, W)`` in [0, 1], C 1 or 3."""
    path = Path(path)
    ext = path.suffix.lower()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if ext in TIFF_EXT:
        a = _read_tiff(path)
    elif ext in NUMPY_EXT:
        a = _read_numpy(path)
    elif ext in PIL_EXT:
        a = _read_pil(path)
    else:
        raise DataError(f"{path}: unknown image type {ext or '(no extension)'}; valid: {', '.join(sorted(IMAGE_EXT))}")
    a = np.squeeze(a) if a.ndim > 3 else a
    return _unit(_to_chw(a, path), path)


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``(C, H, W)`` -> ``channels`` (1: ITU-R 601 luma of RGB; 3: grey repeated)."""
    c = image.shape[0]
    if c == channels:
        return image
    if channels == 1:
        return (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None].astype(np.float32)
    return np.repeat(image, 3, axis=0)


def fit(image: np.ndarray, size: int, mode: str = "crop") -> np.ndarray:
    """``(C, H, W)`` -> ``(C, size, size)`` (see the module doc for ``mode``)."""
    import torch
    import torch.nn.functional as F

    if mode not in FITS:
        raise DataError(f"unknown data.fit {mode!r}; valid: {', '.join(FITS)}")
    c, h, w = image.shape
    if (h, w) == (size, size):
        return image
    x = torch.from_numpy(np.ascontiguousarray(image))[None]
    if mode == "stretch":
        nh, nw = size, size
    elif mode == "crop":
        k = size / min(h, w)
        nh, nw = max(size, round(h * k)), max(size, round(w * k))
    else:
        k = size / max(h, w)
        nh, nw = max(1, round(h * k)), max(1, round(w * k))
    # antialias when shrinking: a 224 px photo brought to 32 px must not alias its textures
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=nh < h or nw < w)[0]
    if mode == "crop":
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[:, top : top + size, left : left + size]
    elif mode == "pad":
        out = x.new_zeros((c, size, size))
        top, left = (size - nh) // 2, (size - nw) // 2
        out[:, top : top + nh, left : left + nw] = x
        x = out
    return x.clamp(0.0, 1.0).numpy().astype(np.float32)


__all__ = ["FITS", "IMAGE_EXT", "fit", "is_image_file", "read_image", "to_channels"]
