"""Frozen-feature evaluation: embeddings, scikit-learn probes, label efficiency, and the
probed architecture with a linear head that :mod:`jepakit.finetune` trains end to end
(the supervised-from-scratch reference and the fine-tune row)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import default_collate

from .contract import DataBundle, GroupedDataset, HasLabels, LabelledDataset, Task
from .devices import to_device
from .errors import ConfigError, DataError, check
from .model import Backbone
from .rankme import rankme as rankme  # re-exported: jepakit.evaluate.rankme predates its own module
from .task_kinds import PRIMARY as PRIMARY  # re-exported: the benchmarks read evaluate.PRIMARY
from .task_kinds import task_kind


def _lacks(dataset: Any, task: str | None, what: str, see: str = "LabelledDataset") -> DataError:
    who = f"task {task!r}" if task else "a task"
    return DataError(f"{who}: its dataset {type(dataset).__name__} {what} (see jepakit.contract.{see})")


def _item_value(dataset: Any, i: int, key: str, task: str | None, attribute: str | None) -> Any:
    item = dataset[i]
    if not isinstance(item, Mapping) or key not in item:
        raise _no_key(dataset, item, i, key, task, attribute)
    return item[key]


def _no_key(dataset: Any, item: Any, i: int, key: str, task: str | None, attribute: str | None) -> DataError:
    has = f"keys: {', '.join(map(str, item))}" if isinstance(item, Mapping) else f"a {type(item).__name__}"
    what = f"has no {attribute!r} and its item {i} has no {key!r} key" if attribute else f"has no {key!r} key in its item {i}"
    return _lacks(dataset, task, f"{what} ({has})", "GroupedDataset" if attribute == "groups" else "LabelledDataset")


def labels_of(dataset: Any, task: str | None = None) -> np.ndarray:
    """All labels of a task split: ``dataset.labels`` where the dataset exposes them
    (:class:`~jepakit.contract.HasLabels`), else every item's ``label``
    (:class:`~jepakit.contract.LabelledDataset`). A dataset with neither is a one-line
    :class:`DataError` naming ``task``."""
    labels = dataset.labels if isinstance(dataset, HasLabels) else None
    if labels is not None:
        return np.asarray(labels)
    if not isinstance(dataset, LabelledDataset):
        raise _lacks(dataset, task, "has no 'labels' and no items (len and [i])")
    return np.stack([np.asarray(_item_value(dataset, i, "label", task, "labels")) for i in range(len(dataset))])


def groups_of(dataset: Any, key: str | None, attribute: bool = True, task: str | None = None) -> np.ndarray | None:
    """The value of item key ``key`` for every item (a dataset's ``groups``,
    :class:`~jepakit.contract.GroupedDataset`, stands for its ``group_key`` where
    ``attribute``). An item without ``key`` is a one-line :class:`DataError` naming
    ``task``."""
    if key is None:
        return None
    groups = dataset.groups if attribute and isinstance(dataset, GroupedDataset) else None
    if groups is not None:
        return np.asarray(groups)
    if not isinstance(dataset, LabelledDataset):
        raise _lacks(dataset, task, "has no 'groups' and no items (len and [i])")
    where = "groups" if attribute else None
    return np.asarray([np.asarray(_item_value(dataset, i, key, task, where)).item() for i in range(len(dataset))])


@torch.no_grad()
def embed(
    backbone: Backbone, dataset: Any, pool: str = "mean", batch_size: int = 64, collate: Callable | None = None,
    device: torch.device | str = "cpu", task: str | None = None, segment: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Frozen embeddings and labels of every item: ``(n, D)`` (``pool="mean"``) or
    ``(n, N, D)`` (``pool="tokens"``), of one segment's tokens alone with ``segment``.
    Items without a ``label`` are a one-line :class:`DataError` naming ``task``."""
    collate = collate or default_collate
    was = backbone.training
    backbone.eval()
    zs, ys = [], []
    for i in range(0, len(dataset), batch_size):
        items = [dataset[j] for j in range(i, min(len(dataset), i + batch_size))]
        batch = collate(items)
        if not isinstance(batch, Mapping) or "label" not in batch:
            raise _no_key(dataset, items[0], i, "label", task, None)
        ys.append(np.asarray(batch["label"].cpu() if torch.is_tensor(batch["label"]) else batch["label"]))
        zs.append(backbone.embed(to_device(batch, torch.device(device)), pool, segment).float().cpu().numpy())
    backbone.train(was)
    if not zs:
        raise DataError("cannot embed an empty dataset")
    return np.concatenate(zs), np.concatenate(ys)


def item_embeddings(
    backbone: Backbone, dataset: Any, indices: Sequence[int], pool: str = "mean", batch_size: int = 64,
    collate: Callable | None = None, device: torch.device | str = "cpu",
) -> np.ndarray:
    """Frozen pooled embeddings ``(n, D)`` of items ``indices`` of ``dataset``, which need no
    labels (RankMe of unlabelled items)."""
    collate = collate or default_collate
    was = backbone.training
    backbone.eval()
    zs = []
    try:
        with torch.no_grad():
            for i in range(0, len(indices), batch_size):
                batch = collate([dataset[int(j)] for j in indices[i : i + batch_size]])
                zs.append(backbone.embed(to_device(batch, torch.device(device)), pool).float().cpu().numpy())
    finally:
        backbone.train(was)
    if not zs:
        raise DataError("cannot embed an empty dataset")
    return np.concatenate(zs)


