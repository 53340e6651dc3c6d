"""Datasets and the domain loader: embedded synthetic ATR chips or a folder of SAR files.

A folder is read in one of three layouts:

* ``root/{train,test}/<class>/...``: the split is given (the MSTAR SOC layout, 17 deg
  train / 15 deg test, is one such);
* ``root/<class>/...``: one sub-folder per class, split into train/test at random,
  stratified by class (``test_fraction``);
* ``root/*`` files only: unlabelled, for pretraining.

Files are found recursively under each class folder. One unreadable file is reported
as a warning and skipped; a class folder without a single readable chip is an error
that gives the files' reasons. ``tile`` says what becomes of an image larger than the
chip: ``auto`` (default) cuts scenes at least twice the chip on both sides into
non-overlapping chips (every chip of a labelled scene takes the scene's class, and the
random train/test split keeps whole scenes on one side) and centre-crops the rest and
MSTAR target chips; ``always`` tiles every image at least one chip wide; ``never``
centre-crops every image to one chip. What was tiled, cropped, padded or left out is
told in one line. Scene pixels that are NaN or GDAL no-data leave their chip out.
Smaller images are padded to ``chip`` pixels. Every chip is divided by its mean
amplitude (``normalize="mean"``): the radiometric calibration of real SAR products
varies, and the ROA target is scale-free anyway, but pixel and HOG targets are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from jepakit.contract import DataBundle, Task
from jepakit.kit import DataError, Failures, notice, read_each, stratified_split

from .io import SCALES, fit_chip, is_candidate, read_image
from .synthetic import CLASSES, make_chips

SPLIT_NAMES = {"train": ("train", "training"), "test": ("test", "testing", "val", "validation")}
TILE_MODES = ("auto", "always", "never")


class ChipDataset(Dataset):
    """In-memory chips ``(n, 1, S, S)`` as batch dicts ``{"image": (1, S, S)}``, with
    ``"label"`` when labels are given; ``scenes`` (n,) says which file each chip was cut
    from (the numbering is the loader's)."""

    def __init__(self, images: np.ndarray | torch.Tensor, labels: Sequence[int] | None = None, scenes: Sequence[int] | None = None):
        self.images = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if self.images.dim() == 3:
            self.images = self.images[:, None]
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("images and labels differ in length")
        self.scenes = np.arange(len(self.images)) if scenes is None else np.asarray(scenes, dtype=np.int64)
        if len(self.scenes) != len(self.images):
            raise ValueError("images and scenes differ in length")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"image": self.images[i]}
        if self.labels is not None:
            item["label"] = self.labels[i]
            item["scene"] = int(self.scenes[i])  # the task's split_key: a scene stays on one side
        return item

    @property
    def ids(self) -> list[str]:
        """One id per chip (:mod:`jepakit.export`'s item-id protocol): ``scene<S>/chip<k>``,
        the ``k``-th chip cut from the loader's scene ``S``."""
        out, seen = [], {}
        for s in self.scenes.tolist():
            out.append(f"scene{s}/chip{seen.get(s, 0)}")
            seen[s] = seen.get(s, 0) + 1
        return out


