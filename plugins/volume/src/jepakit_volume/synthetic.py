"""The embedded data: synthetic volumes holding one class-specific 3-D structure each, and
2-D images that are slices or projections of such structures.

A volume is ``(S, H, W)`` (slices first), 16 x 16 x 16 by default, holding a sphere, a
cylinder, a cone or a box at a random position (centre within +-20 % of the field of
view), size (radius 45-70 % of the half-width: 3.5-5.5 voxels at 16) and orientation (the cylinder's and
cone's axis along any of the three axes, the cone pointing either way), at a random
contrast (0.7-1.3) over Gaussian noise (std 0.25) and a random linear intensity ramp. So no single
slice tells the class: a cylinder cut across its axis and a sphere both give a disk, a
box and a cylinder cut along the axis both give a rectangle; the slices *in order* do
(the disk's radius is constant along a cylinder, grows then shrinks along a sphere,
shrinks along a cone).

An image is one such structure seen in 2-D: a slice near the centre of the object or a
mean projection, along a random axis, with its own noise and ramp; its label is the 3-D
class it was cut from. Every item is standardised (zero mean, unit std).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSES = ("sphere", "cylinder", "cone", "box")


def _grid(size: Sequence[int]) -> np.ndarray:
    """``(3, S, H, W)`` coordinates in [-1, 1] along each axis."""
    axes = [np.linspace(-1.0, 1.0, int(n), dtype=np.float32) for n in size]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def _shape(kind: int, p: np.ndarray, r: float, axis: int, sign: float) -> np.ndarray:
    """Boolean occupancy of structure ``kind`` at coordinates ``p`` (3, ...) relative to
    its centre: radius ``r``, axis ``axis`` (cylinder, cone), cone tip towards ``sign``."""
    a = p[axis]
    radial = np.sqrt(sum(p[i] ** 2 for i in range(3) if i != axis))
    if kind == 0:  # sphere
        return np.sqrt((p ** 2).sum(0)) < r
    if kind == 1:  # cylinder: radius 0.8 r, half-length 1.2 r (never mistaken for a sphere along its axis)
        return (radial < 0.8 * r) & (np.abs(a) < 1.2 * r)
    if kind == 2:  # cone: radius r at its base shrinking linearly to 0 at its tip, half-length 1.3 r
        h = 1.3 * r
        t = np.clip((h - sign * a) / (2 * h), 0.0, 1.0)  # 1 at the base, 0 at the tip
        return (np.abs(a) < h) & (radial < r * t)
    return np.abs(p).max(0) < 0.8 * r  # box (a cube; axis-aligned)


def _standardise(x: np.ndarray) -> np.ndarray:
    axes = tuple(range(1, x.ndim))
    return ((x - x.mean(axes, keepdims=True)) / (x.std(axes, keepdims=True) + 1e-6)).astype(np.float32)


def _object(rng: np.random.Generator, kind: int, grid: np.ndarray) -> np.ndarray:
    centre = rng.uniform(-0.2, 0.2, 3).astype(np.float32)
    r = float(rng.uniform(0.45, 0.7))
    p = grid - centre[:, None, None, None]
    return _shape(kind, p, r, int(rng.integers(3)), float(rng.choice([-1.0, 1.0]))).astype(np.float32)


def _ramp(rng: np.random.Generator, grid: np.ndarray) -> np.ndarray:
    """A random linear intensity ramp (amplitude 0.3): the slow bias field of a scanner."""
    w = rng.normal(0.0, 1.0, grid.shape[0]).astype(np.float32)
    w *= 0.3 / (np.linalg.norm(w) + 1e-6)
    return np.tensordot(w, grid, axes=1)


def make_volumes(n: int, seed: int, size: Sequence[int] = (16, 16, 16), noise: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """``n`` standardised volumes ``(n, S, H, W)`` and their class labels (balanced)."""
    rng = np.random.default_rng(seed)
    grid = _grid(size)
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    out = np.empty((n, *size), dtype=np.float32)
    for i, k in enumerate(labels):
        v = _object(rng, int(k), grid) * rng.uniform(0.7, 1.3)
        out[i] = v + _ramp(rng, grid) + rng.normal(0.0, noise, v.shape)
    return _standardise(out), labels.astype(np.int64)


def make_images(n: int, seed: int, size: Sequence[int] = (16, 16, 16), noise: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """``n`` standardised images ``(n, H, W)``: a slice within 1 voxel of the object's
    middle or a mean projection (half each), along a random axis of a fresh structure of
    the volume size ``size``; labels are the structures' classes (balanced)."""
    rng = np.random.default_rng(seed)
    s = tuple(int(v) for v in size)
    cube = (max(s),) * 3  # cut from a cube so that every axis gives an H x W image
    grid = _grid(cube)
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    out = np.empty((n, s[1], s[2]), dtype=np.float32)
    for i, k in enumerate(labels):
        v = _object(rng, int(k), grid)
        axis = int(rng.integers(3))
        v = np.moveaxis(v, axis, 0)
        if rng.random() < 0.5:
            mass = v.sum((1, 2))
            mid = int(np.clip(np.round((mass * np.arange(len(mass))).sum() / max(mass.sum(), 1e-6)) + rng.integers(-1, 2), 0, len(mass) - 1))
            img = v[mid]
        else:
            img = v.mean(0)
            img = img / max(float(img.max()), 1e-6)
        img = img[: s[1], : s[2]] * rng.uniform(0.7, 1.3)
        out[i] = img + _ramp(rng, grid[1:, 0, : s[1], : s[2]]) + rng.normal(0.0, noise, img.shape)
    return _standardise(out), labels.astype(np.int64)


__all__ = ["CLASSES", "make_images", "make_volumes"]
