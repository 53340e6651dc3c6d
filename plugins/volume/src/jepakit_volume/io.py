"""Readers: one file -> a float32 array that is a volume ``(S, H, W)`` (slices first) or
an image ``(H, W)``.

``.npy`` / ``.npz`` (one array; an ``.npz`` with several names the one to use with
``data.key``), NIfTI ``.nii`` / ``.nii.gz`` through nibabel (the ``nifti`` extra,
imported only when such a file is read) and TIFF (``.tif``/``.tiff``: a multi-page stack
is a volume, one page an image) through tifffile. ``slice_axis`` names the axis the
slices are cut along (``auto``: NIfTI's third axis, z, whose slices are the scanner's
acquisition planes; the first axis of NumPy arrays and TIFF stacks, which store pages
first). Every refusal is one :class:`~jepakit.kit.DataError` line naming the file and
the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jepakit.kit import DataError

VOLUME_SUFFIXES = (".npy", ".npz", ".nii", ".nii.gz", ".tif", ".tiff")


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def is_volume_file(path: Path) -> bool:
    return path.is_file() and suffix_of(path) in VOLUME_SUFFIXES and not path.name.startswith(".")


def _raw(path: Path, key: str | None) -> tuple[np.ndarray, int]:
    """The file's array and its default slice axis."""
    sfx = suffix_of(path)
    if sfx == ".npy":
        try:
            return np.load(path, allow_pickle=False), 0
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc}); save it with numpy.save") from None
    if sfx == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if key is None and len(names) != 1:
                    raise DataError(f"{path}: holds {len(names)} arrays ({', '.join(names) or 'none'}); name one with data.key")
                name = key if key is not None else names[0]
                if name not in names:
                    raise DataError(f"{path}: has no array {name!r} (data.key); it holds {', '.join(names)}")
                return np.asarray(z[name]), 0
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    if sfx in (".nii", ".nii.gz"):
        try:
            import nibabel
        except ImportError:
            raise DataError(f"{path}: reading NIfTI needs nibabel; pip install 'jepakit-volume[nifti]'") from None
        try:
            img = nibabel.load(str(path))
            return np.asarray(img.dataobj), 2
        except Exception as exc:  # nibabel raises its own ImageFileError, ValueError, EOFError...
            raise DataError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    if sfx in (".tif", ".tiff"):
        import tifffile

        try:
            return np.asarray(tifffile.imread(path)), 0
        except Exception as exc:  # tifffile raises TiffFileError, ValueError...
            raise DataError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from None
    raise DataError(f"{path}: unknown file type {sfx!r}; give one of {', '.join(VOLUME_SUFFIXES)}")


def read_array(path: str | Path, slice_axis: Any = "auto", key: str | None = None) -> np.ndarray:
    """A volume ``(S, H, W)`` or an image ``(H, W)`` as float32, slices first.

    Singleton axes are dropped (a ``(1, H, W)`` TIFF page is an image, a NIfTI's
    ``(X, Y, Z, 1)`` a volume); RGB(A) TIFF pages (last axis 3 or 4) are averaged to grey.
    Refused, in one line each: arrays that are not 2-D or 3-D after that (a 4-D series:
    save one volume), a ``slice_axis`` a volume does not have (an image has no slice axis
    and ignores it), non-numeric data, NaN or infinite voxels."""
    p = Path(path)
    a, default_axis = _raw(p, key)
    if a.dtype.kind not in "biuf":
        raise DataError(f"{p}: holds {a.dtype} data, not numbers; save the voxel intensities as a numeric array")
    if a.ndim >= 3 and suffix_of(p) in (".tif", ".tiff") and a.shape[-1] in (3, 4) and a.shape[-2] > 4:
        a = a[..., :3].mean(-1)  # colour pages -> grey
    squeezed = tuple(i for i, n in enumerate(a.shape) if n != 1)
    if len(squeezed) != a.ndim:
        # the default axis follows the axes that remain
        default_axis = sum(1 for i in squeezed if i < default_axis) if default_axis in squeezed else 0
        a = a.reshape([a.shape[i] for i in squeezed])
    if a.ndim not in (2, 3):
        raise DataError(f"{p}: a {a.ndim}-D array of shape {tuple(a.shape)}; give one 3-D volume (S, H, W) or one 2-D image per file "
                        f"(for a 4-D series save each volume, e.g. img.dataobj[..., t], as its own file)")
    if a.ndim == 3:
        axis = default_axis if slice_axis in (None, "auto") else slice_axis
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -3 <= int(axis) < 3:
            raise DataError(f"{p}: data.slice_axis={slice_axis!r} is not an axis of this 3-D volume of shape {tuple(a.shape)}; "
                            f"give 0, 1, 2 or auto")
        a = np.moveaxis(a, int(axis), 0)
    a = a.astype(np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{p}: {int(bad.sum())} NaN or infinite voxels (the first at index {first}); "
                        f"fill or mask them (e.g. numpy.nan_to_num) before training")
    return a


__all__ = ["VOLUME_SUFFIXES", "is_volume_file", "read_array", "suffix_of"]
