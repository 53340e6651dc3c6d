"""seq-JEPA's invariant evaluation, a :class:`jepakit.domain.Evaluation` run by ``jepakit
bench`` for every pretrained variant and the random-init encoder.

Each train/test object of the class task is seen in ``V`` fixed transformed views
(``VisionBundle.sequences``; the first ``V - 1`` are used, as many as seq-JEPA's
aggregator takes). A linear probe (the core's, :func:`jepakit.kit.fit_predict`) on a
``fraction`` of the training objects' labels predicts the class of the test objects from

* ``accuracy``: the *aggregate* of the views -- seq-JEPA's aggregator output where the model
  has one (``model.predictor.aggregate``), else the mean of the per-view embeddings (the
  sequence-level representation an encoder without aggregator has);
* ``mean_views_accuracy``: the mean of the per-view embeddings, for every model;
* ``view_accuracy``: the first view's embedding alone.

The equivariant side is the regression tasks of the bundle (one per transformation
parameter), which the core probes on the per-view embeddings of every encoder.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import torch

from jepakit.kit import DataError, fit_predict

_CACHE: weakref.WeakKeyDictionary[torch.nn.Module, dict] = weakref.WeakKeyDictionary()


@torch.no_grad()
def _features(encoder: torch.nn.Module, model: Any, seqs: Any, batch_size: int = 64) -> dict[str, np.ndarray]:
    device = next(encoder.parameters()).device
    agg_fn = getattr(getattr(model, "predictor", None), "aggregate", None) if model is not None else None
    was = encoder.training
    encoder.eval()
    out: dict[str, list[np.ndarray]] = {"views": [], "agg": []}
    try:
        n = len(seqs.labels)
        for i in range(0, n, batch_size):
            idx = list(range(i, min(n, i + batch_size)))
            images, params = seqs.views(idx)
            v = params.shape[1]
            z = encoder.embed({"image": images.to(device)}, "mean").float().reshape(len(idx), v, -1)[:, :-1]
            out["views"].append(z.cpu().numpy())
            if agg_fn is not None:
                pred = model.predictor
                was_p = pred.training
                pred.eval()
                out["agg"].append(agg_fn(z.to(next(pred.parameters()).device), params[:, :-1].to(device)).float().cpu().numpy())
                pred.train(was_p)
    finally:
        encoder.train(was)
    views = np.concatenate(out["views"])
    return {"views": views, "agg": np.concatenate(out["agg"]) if out["agg"] else views.mean(1)}


def _draw(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if fraction >= 1.0:
        return np.arange(len(labels))
    out = [rng.choice(np.flatnonzero(labels == k), max(1, int(round(fraction * int((labels == k).sum())))), replace=False)
           for k in np.unique(labels)]
    return np.sort(np.concatenate(out))


def seq_invariant(encoder: torch.nn.Module, model: Any, bundle: Any, fraction: float, seed: int) -> dict[str, float]:
    """Class accuracy from the aggregate of a sequence of views (see the module doc)."""
    seqs = getattr(bundle, "sequences", None)
    if not seqs:
        raise DataError("the seq-invariant evaluation needs labelled images (view sequences of the class task); "
                        "this data has none")
    feats = {}
    for side in ("train", "test"):
        per = _CACHE.setdefault(encoder, {})
        key = (id(seqs[side]), id(model))
        if key not in per:
            per[key] = _features(encoder, model, seqs[side])
        feats[side] = per[key]
    y_tr, y_te = np.asarray(seqs["train"].labels), np.asarray(seqs["test"].labels)
    idx = _draw(y_tr, float(fraction), int(seed))
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    result: dict[str, float] = {"n_labels": float(len(idx))}
    for name, get in (("accuracy", lambda f: f["agg"]), ("mean_views_accuracy", lambda f: f["views"].mean(1)),
                      ("view_accuracy", lambda f: f["views"][:, 0])):
        prob = fit_predict("linear", "multiclass", get(feats["train"])[idx], y_tr[idx], get(feats["test"]), n_classes, int(seed))
        result[name] = float((np.asarray(prob).argmax(1) == y_te).mean())
    return result


__all__ = ["seq_invariant"]
