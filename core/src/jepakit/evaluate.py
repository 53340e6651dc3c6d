"""Frozen-feature evaluation: embeddings, scikit-learn probes, RankMe, label efficiency,
and the supervised-from-scratch reference with the same architecture."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import default_collate

from .contract import Task
from .errors import ConfigError, DataError, check
from .model import Backbone


def rankme(z: torch.Tensor | np.ndarray, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): ``exp(-sum p log p)`` with ``p = s / ||s||_1 + eps``
    over the singular values ``s`` of the embedding matrix ``z`` (N, D)."""
    z = torch.as_tensor(z)
    check(z.ndim == 2, f"rankme expects (N, D), got {tuple(z.shape)}")
    s = torch.linalg.svdvals(z.double())
    p = s / s.sum().clamp_min(1e-300) + eps
    return float(math.exp(float(-(p * p.log()).sum())))


def labels_of(dataset: Any) -> np.ndarray:
    """All labels of a task split (uses ``dataset.labels`` when the dataset has it)."""
    if hasattr(dataset, "labels"):
        return np.asarray(dataset.labels)
    return np.stack([np.asarray(dataset[i]["label"]) for i in range(len(dataset))])


def groups_of(dataset: Any, key: str | None, attribute: bool = True) -> np.ndarray | None:
    """The value of item key ``key`` for every item (a dataset's ``groups`` array stands
    for its ``group_key`` where ``attribute``)."""
    if key is None:
        return None
    if attribute and hasattr(dataset, "groups"):
        return np.asarray(dataset.groups)
    return np.asarray([np.asarray(dataset[i][key]).item() for i in range(len(dataset))])


