"""Datasets and the domain loader: embedded synthetic ATR chips or a folder of SAR files.

A folder is read in one of three layouts:

* ``root/{train,test}/<class>/...``: the split is given (the MSTAR SOC layout, 17 deg
  train / 15 deg test, is one such);
* ``root/<class>/...``: one sub-folder per class, split into train/test at random,
  stratified by class (``test_fraction``);
* ``root/*`` files only: unlabelled, for pretraining (scenes larger than twice the chip
  are cut into non-overlapping chips).

Files are found recursively under each class folder. One unreadable file is reported
as a warning and skipped; a class folder without a single readable chip is an error.
Every chip is centre-cropped or padded to ``chip`` pixels and divided by its mean
amplitude (``normalize="mean"``): the radiometric calibration of real SAR products
varies, and the ROA target is scale-free anyway, but pixel and HOG targets are not.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from jepakit.contract import DataBundle, Task
from jepakit.errors import DataError

from .io import SCALES, fit_chip, is_candidate, read_sar, tiles
from .synthetic import CLASSES, make_chips

SPLIT_NAMES = {"train": ("train", "training"), "test": ("test", "testing", "val", "validation")}


class ChipDataset(Dataset):
    """In-memory chips ``(n, 1, S, S)`` as batch dicts ``{"image": (1, S, S)}``, with
    ``"label"`` when labels are given."""

    def __init__(self, images: np.ndarray | torch.Tensor, labels: Sequence[int] | None = None):
        self.images = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if self.images.dim() == 3:
            self.images = self.images[:, None]
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"image": self.images[i]}
        if self.labels is not None:
            item["label"] = self.labels[i]
        return item


def normalize_chip(a: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return a
    if mode == "mean":
        m = float(a.mean())
        return a / m if m > 0 else a
    raise DataError(f"unknown normalize mode {mode!r}; valid: mean, none")


def _read_many(
    files: list[Path], chip: int, scale: str, band: int | None, normalize: str, tile: bool
) -> list[np.ndarray]:
    out = []
    for f in files:
        try:
            a = read_sar(f, scale=scale, band=band)
        except DataError as exc:
            warnings.warn(f"{exc}; skipped", stacklevel=3)
            continue
        parts = tiles(a, chip) if tile and min(a.shape) >= 2 * chip else [fit_chip(a, chip)]
        out.extend(normalize_chip(p, normalize) for p in parts)
    return out


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_candidate(p))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _find_split(root: Path, split: str) -> Path | None:
    for d in _subdirs(root):
        if d.name.lower() in SPLIT_NAMES[split]:
            return d
    return None


def _read_classes(split_dir: Path, classes: list[str], chip: int, scale: str, band: int | None, normalize: str):
    images, labels = [], []
    for k, name in enumerate(classes):
        folder = split_dir / name
        files = _files_under(folder) if folder.is_dir() else []
        chips = _read_many(files, chip, scale, band, normalize, tile=False)
        if not chips:
            raise DataError(f"{folder}: class folder has no readable SAR chips")
        images.extend(chips)
        labels.extend([k] * len(chips))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_test = int(round(len(idx) * test_fraction))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))


def load_folder(
    path: str | Path,
    chip: int = 64,
    scale: str = "amplitude",
    band: int | None = None,
    normalize: str = "mean",
    test_fraction: float = 0.3,
    seed: int = 0,
) -> tuple[ChipDataset, dict[str, Task], str]:
    """Read a file or folder of SAR data; returns the pretraining set, tasks and a description."""
    root = Path(path)
    if scale not in SCALES:
        raise DataError(f"{root}: unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    if root.is_file():
        chips = _read_many([root], chip, scale, band, normalize, tile=True)
        if not chips:
            raise DataError(f"{root}: no readable SAR image")
        return ChipDataset(np.stack(chips)), {}, f"{len(chips)} unlabelled {chip}px chips from {root}"
    if not root.is_dir():
        raise DataError(f"{root}: no such file or folder")
    train_dir, test_dir = _find_split(root, "train"), _find_split(root, "test")
    if train_dir is not None and test_dir is not None:
        classes = [d.name for d in _subdirs(train_dir)]
        if not classes:
            raise DataError(f"{train_dir}: no class sub-folders")
        missing = [c for c in classes if not (test_dir / c).is_dir()]
        if missing:
            raise DataError(f"{test_dir}: no folder for class {missing[0]!r}")
        xtr, ytr = _read_classes(train_dir, classes, chip, scale, band, normalize)
        xte, yte = _read_classes(test_dir, classes, chip, scale, band, normalize)
    else:
        classes = [d.name for d in _subdirs(root)]
        if not classes:
            files = _files_under(root)
            chips = _read_many(files, chip, scale, band, normalize, tile=True)
            if not chips:
                raise DataError(f"{root}: no readable SAR images")
            return ChipDataset(np.stack(chips)), {}, f"{len(chips)} unlabelled {chip}px chips from {root}"
        x, y = _read_classes(root, classes, chip, scale, band, normalize)
        tr, te = _stratified_split(y, test_fraction, seed)
        xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
    task = Task(
        ChipDataset(xtr, ytr),
        ChipDataset(xte, yte),
        "multiclass",
        classes,
        description=f"{len(classes)}-class target recognition on {root.name}",
    )
    desc = f"{len(xtr)} train / {len(xte)} test {chip}px chips, {len(classes)} classes, from {root}"
    return ChipDataset(xtr), {"atr": task}, desc


def load(
    path: str | None = None,
    chip: int = 64,
    patch: int = 8,
    scale: str = "amplitude",
    band: int | None = None,
    normalize: str = "mean",
    test_fraction: float = 0.3,
    looks: Sequence[float] = (1, 2, 4),
    n_pretrain: int = 1500,
    n_train: int = 500,
    n_test: int = 500,
    seed: int = 0,
) -> DataBundle:
    """The SAR domain's loader. ``path=None``: the synthetic ATR set, one task per
    number of looks (``L1``, ``L2``, ``L4``) and pretraining chips drawn evenly from all
    of them; otherwise a file or folder (see the module doc)."""
    if chip % patch:
        raise DataError(f"data.chip={chip} is not a multiple of data.patch={patch}")
    info = {"img_size": chip, "patch": patch, "in_chans": 1}
    if path is not None:
        pretrain, tasks, desc = load_folder(path, chip, scale, band, normalize, test_fraction, seed)
        return DataBundle(pretrain, info, tasks, describe=desc)
    looks = tuple(looks)
    if not looks or min(looks) <= 0:
        raise DataError(f"data.looks must be positive numbers, got {looks!r}")
    tasks: dict[str, Task] = {}
    pre = []
    for j, L in enumerate(looks):
        xtr, ytr = make_chips(n_train, L, seed=seed * 1000 + 10 * j + 1, size=chip)
        xte, yte = make_chips(n_test, L, seed=seed * 1000 + 10 * j + 2, size=chip)
        n_pre = n_pretrain // len(looks) + (1 if j < n_pretrain % len(looks) else 0)
        xpre, _ = make_chips(n_pre, L, seed=seed * 1000 + 10 * j + 3, size=chip)
        norm = lambda a: np.stack([normalize_chip(c, normalize) for c in a])  # noqa: E731
        name = f"L{L:g}"
        tasks[name] = Task(
            ChipDataset(norm(xtr), ytr),
            ChipDataset(norm(xte), yte),
            "multiclass",
            list(CLASSES),
            description=f"synthetic ATR, {len(CLASSES)} vehicle classes, Gamma speckle L={L:g}",
        )
        pre.append(norm(xpre))
    desc = (
        f"synthetic SAR ATR: {len(CLASSES)} classes, {chip}px chips, looks {', '.join(f'{L:g}' for L in looks)}; "
        f"{n_pretrain} pretraining chips, {n_train}/{n_test} train/test chips per L"
    )
    return DataBundle(ChipDataset(np.concatenate(pre)), info, tasks, describe=desc)
