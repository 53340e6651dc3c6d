"""What differs between the task kinds (:data:`jepakit.contract.TaskKind`), in one table.

A kind decides how labelled items are drawn for a label fraction, how a probe is fitted
and what it predicts, how predictions are scored and which metric leads, and, for the
supervised and fine-tuned models, the head's loss and how its outputs become
predictions. Probing (:mod:`jepakit.evaluate`), fine-tuning (:mod:`jepakit.finetune`),
the benchmark and its report read :data:`TASK_KINDS` instead of each asking ``kind ==``;
a new kind is one more :class:`KindSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError

# make_head(regression, n_train) -> an unfitted scikit-learn probe (evaluate._head, with the
# run's head name, seed and budgets bound)
MakeHead = Callable[[bool, int], Any]


@dataclass(frozen=True)
class KindSpec:
    """How one task kind is drawn, probed, scored and trained."""

    name: str
    primary: str  # the metric the tables, plots, the sweep's probe and early stopping read first
    # draw(y, k, rng): k (or a few more) labelled items of the training labels y, sorted
    draw: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
    # probe(make_head, x_train, y_train, x_test, n_classes, seed, max_tokens): predictions
    # for x_test in the form score takes
    probe: Callable[..., np.ndarray]
    score: Callable[[np.ndarray, np.ndarray, int | None], dict[str, float]]  # (y, pred, n_classes)
    # loss(logits, y, outputs, y_mean, y_std) of the supervised head
    loss: Callable[[torch.Tensor, torch.Tensor, int, float, float], torch.Tensor]
    # predict(logits, y_mean, y_std): the head's outputs (on the CPU) as score takes them
    predict: Callable[[torch.Tensor, float, float], np.ndarray]
    count_classes: Callable[[np.ndarray], int | None]  # classes in labels y when the task names none
    stratified: bool = False  # draw keeps at least one item of each class (the report says so)
    continuous: bool = False  # one output, no classes; the head learns standardised targets
    per_token: bool = False  # a label per grid token: embeddings are pooled per token ("tokens")
    classes_from_all_labels: bool = False  # classes counted over training and test labels (a class seen only in test)
    hold_out_keeps_classes: bool = False  # early stopping's hold-out leaves each class's last unit in training


# ------------------------------------------------------------------ drawing labelled items


def _draw_any(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(len(y), size=max(2, k), replace=False))


def _draw_per_class(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    picked = [rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)]
    rest = np.setdiff1d(np.arange(n), picked)
    extra = rng.choice(rest, size=max(0, min(len(rest), k - len(picked))), replace=False)
    return np.sort(np.concatenate([picked, extra]).astype(int))


def _draw_per_label(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    picked = []
    for c in range(y.shape[1]):
        pos = np.flatnonzero(y[:, c] > 0.5)
        if len(pos):
            picked.append(rng.choice(pos))
    rest = np.setdiff1d(np.arange(n), picked)
    extra = rng.choice(rest, size=max(0, min(len(rest), k - len(set(picked)))), replace=False)
    return np.sort(np.unique(np.concatenate([np.asarray(picked, dtype=int), extra.astype(int)])))


# ------------------------------------------------------------------ probes


def _full_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities over all ``n_classes``, zero for a class the probe never saw."""
    p = model.predict_proba(x)
    out = np.zeros((len(x), n_classes), dtype=np.float64)
    out[:, np.asarray(model.classes_, dtype=int)] = p
    return out


def _probe_regression(make: MakeHead, x_tr, y_tr, x_te, n_classes, seed, max_tokens) -> np.ndarray:
    return make(True, len(x_tr)).fit(x_tr, y_tr).predict(x_te)


def _probe_multiclass(make: MakeHead, x_tr, y_tr, x_te, n_classes, seed, max_tokens) -> np.ndarray:
    if len(np.unique(y_tr)) < 2:
        return np.tile(np.eye(n_classes)[int(y_tr[0])], (len(x_te), 1))
    return _full_proba(make(False, len(x_tr)).fit(x_tr, y_tr.astype(int)), x_te, n_classes)


def _probe_multilabel(make: MakeHead, x_tr, y_tr, x_te, n_classes, seed, max_tokens) -> np.ndarray:
    cols = []
    for c in range(y_tr.shape[1]):
        yc = (y_tr[:, c] > 0.5).astype(int)
        if yc.min() == yc.max():
            cols.append(np.full(len(x_te), float(yc[0])))
            continue
        cols.append(_full_proba(make(False, len(x_tr)).fit(x_tr, yc), x_te, 2)[:, 1])
    return np.stack(cols, axis=1)