def normalize_chip(a: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return a
    if mode == "mean":
        m = float(a.mean())
        return a / m if m > 0 else a
    raise DataError(f"unknown normalize mode {mode!r}; valid: mean, none")


@dataclass
class Tally:
    """What reading a set of files did: files skipped (with their messages), scenes
    tiled, images cropped or padded, and scene pixels left out."""

    chip: int
    failures: Failures = field(default_factory=Failures)
    scenes: int = 0
    scene_chips: int = 0
    scene_pixels: int = 0
    edge_pixels: int = 0
    missing_chips: int = 0
    cropped: int = 0
    cropped_pixels: int = 0
    cropped_lost: int = 0
    padded: int = 0

    def reasons(self) -> str:
        """The first failure in full, then a count per reason."""
        return self.failures.reasons("no image files")

    def summary(self) -> str | None:
        parts = []
        if self.scenes:
            s = "s" if self.scenes > 1 else ""
            text = f"{self.scenes} scene{s} -> {self.scene_chips} chips of {self.chip}px"
            lost = []
            if self.edge_pixels:
                lost.append(f"edge strips narrower than a chip ({100 * self.edge_pixels / self.scene_pixels:.1f} % of the scene pixels) left out")
            if self.missing_chips:
                lost.append(f"{self.missing_chips} chip(s) with NaN/no-data pixels left out")
            parts.append(text + (f" ({'; '.join(lost)})" if lost else ""))
        if self.cropped:
            parts.append(
                f"{self.cropped} image(s) larger than {self.chip}px centre-cropped to one chip "
                f"({100 * self.cropped_lost / self.cropped_pixels:.0f} % of their pixels unused; data.tile=always tiles them)"
            )
        if self.padded:
            parts.append(f"{self.padded} image(s) smaller than {self.chip}px padded by reflection")
        return "; ".join(parts) or None

    def short(self) -> str:
        """The gist of :meth:`summary` for a dataset description."""
        parts = [f"{self.scenes} scene{'s' if self.scenes != 1 else ''} -> {self.scene_chips} chips"] if self.scenes else []
        if self.cropped:
            parts.append(f"{self.cropped} centre-cropped")
        if self.padded:
            parts.append(f"{self.padded} padded")
        return ", ".join(parts)


def _chips_of(img, chip: int, tile: str, tally: Tally, path: Path) -> list[np.ndarray]:
    """The chips of one image (see the module doc for ``tile``)."""
    a = img.amplitude
    h, w = a.shape
    if tile == "always":
        cut = h >= chip and w >= chip
    elif tile == "auto":
        cut = h >= 2 * chip and w >= 2 * chip and not img.target_chip
    else:
        cut = False
    if cut:
        parts = [a[i : i + chip, j : j + chip] for i in range(0, h - chip + 1, chip) for j in range(0, w - chip + 1, chip)]
        good = [np.ascontiguousarray(p, dtype=np.float32) for p in parts if not np.isnan(p).any()]
        tally.scene_pixels += h * w
        tally.edge_pixels += h * w - len(parts) * chip * chip
        tally.missing_chips += len(parts) - len(good)
        if not good:
            raise DataError(f"{path}: every {chip}px chip of the scene holds NaN or no-data pixels")
        tally.scenes += 1
        tally.scene_chips += len(good)
        return good
    if img.missing:
        raise DataError(f"{path}: {img.missing} NaN, infinite or no-data pixel(s) in an image read as one chip")
    if h > chip or w > chip:
        tally.cropped += 1
        tally.cropped_pixels += h * w
        tally.cropped_lost += h * w - min(h, chip) * min(w, chip)
    if h < chip or w < chip:
        tally.padded += 1
    return [fit_chip(a, chip)]


def _read_many(
    files: list[Path], chip: int, scale: str, band: int | None, normalize: str, tile: str, tally: Tally
) -> tuple[list[np.ndarray], list[int]]:
    """Chips of ``files`` and, for each chip, the index of its file in ``files``."""
    def chips(kf: tuple[int, Path]) -> list[np.ndarray]:
        f = kf[1]
        return _chips_of(read_image(f, scale=scale, band=band, allow_missing=tile != "never"), chip, tile, tally, f)

    out, scene = [], []
    for (k, _), parts in read_each(enumerate(files), chips, tally.failures, source=lambda kf: kf[1]):
        out.extend(normalize_chip(p, normalize) for p in parts)
        scene.extend([k] * len(parts))
    return out, scene


def _tell_unused(root: Path, unused: list[Path], why: str) -> None:
    if unused:
        names = ", ".join(str(p.relative_to(root)) for p in unused[:3]) + (f" and {len(unused) - 3} more" if len(unused) > 3 else "")
        notice(f"{root}: {len(unused)} path(s) not used ({why}): {names}")


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_candidate(p))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _find_split(root: Path, split: str) -> Path | None:
    for d in _subdirs(root):
        if d.name.lower() in SPLIT_NAMES[split]:
            return d
    return None


def _read_classes(
    split_dir: Path, classes: list[str], chip: int, scale: str, band: int | None, normalize: str, tile: str, tally: Tally,
    first_scene: int = 0,
):
    """Chips, their labels and their scene (file) numbers, counted from ``first_scene``."""
    images, labels, scenes = [], [], []
    n_files = first_scene
    for k, name in enumerate(classes):
        folder = split_dir / name
        files = _files_under(folder) if folder.is_dir() else []
        before = len(tally.failures)
        chips, scene = _read_many(files, chip, scale, band, normalize, tile, tally)
        if not chips:
            here = Failures()
            here.items = tally.failures.items[before:]
            reasons = here.reasons("no image files") if files else "no image files"
            raise DataError(f"{folder}: class folder has no readable SAR chips: {reasons}")
        images.extend(chips)
        labels.extend([k] * len(chips))
        scenes.extend(n_files + s for s in scene)
        n_files += len(files)
    return np.stack(images), np.asarray(labels, dtype=np.int64), np.asarray(scenes, dtype=np.int64)