def group_average(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Average features (or scores) of items that share a group; label = first item's."""
    if groups is None:
        return x, y, None
    uniq, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(uniq), *x.shape[1:]), dtype=np.float64)
    np.add.at(sums, inverse, x)
    counts = np.bincount(inverse, minlength=len(uniq)).reshape(-1, *([1] * (x.ndim - 1)))
    first = np.zeros(len(uniq), dtype=int)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    return (sums / counts).astype(np.float32), y[first], uniq


def subset_indices(y: np.ndarray, kind: str, fraction: float, seed: int) -> np.ndarray:
    """A label fraction of the training items, stratified so each class keeps at least
    one example (classification), drawn reproducibly from ``seed``."""
    n = len(y)
    rng = np.random.default_rng(seed)
    if fraction >= 1.0:
        return np.arange(n)
    k = max(1, int(round(fraction * n)))
    return task_kind(kind).draw(y, k, rng)


# --------------------------------------------------------------------------- probes


def _head(head: str, regression: bool, seed: int, knn_k: int, max_iter: int, n_train: int):
    """A scikit-learn probe on standardised features: ``linear`` (logistic / ridge),
    ``knn`` (distance-weighted) or ``mlp`` (one hidden layer of 256)."""
    from sklearn import compose, linear_model, neighbors, neural_network
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if head == "linear":
        # few labels: stronger L2 keeps the logistic probe from memorising them. Ridge
        # alphas go up to 1e5 because wide (flat-pooled) embeddings on a few dozen labels
        # need them, and there 5-fold CV replaces leave-one-out GCV, which picked alpha 3 on
        # one 31-row diabetes draw (R2 -0.69; 5-fold: alpha 1e3, R2 0.31)
        small = n_train < 200
        if regression:
            model = linear_model.RidgeCV(alphas=np.logspace(-3, 5, 17), cv=min(5, n_train) if small and n_train >= 3 else None)
        else:
            model = linear_model.LogisticRegression(max_iter=max_iter, C=0.1 if small else 1.0)
    elif head == "knn":
        # at most a fifth of the labelled items as neighbours: with 25 labels, k=20 voted
        # with nearly every labelled item and so mostly with the class prior
        cls = neighbors.KNeighborsRegressor if regression else neighbors.KNeighborsClassifier
        model = cls(n_neighbors=max(1, min(knn_k, n_train // 5)), weights="distance")
    elif head == "mlp":
        # few labels: a 10 % early-stopping split of them is too small to stop on (it
        # stopped digits at 10 % labels at 0.67 accuracy on raw pixels), so small sets train
        # to convergence under a stronger L2 instead (raw-column accuracy measured on the
        # tabular defaults at 10 %: breast_cancer .927 -> .935, digits .669 -> .906)
        cls = neural_network.MLPRegressor if regression else neural_network.MLPClassifier
        model = cls(hidden_layer_sizes=(256,), alpha=1e-3 if n_train >= 1000 else 1.0, max_iter=max_iter // 4,
                    early_stopping=n_train >= 1000, random_state=seed)
        if regression:  # unit-scale targets: the MLP's initialisation and L2 assume them
            model = compose.TransformedTargetRegressor(model, transformer=StandardScaler())
    else:
        raise ConfigError(f"unknown eval head {head!r}; valid: knn, linear, mlp")
    return make_pipeline(StandardScaler(), model)


def fit_predict(
    head: str, kind: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, n_classes: int | None, seed: int = 0,
    knn_k: int = 20, max_iter: int = 2000, max_tokens: int = 20000,
) -> np.ndarray:
    """Fit a probe on (x_tr, y_tr) and return its predictions for x_te in the form
    :func:`score` expects."""
    spec = task_kind(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.probe(
            lambda regression, n_train: _head(head, regression, seed, knn_k, max_iter, n_train), x_tr, y_tr, x_te, n_classes, seed,
            max_tokens,
        )


def score(kind: str, y: np.ndarray, pred: np.ndarray, n_classes: int | None = None) -> dict[str, float]:
    """Metrics of predictions ``pred`` against labels ``y`` for a task kind."""
    spec = task_kind(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.score(y, np.asarray(pred), n_classes)


def n_classes_of(task: Task, y: np.ndarray) -> int | None:
    spec = task_kind(task.kind)
    if spec.continuous:
        return None
    if task.classes is not None:
        return len(task.classes)
    return spec.count_classes(y)


def n_classes_in(task: Task, y_train: np.ndarray, y_test: np.ndarray) -> int | None:
    """:func:`n_classes_of` over the labels the task's kind counts classes in: training and
    test labels for multiclass (a class seen only in test still gets a column), training
    labels for the others."""
    counted = np.concatenate([y_train, y_test]) if task_kind(task.kind).classes_from_all_labels else y_train
    return n_classes_of(task, counted)


@dataclass
class Features:
    """Embeddings of a task's splits, grouped where the task asks for it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def task_features(
    backbone: Backbone, task: Task, ecfg: Mapping[str, Any], collate: Callable | None, device: Any, name: str | None = None,
) -> Features:
    """Embeddings of the task's splits; ``name`` (the task's) is named in the one-line
    error about a dataset without labels or groups."""
    pool = "tokens" if task_kind(task.kind).per_token else ecfg["pool"]
    x_tr, y_tr = embed(backbone, task.train, pool, ecfg["batch_size"], collate, device, name, task.segment)
    x_te, y_te = embed(backbone, task.test, pool, ecfg["batch_size"], collate, device, name, task.segment)
    x_tr, y_tr, _ = group_average(x_tr, y_tr, groups_of(task.train, task.group_key, task=name))
    x_te, y_te, _ = group_average(x_te, y_te, groups_of(task.test, task.group_key, task=name))
    return Features(x_tr, y_tr, x_te, y_te)


def label_efficiency(
    feats: Features, task: Task, heads: Sequence[str], fractions: Sequence[float], seeds: int, ecfg: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Probe scores per head, label fraction and seed."""
    n_classes = n_classes_in(task, feats.y_train, feats.y_test)
    rows = []
    for head in heads:
        for frac in fractions:
            for seed in range(seeds):
                idx = subset_indices(feats.y_train, task.kind, frac, seed)
                pred = fit_predict(
                    head, task.kind, feats.x_train[idx], feats.y_train[idx], feats.x_test, n_classes, seed,
                    ecfg["knn_k"], ecfg["max_iter"], ecfg["max_tokens"],
                )
                rows.append({"head": head, "fraction": frac, "seed": seed, "n_labels": int(len(idx)), **score(task.kind, feats.y_test, pred, n_classes)})
    return rows


# ------------------------------------------------------------------ supervised reference


class _Supervised(nn.Module):
    """The probed architecture trained end to end: the backbone, the probes' pooling and
    a linear head, so that supervised and probe see features of the same form."""

    def __init__(self, backbone: Backbone, kind: str, out: int, pool: str = "mean", segment: str | None = None):
        super().__init__()
        self.backbone, self.kind, self.segment = backbone, kind, segment
        self.pool = "tokens" if task_kind(kind).per_token else pool
        self.head = nn.Linear(backbone.pooled_dim(self.pool, segment), out)

    def forward(self, batch):
        return self.head(self.backbone.embed(batch, self.pool, self.segment))


class ItemSubset:
    """Items ``indices`` of a dataset, with its ``labels`` and ``groups`` subset too."""

    def __init__(self, dataset: Any, indices: Sequence[int], group_key: str | None = None):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=int)
        self._key = group_key

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self.indices[i])]

    @property
    def labels(self) -> np.ndarray:
        return labels_of(self.dataset)[self.indices]

    @property
    def groups(self) -> np.ndarray | None:
        g = groups_of(self.dataset, self._key)
        return None if g is None else g[self.indices]


def validation_task(task: Task, fraction: float = 0.3, seed: int = 0) -> Task:
    """The task with its *training* items split in two: probes fit on the rest and are
    scored on ``fraction`` of them (whole groups: all windows of a record on one side).
    Choosing recipes and hyper-parameters on this split leaves the test split unseen."""
    check(0.0 < fraction < 1.0, f"validation fraction must be in (0, 1), got {fraction}")
    # whole scenes (split_key) or whole records (group_key) on one side
    groups = groups_of(task.train, task.split_key or task.group_key, attribute=task.split_key is None)
    units = np.arange(len(task.train)) if groups is None else np.unique(groups)
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(units)[: max(1, int(round(fraction * len(units))))].tolist())
    keys = np.arange(len(task.train)) if groups is None else groups
    val = np.array([k in held for k in keys.tolist()])
    if val.all() or not val.any():
        raise DataError(f"task has too few training items ({len(task.train)}) for a validation split")
    return Task(
        ItemSubset(task.train, np.flatnonzero(~val), task.group_key), ItemSubset(task.train, np.flatnonzero(val), task.group_key),
        task.kind, task.classes, task.group_key, (task.description + " " if task.description else "") + "(validation split of the training items)",
        task.split_key,
    )


def group_items(task: Task, split: str = "train") -> list[np.ndarray] | None:
    """For grouped tasks: the item indices of each group, in group order."""
    groups = groups_of(getattr(task, split), task.group_key)
    if groups is None:
        return None
    uniq, inverse = np.unique(groups, return_inverse=True)
    return [np.flatnonzero(inverse == g) for g in range(len(uniq))]


def with_split(bundle: DataBundle, split: str) -> DataBundle:
    """``bundle`` with its tasks as benchmarked: unchanged for ``test``; for ``validation``
    each task's training items split into probe-training and validation items."""
    if split == "test":
        return bundle
    return dataclasses.replace(bundle, tasks={k: validation_task(t) for k, t in bundle.tasks.items()})
