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
        from jepakit.kit import fit_predict

        x_tr, y_tr, x_te = _raw(task, train_indices)
        return fit_predict(head, task.kind, x_tr, y_tr, x_te, _n_classes(task), seed)

    baseline.__doc__ = f"raw standardised / one-hot columns with the {head} head"
    return baseline


raw_linear = _head("linear")
raw_mlp = _head("mlp")


def min_samples_leaf(n_train: int) -> int:
    """Rows per leaf for ``n_train`` labelled rows: sklearn's 20 from 200 rows on, a tenth
    of the rows below (at least 1). With 20 per leaf, 40 or fewer labelled rows cannot
    be split at all and the baseline predicts the class prior (0.44 accuracy where 3 rows
    per leaf gave 0.92)."""
    return int(max(1, min(20, n_train // 10)))


def hist_gradient_boosting(task: Task, train_indices: Sequence[int], seed: int) -> np.ndarray:
    """HistGradientBoosting (sklearn defaults but the leaf size, which scales with the
    labelled rows: :func:`min_samples_leaf`) on the raw columns."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    x_tr, y_tr, x_te = _raw(task, train_indices)
    leaf = min_samples_leaf(len(x_tr))
    # one OpenMP thread: on 2 cores shared with the bench's torch threads, sklearn's
    # threads spun a 126-row digits fit out to 58 s; alone it takes 0.8 s (1257 rows: 3.3 s)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        if task.kind == "regression":
            return HistGradientBoostingRegressor(random_state=seed, min_samples_leaf=leaf).fit(x_tr, y_tr).predict(x_te)
        n = _n_classes(task)
        y_tr = y_tr.astype(int)
        if len(np.unique(y_tr)) < 2:
            return np.tile(np.eye(n)[y_tr[0]], (len(x_te), 1))
        model = HistGradientBoostingClassifier(random_state=seed, min_samples_leaf=leaf).fit(x_tr, y_tr)
        out = np.zeros((len(x_te), n))
        out[:, model.classes_.astype(int)] = model.predict_proba(x_te)
        return out


BASELINES = {"raw/linear": raw_linear, "raw/mlp": raw_mlp, "hgb": hist_gradient_boosting}
