"""Fixture writers for tests and examples: image folders and CSVs in every format the
readers take, written with Pillow, tifffile and NumPy (no network, no dataset)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

FORMATS = ("png", "jpg", "tif", "npy")


def pattern(label: int, size: tuple[int, int], rng: np.random.Generator, colour: bool = False) -> np.ndarray:
    """A float image in [0, 1] whose class is readable: stripes of period ``4 + 2 * label``
    pixels (``(H, W)``, or ``(H, W, 3)`` tinted for ``colour``), plus a little noise."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    period = 4 + 2 * int(label)
    a = 0.5 + 0.4 * np.sin(2 * np.pi * (xx + yy * (label % 2)) / period) + rng.normal(0, 0.03, (h, w))
    a = np.clip(a, 0, 1)
    if colour:
        tint = np.array([1.0, 0.6 + 0.1 * (label % 3), 0.3])
        a = np.clip(a[..., None] * tint, 0, 1)
    return a.astype(np.float32)


def write_image(path: str | os.PathLike, image: np.ndarray, fmt: str | None = None) -> Path:
    """Write a float ``(H, W)`` / ``(H, W, 3)`` image in [0, 1]: PNG/JPEG as 8-bit (Pillow),
    TIFF as 16-bit (tifffile), NumPy as float32."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("png", "jpg", "jpeg"):
        from PIL import Image

        Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).save(path)
    elif fmt in ("tif", "tiff"):
        import tifffile

        tifffile.imwrite(path, (np.clip(image, 0, 1) * 65535).round().astype(np.uint16))
    elif fmt in ("npy",):
        np.save(path, image.astype(np.float32))
    else:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    return path


def write_image_folder(
    root: str | os.PathLike, per_class: Mapping[str, int] | None = None, formats: Sequence[str] = FORMATS,
    sizes: Sequence[tuple[int, int]] = ((40, 40), (48, 36), (30, 50)), colour_every: int = 3, seed: int = 0,
    flat: bool = False,
) -> list[tuple[Path, str | None]]:
    """``root/<class>/<k>.<fmt>`` (or flat ``root/<k>.<fmt>``) images of :func:`pattern`,
    cycling through ``formats`` and ``sizes``; every ``colour_every``-th one is RGB (in a
    format that keeps colour). Returns ``(file, class or None)`` pairs."""
    rng = np.random.default_rng(seed)
    per_class = dict(per_class or {"a": 6, "b": 6})
    out = []
    k = 0
    for c, (name, n) in enumerate(per_class.items()):
        for i in range(n):
            fmt = formats[k % len(formats)]
            colour = colour_every > 0 and k % colour_every == 0 and fmt in ("png", "jpg", "npy")
            img = pattern(c, sizes[k % len(sizes)], rng, colour)
            f = Path(root) / (f"{name}_{i}.{fmt}" if flat else f"{name}/{i}.{fmt}")
            out.append((write_image(f, img, fmt), None if flat else name))
            k += 1
    return out


def write_csv(path: str | os.PathLike, rows: Sequence[tuple[str | os.PathLike, str]], header: bool = True) -> Path:
    """A ``path,label`` CSV (paths as given: relative ones are read relative to the CSV)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["path,label"] if header else []) + [f"{p},{lab}" for p, lab in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_broken(folder: str | os.PathLike) -> list[Path]:
    """Files the readers must skip with one line each: a truncated PNG, a NumPy array with a
    NaN, and a 4-D array; plus a text file that is no image at all."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = write_image(folder / "_tmp.png", np.full((8, 8), 0.5))
    truncated = folder / "broken.png"
    truncated.write_bytes(good.read_bytes()[:30])
    good.unlink()
    nan = folder / "nan.npy"
    a = np.zeros((8, 8), dtype=np.float32)
    a[0, 0] = np.nan
    np.save(nan, a)
    rank4 = folder / "rank4.npy"
    np.save(rank4, np.zeros((2, 2, 8, 8), dtype=np.float32))
    notes = folder / "notes.txt"
    notes.write_text("not an image\n")
    return [truncated, nan, rank4, notes]


__all__ = ["FORMATS", "pattern", "write_broken", "write_csv", "write_image", "write_image_folder"]