def load_folder(
    path: str | Path,
    chip: int = 64,
    scale: str = "amplitude",
    band: int | None = None,
    normalize: str = "mean",
    test_fraction: float = 0.3,
    seed: int = 0,
    tile: str = "auto",
) -> tuple[ChipDataset, dict[str, Task], str]:
    """Read a file or folder of SAR data; returns the pretraining set, tasks and a description."""
    root = Path(path)
    if scale not in SCALES:
        raise DataError(f"{root}: unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    if tile not in TILE_MODES:
        raise DataError(f"{root}: unknown data.tile {tile!r}; valid: {', '.join(TILE_MODES)}")
    tally = Tally(chip)

    def told(text: str) -> str:
        summary = tally.summary()
        if summary:
            notice(f"{root}: {summary}")
        return text + (f"; {tally.short()}" if tally.short() else "")

    if root.is_file() or (root.is_dir() and not _subdirs(root)):
        files = [root] if root.is_file() else _files_under(root)
        chips, scene = _read_many(files, chip, scale, band, normalize, tile, tally)
        if not chips:
            what = "no readable SAR image" if root.is_file() else f"no readable SAR images among its {len(files)} files"
            raise DataError(f"{root}: {what}: {tally.reasons()}" if tally.failures else f"{root}: no readable SAR images (no image files)")
        desc = told(f"{len(chips)} unlabelled {chip}px chips from {root}")
        return ChipDataset(np.stack(chips), scenes=scene), {}, desc
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
        _tell_unused(root, [d for d in _subdirs(test_dir) if d.name not in classes], f"test classes without a folder in {train_dir.name}")
        _tell_unused(root, [d for d in _subdirs(root) if d not in (train_dir, test_dir)], "neither the train nor the test folder")
        _tell_unused(root, [p for d in (root, train_dir, test_dir) for p in sorted(d.iterdir()) if is_candidate(p)], "files outside the class folders")
        xtr, ytr, str_ = _read_classes(train_dir, classes, chip, scale, band, normalize, tile, tally)
        xte, yte, ste = _read_classes(test_dir, classes, chip, scale, band, normalize, tile, tally, first_scene=int(str_.max()) + 1)
    else:
        classes = [d.name for d in _subdirs(root)]
        _tell_unused(root, [p for p in sorted(root.iterdir()) if is_candidate(p)], "files outside the class folders")
        x, y, sc = _read_classes(root, classes, chip, scale, band, normalize, tile, tally)
        tr, te = stratified_split(y, test_fraction, seed, groups=sc)  # whole scenes on one side
        xtr, ytr, str_, xte, yte, ste = x[tr], y[tr], sc[tr], x[te], y[te], sc[te]
    task = Task(
        ChipDataset(xtr, ytr, str_),
        ChipDataset(xte, yte, ste),
        "multiclass",
        classes,
        description=f"{len(classes)}-class target recognition on {root.name}",
        split_key="scene",  # a validation split keeps each scene's chips together
    )
    n_tr, n_te = len(np.unique(str_)), len(np.unique(ste))
    scenes = f" ({n_tr}/{n_te} files, split by file)" if tally.scenes else ""
    desc = told(f"{len(xtr)} train / {len(xte)} test {chip}px chips{scenes}, {len(classes)} classes, from {root}")
    return ChipDataset(xtr, scenes=str_), {"atr": task}, desc


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
    tile: str = "auto",
) -> DataBundle:
    """The SAR domain's loader. ``path=None``: the synthetic ATR set, one task per
    number of looks (``L1``, ``L2``, ``L4``) and pretraining chips drawn evenly from all
    of them; otherwise a file or folder (see the module doc; ``tile``: auto, always or
    never, what becomes of images larger than the chip)."""
    if chip % patch:
        raise DataError(f"data.chip={chip} is not a multiple of data.patch={patch}")
    info = {"img_size": chip, "patch": patch, "in_chans": 1}
    if path is not None:
        pretrain, tasks, desc = load_folder(path, chip, scale, band, normalize, test_fraction, seed, tile)
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
