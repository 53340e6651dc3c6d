"""Fixture writers: folders of volumes and images in the shapes real tools write them
(NumPy arrays, NIfTI through nibabel with a trailing singleton axis and int16 voxels,
multi-page TIFF stacks), for tests and examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .synthetic import CLASSES, make_images, make_volumes


def write_nifti(path: str | Path, volume: np.ndarray, dtype: str = "int16", trailing: bool = True) -> Path:
    """``volume`` ``(S, H, W)`` as a NIfTI file whose *third* axis is the slice axis (as
    scanners store axial slices), scaled to ``dtype`` and with a trailing singleton time
    axis when ``trailing`` (what many converters write)."""
    import nibabel

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    a = np.moveaxis(np.asarray(volume, dtype=np.float32), 0, 2)
    if np.dtype(dtype).kind in "iu":
        a = np.round((a - a.min()) / max(float(np.ptp(a)), 1e-6) * 1000).astype(dtype)
    if trailing:
        a = a[..., None]
    nibabel.save(nibabel.Nifti1Image(a, np.eye(4)), str(p))
    return p


def write_tiff_stack(path: str | Path, volume: np.ndarray) -> Path:
    """``volume`` ``(S, H, W)`` as a multi-page TIFF (one page per slice), 16-bit."""
    import tifffile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    a = np.asarray(volume, dtype=np.float32)
    tifffile.imwrite(p, np.round((a - a.min()) / max(float(np.ptp(a)), 1e-6) * 60000).astype(np.uint16))
    return p


def write_folder(root: str | Path, per_class: int = 6, images_per_class: int = 6, size: Sequence[int] = (12, 16, 16),
                 formats: Sequence[str] = ("npy", "nii.gz", "tif"), classes: Sequence[str] = CLASSES[:2], seed: int = 0) -> Path:
    """A labelled folder ``root/<class>/...``: ``per_class`` synthetic volumes of each
    class in turn in ``formats`` and ``images_per_class`` 2-D images (``.npy``), at
    ``size`` (not the model's, so the loader must resample)."""
    root = Path(root)
    vols, vy = make_volumes(per_class * len(CLASSES), seed, size)
    imgs, iy = make_images(images_per_class * len(CLASSES), seed + 1, size)
    for name in classes:
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for j, i in enumerate(np.flatnonzero(vy == CLASSES.index(name))[:per_class]):
            fmt = formats[j % len(formats)]
            if fmt == "npy":
                np.save(d / f"vol{j:03d}.npy", vols[i])
            elif fmt in ("nii", "nii.gz"):
                write_nifti(d / f"vol{j:03d}.{fmt}", vols[i])
            else:
                write_tiff_stack(d / f"vol{j:03d}.tif", vols[i])
        for j, i in enumerate(np.flatnonzero(iy == CLASSES.index(name))[:images_per_class]):
            np.save(d / f"img{j:03d}.npy", imgs[i])
    return root


__all__ = ["write_folder", "write_nifti", "write_tiff_stack"]
