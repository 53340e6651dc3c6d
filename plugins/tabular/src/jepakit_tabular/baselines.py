"""Raw-column baselines: the same linear and MLP heads as the JEPA probes (the core's
``jepakit.evaluate.fit_predict``) on standardised numeric + one-hot categorical columns,
and HistGradientBoosting on the same columns."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from jepakit import Task


def _raw(task: Task, train_indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.asarray(train_indices, dtype=np.int64)
    return task.train.features(idx), np.asarray(task.train.labels)[idx], task.test.features()


def _n_classes(task: Task) -> int | None:
    return len(task.classes) if task.kind == "multiclass" and task.classes else None


def _head(head: str):
    def baseline(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
        from jepakit.evaluate import fit_predict

        x_tr, y_tr, x_te = _raw(task, train_indices)
        return fit_predict(head, task.kind, x_tr, y_tr, x_te, _n_classes(task), seed)

    baseline.__doc__ = f"raw standardised / one-hot columns with the {head} head"
    return baseline


raw_linear = _head("linear")
raw_mlp = _head("mlp")


def hist_gradient_boosting(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
    """HistGradientBoosting (sklearn defaults) on the raw columns."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x_tr, y_tr, x_te = _raw(task, train_indices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task.kind == "regression":
            return HistGradientBoostingRegressor(random_state=seed).fit(x_tr, y_tr).predict(x_te)
        n = _n_classes(task)
        y_tr = y_tr.astype(int)
        if len(np.unique(y_tr)) < 2:
            return np.tile(np.eye(n)[y_tr[0]], (len(x_te), 1))
        model = HistGradientBoostingClassifier(random_state=seed).fit(x_tr, y_tr)
        out = np.zeros((len(x_te), n))
        out[:, model.classes_.astype(int)] = model.predict_proba(x_te)
        return out


BASELINES = {"raw/linear": raw_linear, "raw/mlp": raw_mlp, "hgb": hist_gradient_boosting}