def _probe_tokens(make: MakeHead, x_tr, y_tr, x_te, n_classes, seed, max_tokens) -> np.ndarray:
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
    model = make(False, len(xf)).fit(xf, yf)
    return _full_proba(model, x_te.reshape(-1, d), n_classes).reshape(*x_te.shape[:2], n_classes)


# ------------------------------------------------------------------ scores


def _score_regression(y: np.ndarray, pred: np.ndarray, n_classes: int | None) -> dict[str, float]:
    from sklearn import metrics as skm

    pred = pred.reshape(-1)
    return {"rmse": float(np.sqrt(skm.mean_squared_error(y, pred))), "r2": float(skm.r2_score(y, pred))}


def _score_multiclass(y: np.ndarray, pred: np.ndarray, n_classes: int | None) -> dict[str, float]:
    from sklearn import metrics as skm

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


def _score_multilabel(y: np.ndarray, pred: np.ndarray, n_classes: int | None) -> dict[str, float]:
    from sklearn import metrics as skm

    # a class without a positive (or without a negative) test item has no AUC: the macro
    # average covers the others, and says how many (report.caveats)
    aucs = [skm.roc_auc_score(y[:, c] > 0.5, pred[:, c]) for c in range(y.shape[1]) if 0 < (y[:, c] > 0.5).sum() < len(y)]
    return {
        "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "auc_classes_scored": float(len(aucs)), "auc_classes": float(y.shape[1]),
    }


def _score_tokens(y: np.ndarray, pred: np.ndarray, n_classes: int | None) -> dict[str, float]:
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


# ------------------------------------------------------------------ the supervised head


def _loss_regression(logits: torch.Tensor, y: torch.Tensor, out: int, y_mean: float, y_std: float) -> torch.Tensor:
    return F.mse_loss(logits.squeeze(-1), (y.float() - y_mean) / y_std)


def _loss_multiclass(logits: torch.Tensor, y: torch.Tensor, out: int, y_mean: float, y_std: float) -> torch.Tensor:
    return F.cross_entropy(logits, y.long())


def _loss_multilabel(logits: torch.Tensor, y: torch.Tensor, out: int, y_mean: float, y_std: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, y.float())


def _loss_tokens(logits: torch.Tensor, y: torch.Tensor, out: int, y_mean: float, y_std: float) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, out), y.long().reshape(-1), ignore_index=-1)


def _softmax(logits: torch.Tensor, y_mean: float, y_std: float) -> np.ndarray:
    return logits.softmax(-1).numpy()


def _sigmoid(logits: torch.Tensor, y_mean: float, y_std: float) -> np.ndarray:
    return logits.sigmoid().numpy()


def _unstandardise(logits: torch.Tensor, y_mean: float, y_std: float) -> np.ndarray:
    return logits.squeeze(-1).numpy() * y_std + y_mean


def _max_class(y: np.ndarray) -> int:
    return int(np.max(y)) + 1


TASK_KINDS: Mapping[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            "multiclass", "accuracy", _draw_per_class, _probe_multiclass, _score_multiclass, _loss_multiclass, _softmax,
            _max_class, stratified=True, classes_from_all_labels=True, hold_out_keeps_classes=True,
        ),
        KindSpec(
            "multilabel", "macro_auc", _draw_per_label, _probe_multilabel, _score_multilabel, _loss_multilabel, _sigmoid,
            lambda y: y.shape[1], stratified=True,
        ),
        KindSpec(
            "regression", "r2", _draw_any, _probe_regression, _score_regression, _loss_regression, _unstandardise,
            lambda y: None, continuous=True,
        ),
        KindSpec(
            "token_multiclass", "miou", _draw_any, _probe_tokens, _score_tokens, _loss_tokens, _softmax,
            _max_class, per_token=True,
        ),
    )
}

# kind -> its primary metric
PRIMARY = {name: spec.primary for name, spec in TASK_KINDS.items()}


def task_kind(name: str) -> KindSpec:
    """The table's entry for a task kind; an unknown one is a :class:`ConfigError` naming
    the valid ones."""
    if name not in TASK_KINDS:
        raise ConfigError(f"unknown task kind {name!r}; valid: {', '.join(TASK_KINDS)}")
    return TASK_KINDS[name]