@torch.no_grad()
def embed(
    backbone: Backbone, dataset: Any, pool: str = "mean", batch_size: int = 64, collate: Callable | None = None,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Frozen embeddings and labels of every item: ``(n, D)`` (``pool="mean"``) or
    ``(n, N, D)`` (``pool="tokens"``)."""
    from .train import to_device

    collate = collate or default_collate
    was = backbone.training
    backbone.eval()
    zs, ys = [], []
    for i in range(0, len(dataset), batch_size):
        batch = collate([dataset[j] for j in range(i, min(len(dataset), i + batch_size))])
        ys.append(np.asarray(batch["label"].cpu() if torch.is_tensor(batch["label"]) else batch["label"]))
        zs.append(backbone.embed(to_device(batch, torch.device(device)), pool).float().cpu().numpy())
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
    from .train import to_device

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
    if kind == "multiclass":
        classes = np.unique(y)
        picked = [rng.choice(np.flatnonzero(y == c)) for c in classes]
        rest = np.setdiff1d(np.arange(n), picked)
        extra = rng.choice(rest, size=max(0, min(len(rest), k - len(picked))), replace=False)
        return np.sort(np.concatenate([picked, extra]).astype(int))
    if kind == "multilabel":
        picked = []
        for c in range(y.shape[1]):
            pos = np.flatnonzero(y[:, c] > 0.5)
            if len(pos):
                picked.append(rng.choice(pos))
        rest = np.setdiff1d(np.arange(n), picked)
        extra = rng.choice(rest, size=max(0, min(len(rest), k - len(set(picked)))), replace=False)
        return np.sort(np.unique(np.concatenate([np.asarray(picked, dtype=int), extra.astype(int)])))
    return np.sort(rng.choice(n, size=max(2, k), replace=False))


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


def _full_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    p = model.predict_proba(x)
    out = np.zeros((len(x), n_classes), dtype=np.float64)
    out[:, np.asarray(model.classes_, dtype=int)] = p
    return out


def fit_predict(
    head: str, kind: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, n_classes: int | None, seed: int = 0,
    knn_k: int = 20, max_iter: int = 2000, max_tokens: int = 20000,
) -> np.ndarray:
    """Fit a probe on (x_tr, y_tr) and return its predictions for x_te in the form
    :func:`score` expects."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "regression":
            model = _head(head, True, seed, knn_k, max_iter, len(x_tr)).fit(x_tr, y_tr)
            return model.predict(x_te)
        if kind == "multiclass":
            if len(np.unique(y_tr)) < 2:
                return np.tile(np.eye(n_classes)[int(y_tr[0])], (len(x_te), 1))
            model = _head(head, False, seed, knn_k, max_iter, len(x_tr)).fit(x_tr, y_tr.astype(int))
            return _full_proba(model, x_te, n_classes)
        if kind == "multilabel":
            cols = []
            for c in range(y_tr.shape[1]):
                yc = (y_tr[:, c] > 0.5).astype(int)
                if yc.min() == yc.max():
                    cols.append(np.full(len(x_te), float(yc[0])))
                    continue
                model = _head(head, False, seed, knn_k, max_iter, len(x_tr)).fit(x_tr, yc)
                cols.append(_full_proba(model, x_te, 2)[:, 1])
            return np.stack(cols, axis=1)
        if kind == "token_multiclass":
            d = x_tr.shape[-1]
            xf, yf = x_tr.reshape(-1, d), y_tr.reshape(-1)
            keep = np.flatnonzero(yf >= 0)
            rng = np.random.default_rng(seed)
            if len(keep) > max_tokens:
                keep = rng.choice(keep, max_tokens, replace=False)
            xf, yf = xf[keep], yf[keep].astype(int)
            if len(np.unique(yf)) < 2:
                out = np.zeros((*x_te.shape[:2], n_classes))
                out[..., int(yf[0]) if len(yf) else 0] = 1
                return out
            model = _head(head, False, seed, knn_k, max_iter, len(xf)).fit(xf, yf)
            return _full_proba(model, x_te.reshape(-1, d), n_classes).reshape(*x_te.shape[:2], n_classes)
    raise ConfigError(f"unknown task kind {kind!r}; valid: multiclass, multilabel, regression, token_multiclass")


PRIMARY = {"multiclass": "accuracy", "multilabel": "macro_auc", "regression": "r2", "token_multiclass": "miou"}


def score(kind: str, y: np.ndarray, pred: np.ndarray, n_classes: int | None = None) -> dict[str, float]:
    """Metrics of predictions ``pred`` against labels ``y`` for a task kind."""
    from sklearn import metrics as skm

    pred = np.asarray(pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "regression":
            pred = pred.reshape(-1)
            return {"rmse": float(np.sqrt(skm.mean_squared_error(y, pred))), "r2": float(skm.r2_score(y, pred))}
        if kind == "multiclass":
            y = y.astype(int)
            hat = pred.argmax(1)
            out = {
                "accuracy": float(skm.accuracy_score(y, hat)),
                "balanced_accuracy": float(skm.balanced_accuracy_score(y, hat)),
                "macro_f1": float(skm.f1_score(y, hat, average="macro")),
            }
            present = np.unique(y)
            try:
                if pred.shape[1] == 2 and len(present) == 2:
                    out["auc"] = float(skm.roc_auc_score(y, pred[:, 1]))
                elif len(present) == pred.shape[1]:
                    p = pred / np.clip(pred.sum(1, keepdims=True), 1e-12, None)
                    out["auc"] = float(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
            except ValueError:
                pass
            return out
        if kind == "multilabel":
            # a class without a positive (or without a negative) test item has no AUC: the
            # macro average covers the others, and says how many (report.caveats)
            aucs = [
                skm.roc_auc_score(y[:, c] > 0.5, pred[:, c])
                for c in range(y.shape[1])
                if 0 < (y[:, c] > 0.5).sum() < len(y)
            ]
            return {
                "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
                "auc_classes_scored": float(len(aucs)), "auc_classes": float(y.shape[1]),
            }
        if kind == "token_multiclass":
            yt = y.reshape(-1).astype(int)
            hat = pred.reshape(-1, pred.shape[-1]).argmax(1)
            keep = yt >= 0
            yt, hat = yt[keep], hat[keep]
            c = n_classes or pred.shape[-1]
            ious = {}
            for k in range(c):
                union = np.sum((yt == k) | (hat == k))
                if np.sum(yt == k) > 0:
                    ious[k] = float(np.sum((yt == k) & (hat == k)) / union)
            out = {"miou": float(np.mean(list(ious.values()))) if ious else float("nan"), "accuracy": float(np.mean(yt == hat))}
            out.update({f"iou_{k}": v for k, v in ious.items()})
            return out
    raise ConfigError(f"unknown task kind {kind!r}")


def n_classes_of(task: Task, y: np.ndarray) -> int | None:
    if task.kind == "regression":
        return None
    if task.classes is not None:
        return len(task.classes)
    if task.kind == "multilabel":
        return y.shape[1]
    return int(np.max(y)) + 1


@dataclass
class Features:
    """Embeddings of a task's splits, grouped where the task asks for it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def task_features(backbone: Backbone, task: Task, ecfg: Mapping[str, Any], collate: Callable | None, device: Any) -> Features:
    pool = "tokens" if task.kind == "token_multiclass" else ecfg["pool"]
    x_tr, y_tr = embed(backbone, task.train, pool, ecfg["batch_size"], collate, device)
    x_te, y_te = embed(backbone, task.test, pool, ecfg["batch_size"], collate, device)
    x_tr, y_tr, _ = group_average(x_tr, y_tr, groups_of(task.train, task.group_key))
    x_te, y_te, _ = group_average(x_te, y_te, groups_of(task.test, task.group_key))
    return Features(x_tr, y_tr, x_te, y_te)


def label_efficiency(
    feats: Features, task: Task, heads: Sequence[str], fractions: Sequence[float], seeds: int, ecfg: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Probe scores per head, label fraction and seed."""
    n_classes = n_classes_of(task, np.concatenate([feats.y_train, feats.y_test]) if task.kind == "multiclass" else feats.y_train)
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

    def __init__(self, backbone: Backbone, kind: str, out: int, pool: str = "mean"):
        super().__init__()
        self.backbone, self.kind = backbone, kind
        self.pool = "tokens" if kind == "token_multiclass" else pool
        self.head = nn.Linear(backbone.pooled_dim(self.pool), out)

    def forward(self, batch):
        return self.head(self.backbone.embed(batch, self.pool))


def supervised_scores(
    make_backbone: Callable[[], Backbone], task: Task, train_idx: np.ndarray, ecfg: Mapping[str, Any], collate: Callable | None,
    device: Any, seed: int, n_classes: int | None, pretrained: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Train the probed architecture end to end on the labelled items ``train_idx`` (item
    indices, every window of a grouped record included) and return (test predictions,
    test labels), grouped like the probes. ``make_backbone`` builds its backbone: a fresh
    one (from scratch; seeded with ``seed``) or a copy of a pretrained encoder with
    ``pretrained=True`` (the fine-tune row: ``eval.ft_lr`` and ``eval.layer_decay``).
    Both run :func:`jepakit.finetune.fit`, one loop with one budget."""
    from .finetune import FitSettings, fit_scores

    torch.manual_seed(seed)
    pred, y, _ = fit_scores(make_backbone(), task, train_idx, FitSettings.of(ecfg, pretrained), collate, device, seed, n_classes)
    return pred, y


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
