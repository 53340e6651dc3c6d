"""The ``volume`` domain's loader: volumes and images, embedded or from a folder.

Every item is a stack of ``S`` slices ``x`` ``(S, H, W)`` with a ``valid`` flag per slice
and its ``modality`` (1 volume, 0 image). A volume fills every slice. An image is a
1-slice volume: slice 0 holds it, the other slices are padding (``valid`` False), which
the slice tokenizer replaces by a learned pad token and the probes' pooling skips. A
*pretraining* image holds two augmented views of itself in slices 0 and 1: the slice
masker predicts the second from the first (masked slice-embedding prediction across
views, where a 2-D item has no other slice) and the clustering regularizer asks the two
to fall in the same cluster.

``path=None``: the embedded synthetic data (:mod:`jepakit_volume.synthetic`); tasks
``volume3d`` (classify a volume's structure) and ``image2d`` (classify the structure an
image was cut from). A folder: every readable file under it (:mod:`jepakit_volume.io`),
3-D arrays as volumes and 2-D arrays as images, resampled to ``size``; with class
sub-folders, labelled tasks ``volume3d`` and/or ``image2d`` split ``test_fraction`` per
class. ``modalities`` picks what is pretrained on: ``both`` (joint 2-D/3-D), ``volumes``
(3-D only) or ``images`` (2-D only); the tasks are the same for all three, so the bench
compares them on the same items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jepakit import DataBundle, Task
from jepakit.kit import DataError, Failures, as_shape, check_options, notice, read_each, stratified_split

from .io import is_volume_file, read_array
from .synthetic import CLASSES, make_images, make_volumes

MODALITIES = ("both", "volumes", "images")
NORMALIZE = ("item", "none")
VOLUME, IMAGE = 1, 0


def _augment(a: np.ndarray) -> np.ndarray:
    """A random shift of up to 2 voxels along each axis (circular: 12 % of a 16-voxel
    side, within the +-20 % the synthetic structures' centres already vary by), a random
    in-plane rotation by a multiple of 90 degrees, flips of each axis, an intensity scale
    of 0.8-1.2 and Gaussian noise of std 0.1 (the items are standardised, so 10 % of
    their spread). Drawn from numpy's global generator, which the core reseeds
    from (seed, step) before every batch, so runs and resumes see the same views."""
    a = np.roll(a, tuple(int(v) for v in np.random.randint(-2, 3, a.ndim)), axis=tuple(range(a.ndim)))
    a = np.rot90(a, int(np.random.randint(4)), axes=(-2, -1))
    for ax in range(a.ndim):
        if np.random.rand() < 0.5:
            a = np.flip(a, ax)
    a = a * np.random.uniform(0.8, 1.2) + np.random.normal(0.0, 0.1, a.shape)
    return np.ascontiguousarray(a, dtype=np.float32)


class VolumeSet:
    """Volumes ``(n, S, H, W)`` or images ``(n, H, W)`` as items of ``S`` slices.

    ``augment``: pretraining items (random views, :func:`_augment`); ``views``: how many
    augmented views of an image a pretraining item holds (slices 0.., 2 by default)."""

    def __init__(self, arrays: np.ndarray, kind: str, depth: int, labels: Any = None, augment: bool = False, views: int = 2):
        self.arrays, self.kind, self.depth = arrays, kind, int(depth)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.augment, self.views = bool(augment), int(views) if augment and kind == "image" else 1

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> dict[str, Any]:
        a = self.arrays[i]
        valid = np.zeros(self.depth, dtype=bool)
        if self.kind == "volume":
            x = _augment(a) if self.augment else np.asarray(a, dtype=np.float32)
            valid[:] = True
        else:
            x = np.zeros((self.depth, *a.shape), dtype=np.float32)
            for v in range(self.views):
                x[v] = _augment(a) if self.augment else a
            valid[: self.views] = True
        item: dict[str, Any] = {"x": x, "valid": valid, "modality": VOLUME if self.kind == "volume" else IMAGE}
        if self.labels is not None:
            item["label"] = int(self.labels[i])
        return item


class Interleaved:
    """Several datasets as one, their items interleaved (volume, image, volume, ...), so
    that every batch of a joint run holds both modalities from the first one on."""

    def __init__(self, parts: Sequence[Any]):
        self.parts = [p for p in parts if len(p)]
        order: list[tuple[int, int]] = []
        longest = max((len(p) for p in self.parts), default=0)
        for j in range(longest):
            order += [(k, j) for k, p in enumerate(self.parts) if j < len(p)]
        self.order = order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> dict[str, Any]:
        k, j = self.order[i]
        return self.parts[k][j]


def _resize(a: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """A volume to ``size`` (trilinear) or an image to ``size[1:]`` (bilinear)."""
    import torch
    import torch.nn.functional as F

    target = size if a.ndim == 3 else size[1:]
    if tuple(a.shape) == tuple(target):
        return a
    t = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    mode = "trilinear" if a.ndim == 3 else "bilinear"
    return F.interpolate(t, size=target, mode=mode, align_corners=False)[0, 0].numpy()


def _normalise(a: np.ndarray, how: str) -> np.ndarray:
    if how == "none":
        return a.astype(np.float32)
    std = float(a.std())
    return ((a - a.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def _read_folder(root: Path, size: tuple[int, int, int], normalize: str, slice_axis: Any, key: str | None):
    """Every readable file under ``root``: ``(volumes, images)``, each a list of
    ``(array, class or None)``, and the class names (sub-folders), if any."""
    if root.is_file():
        files, classes = [root], []
    else:
        subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        classes = [d.name for d in subdirs]
        loose = sorted(p for p in root.iterdir() if is_volume_file(p))
        if classes and loose:
            raise DataError(f"{root}: holds class sub-folders ({', '.join(classes)}) and {len(loose)} files beside them "
                            f"(e.g. {loose[0].name}); move those files into a class folder or out of {root}")
        files = sorted(p for p in root.rglob("*") if is_volume_file(p))
        if not files:
            raise DataError(f"{root}: no volume or image files (.npy, .npz, .nii, .nii.gz, .tif, .tiff) under it")
    failures = Failures()
    volumes: list[tuple[np.ndarray, int | None]] = []
    images: list[tuple[np.ndarray, int | None]] = []
    for f, a in read_each(files, lambda f: read_array(f, slice_axis, key), failures):
        label = classes.index(f.relative_to(root).parts[0]) if classes else None
        item = (_normalise(_resize(a, size), normalize), label)
        (volumes if a.ndim == 3 else images).append(item)
    if not volumes and not images:
        raise failures.error(root, len(files))
    return volumes, images, classes


def _task(items: list[tuple[np.ndarray, int | None]], kind: str, depth: int, classes: list[str], test_fraction: float,
          seed: int, what: str) -> Task | None:
    if not classes or len(items) < 2:
        return None
    arrays = np.stack([a for a, _ in items])
    labels = np.asarray([y for _, y in items], dtype=np.int64)
    train, test = stratified_split(labels, test_fraction, seed)
    return Task(VolumeSet(arrays[train], kind, depth, labels[train]), VolumeSet(arrays[test], kind, depth, labels[test]),
                "multiclass", classes, description=what)


def load(
    path: str | None = None,
    size: Any = (16, 16, 16),
    modalities: str = "both",
    n_volumes: int = 600,
    n_images: int = 600,
    n_train: int = 200,
    n_test: int = 400,
    noise: float = 0.25,
    normalize: str = "item",
    slice_axis: Any = "auto",
    key: str | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> DataBundle:
    """The volume domain's loader (see the module doc). ``size``: ``(S, H, W)`` every
    item is resampled to (an int: a cube); ``normalize``: ``item`` (zero mean, unit std
    per item) or ``none``; ``slice_axis``/``key``: see :func:`jepakit_volume.io.read_array`."""
    shape = as_shape(size, 3, "data.size")
    if min(shape) < 4:
        raise DataError(f"data.size={list(shape)}: every axis needs >= 4 voxels (the slice encoder halves each slice twice)")
    check_options("data.modalities", [modalities], MODALITIES)
    check_options("data.normalize", [normalize], NORMALIZE)
    depth = shape[0]
    info = {"size": list(shape)}
    if path is None:
        vol, _ = make_volumes(n_volumes, seed * 1000 + 1, shape, noise)
        img, _ = make_images(n_images, seed * 1000 + 2, shape, noise)
        tasks = {}
        for name, make, kind, off in (("volume3d", make_volumes, "volume", 3), ("image2d", make_images, "image", 5)):
            xtr, ytr = make(n_train, seed * 1000 + off, shape, noise)
            xte, yte = make(n_test, seed * 1000 + off + 1, shape, noise)
            what = ("classify the 3-D structure of a volume" if kind == "volume"
                    else "classify the 3-D structure a 2-D slice or projection was cut from")
            tasks[name] = Task(VolumeSet(xtr, kind, depth, ytr), VolumeSet(xte, kind, depth, yte), "multiclass", list(CLASSES),
                               description=what)
        vols, imgs = [vol], [img]
        desc = (f"synthetic {'x'.join(map(str, shape))} volumes ({', '.join(CLASSES)}) and their 2-D slices/projections; "
                f"pretraining on {modalities}")
    else:
        root = Path(path)
        volumes, images, classes = _read_folder(root, shape, normalize, slice_axis, key)
        tasks = {}
        t3 = _task(volumes, "volume", depth, classes, test_fraction, seed, "classify volumes by their class folder")
        t2 = _task(images, "image", depth, classes, test_fraction, seed, "classify images by their class folder")
        if t3 is not None:
            tasks["volume3d"] = t3
        if t2 is not None:
            tasks["image2d"] = t2
        vols = [np.stack([a for a, _ in volumes])] if volumes else []
        imgs = [np.stack([a for a, _ in images])] if images else []
        desc = f"{len(volumes)} volumes and {len(images)} images from {root}, resampled to {'x'.join(map(str, shape))}"
    parts = []
    if modalities in ("both", "volumes"):
        parts += [VolumeSet(v, "volume", depth, augment=True) for v in vols]
    if modalities in ("both", "images"):
        parts += [VolumeSet(i, "image", depth, augment=True) for i in imgs]
    if not any(len(p) for p in parts):
        wanted = {"volumes": "volumes (3-D arrays)", "images": "images (2-D arrays)", "both": "volumes or images"}[modalities]
        raise DataError(f"{path if path is not None else 'the embedded data'}: no {wanted} to pretrain on "
                        f"(data.modalities={modalities}); give such files or set data.modalities")
    if path is not None and modalities == "both" and (not vols or not imgs):
        notice(f"{path}: only {'volumes' if vols else 'images'}; joint pretraining sees one modality")
    return DataBundle(Interleaved(parts), info, tasks, describe=desc)


__all__ = ["Interleaved", "VolumeSet", "load"]
