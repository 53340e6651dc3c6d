"""Supervised training of the probed architecture end to end, through one loop: fine-tuning
a pretrained encoder, and the same architecture trained from scratch (the benchmark's
``supervised`` reference). The two differ only in where the backbone's weights start
and in two settings that exist for a pretrained start (``eval.ft_lr`` and
``eval.layer_decay``); the steps, batch size, schedule, validation split and early
stopping are the same.

The model is the backbone, the probes' pooling (``eval.pool``; per token for
``token_multiclass``) and a linear head, for every task kind. The optimiser is AdamW
(betas 0.9, 0.999, weight decay 0.05, none on biases, norms and what a module declares in
``no_weight_decay()``) with layer-wise learning-rate decay: the head and the final norm
get the peak rate, block ``i`` (0-based) of ``L`` gets ``lr * decay^(L - i)`` and the
tokenizer with the position embedding (everything else of the backbone) ``lr *
decay^(L + 1)``. The scratch model uses decay 1.0 (every group at the peak rate): LLRD
keeps a pretrained encoder's early layers close to what pretraining found, which a
random init has no reason to keep. The rate warms up linearly over ``eval.sup_warmup``
(a fraction of the steps, or a number of steps), then follows a cosine to 0; gradients
are clipped to norm 1.

Early stopping: ``eval.sup_val_fraction`` of the labelled items given for training
(whole groups where the task has a ``group_key``, whole scenes for a ``split_key``; at
least one unit per side, and for classification at least one of each class stays in
training) is held out; every ``eval.sup_eval_every`` steps the task's primary metric
(the validation loss where that metric is undefined, e.g. an AUC without positives) is
measured on it, the best weights are kept in memory, training stops after
``eval.sup_patience`` evaluations without improvement and the best weights are restored.
When that hold-out would have fewer than ``eval.sup_val_min`` groups (or items; 50, so
250 labelled at the default fraction), or fewer than 5 groups are labelled at all, there
is no early stopping: every label trains, for all the steps, and
:class:`Fitted.early_stopping` says so. Measured on the sines example's validation split
(200 steps): with 36 labels, stopping on a hold-out of 7 cost 0.040 accuracy from scratch
(10 draws, 8 lost) and 0.017 / 0.040 fine-tuned (layer decay 1.0 / 0.75) against training
on all 36; with 107 labels a hold-out of 21 still cost 0.011 (6 draws) both ways. What
the held-out labels would have taught outweighed stopping at small label counts.
``eval.sup_patience=0`` turns early stopping off.

The fine-tune defaults come from the same measurement (36 labels; the LeJEPA sines
encoder, 4 blocks): ``ft_lr`` 1e-3 ahead of 3e-4 and 1e-4 (3 draws: 0.907 / 0.900 / –
at decay 1.0, 0.859 / 0.820 / 0.578 at 0.75); ``layer_decay`` 0.75 level with 1.0 on 4
blocks (10 draws: +0.007 ± 0.009 without early stopping), kept at the usual ViT value
for deeper encoders. Fine-tuned, the encoder beat the same architecture from scratch by
0.07 to 0.09 accuracy (0.929 against 0.851, 10 of 10 draws, no early stopping).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from .contract import Task
from .devices import to_device
from .errors import ConfigError, DataError, TrainingDiverged
from .evaluate import (
    _Supervised,
    group_average,
    group_items,
    groups_of,
    labels_of,
    n_classes_in,
    score,
    subset_indices,
    with_split,
)
from .model import Backbone
from .task_kinds import task_kind

MIN_UNITS = 5  # fewer labelled groups (or items) than this: no validation split, no early stopping
VAL_MAX = 512  # at most this many groups (or items) held out: the evaluations stay cheap on large label sets
WEIGHT_DECAY = 0.05
CLIP = 1.0


@dataclass
class FitSettings:
    """How :func:`fit` trains; :meth:`of` reads them off the ``eval`` config section."""

    steps: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    warmup: float | int = 0.1
    layer_decay: float = 1.0
    patience: int = 5
    eval_every: int = 20
    val_fraction: float = 0.2
    val_min: int = 50
    pool: str = "mean"
    eval_batch_size: int = 64
    weight_decay: float = WEIGHT_DECAY
    clip: float = CLIP

    @classmethod
    def of(cls, ecfg: Mapping[str, Any], pretrained: bool) -> FitSettings:
        """Settings of the fine-tune row (``pretrained``) or of the scratch row: the same
        budget, schedule and early stopping; the fine-tune row's own peak rate and
        layer decay, decay 1.0 for scratch."""
        from .config import DEFAULTS

        e = {**DEFAULTS["eval"], **dict(ecfg)}  # a checkpoint's config from before a key existed
        return cls(
            steps=int(e["sup_steps"]), batch_size=int(e["sup_batch_size"]),
            lr=float(e["ft_lr"] if pretrained else e["sup_lr"]), warmup=e["sup_warmup"],
            layer_decay=float(e["layer_decay"]) if pretrained else 1.0, patience=int(e["sup_patience"]),
            eval_every=int(e["sup_eval_every"]), val_fraction=float(e["sup_val_fraction"]), val_min=int(e["sup_val_min"]),
            pool=str(e["pool"]),
            eval_batch_size=int(e["batch_size"]),
        )


def lr_factor(step: int, steps: int, warmup: float | int) -> float:
    """The learning rate of step ``step`` (0-based) of ``steps`` as a fraction of the peak:
    linear warm-up over ``warmup`` steps (a float < 1: that fraction of ``steps``), then a
    cosine from 1 to 0."""
    steps = max(1, int(steps))
    warm = int(warmup * steps) if isinstance(warmup, float) and warmup < 1 else int(warmup)
    warm = min(warm, steps)
    if step < warm:
        return (step + 1) / warm
    frac = (step - warm) / max(1, steps - warm)
    return 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))


def layer_of(name: str, depth: int) -> int:
    """The LLRD layer of a :class:`~jepakit.evaluate._Supervised` parameter: 0 for the
    tokenizer, the position embedding and anything else of the backbone, ``i + 1`` for
    block ``i``, ``depth + 1`` for the final norm and the head."""
    if name.startswith("head.") or name.startswith("backbone.norm."):
        return depth + 1
    if name.startswith("backbone.blocks."):
        return int(name.split(".")[2]) + 1
    return 0


def param_groups(model: torch.nn.Module, lr: float, layer_decay: float, weight_decay: float = WEIGHT_DECAY) -> list[dict[str, Any]]:
    """AdamW parameter groups with layer-wise learning-rate decay: layer ``k`` of
    :func:`layer_of` gets ``lr * layer_decay^(depth + 1 - k)``; biases, norms and the
    names that :func:`jepakit.train.no_weight_decay_names` lists are not decayed. Each
    group carries ``layer`` and ``lr_scale`` (the schedule multiplies ``lr_scale``)."""
    from .train import no_weight_decay_names

    depth = len(model.backbone.blocks)
    exempt = no_weight_decay_names(model)
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        layer = layer_of(name, depth)
        decayed = name not in exempt
        if (layer, decayed) not in groups:
            scale = float(layer_decay) ** (depth + 1 - layer)
            groups[(layer, decayed)] = {
                "params": [], "layer": layer, "lr_scale": scale, "lr": lr * scale,
                "weight_decay": float(weight_decay) if decayed else 0.0,
            }
        groups[(layer, decayed)]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def trainable_copy(encoder: Backbone) -> Backbone:
    """A deep copy of a pretrained encoder to fine-tune, its parameters trainable where the
    encoder froze all of them (an EMA target encoder); a tokenizer's own frozen parts of
    an otherwise trainable encoder stay frozen."""
    enc = copy.deepcopy(encoder)
    if not any(p.requires_grad for p in enc.parameters()):
        enc.requires_grad_(True)
    return enc


@dataclass
class Fitted:
    """A model trained by :func:`fit`, its best weights restored."""

    model: _Supervised
    kind: str
    outputs: int
    y_mean: float = 0.0
    y_std: float = 1.0
    steps_run: int = 0
    best_step: int | None = None
    n_train: int = 0  # labelled items that trained
    n_val: int = 0  # labelled items held out for early stopping
    early_stopping: str = ""  # what early stopping did, in words
    val_metric: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    @torch.no_grad()
    def predict(self, dataset: Any, indices: Any = None, collate: Callable | None = None, device: Any = "cpu",
                batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, float]:
        """Predictions of items ``indices`` of ``dataset`` (all when None) in the form
        :func:`jepakit.evaluate.score` expects (item by item, not grouped), their labels
        and the mean loss."""
        collate = collate or default_collate
        spec = task_kind(self.kind)
        idx = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=int)
        was = self.model.training
        self.model.eval()
        preds, ys, loss, n = [], [], 0.0, 0
        for i in range(0, len(idx), batch_size):
            batch = to_device(collate([dataset[int(j)] for j in idx[i : i + batch_size]]), torch.device(device))
            logits = self.model(batch).float()
            loss += float(spec.loss(logits, batch["label"], self.outputs, self.y_mean, self.y_std)) * len(logits)
            n += len(logits)
            preds.append(spec.predict(logits.cpu(), self.y_mean, self.y_std))
            ys.append(np.asarray(batch["label"].cpu() if torch.is_tensor(batch["label"]) else batch["label"]))
        self.model.train(was)
        return np.concatenate(preds), np.concatenate(ys), loss / max(1, n)


def validation_items(
    task: Task, items: np.ndarray, fraction: float, seed: int, min_val: int = 1,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Split the labelled training items ``items`` into (train, validation) for early
    stopping: ``fraction`` of their groups (``split_key``, else ``group_key``, else items)
    held out, at least one per side, at most :data:`VAL_MAX`; for multiclass tasks a
    class's last unit stays in training. Fewer than :data:`MIN_UNITS` units, or a hold-out
    of fewer than ``min_val`` units: no validation items. The third value says what was
    done, in words."""
    items = np.asarray(items, dtype=int)
    if fraction <= 0:
        return items, items[:0], "no early stopping (eval.sup_patience=0)"
    key = task.split_key or task.group_key
    groups = groups_of(task.train, key, attribute=task.split_key is None)
    keys = items if groups is None else groups[items]
    units, first = np.unique(keys, return_index=True)
    what = "groups" if groups is not None else "items"
    if len(units) < MIN_UNITS:
        return items, items[:0], f"no early stopping: {len(units)} labelled {what} (fewer than {MIN_UNITS}), all of them train"
    want = min(VAL_MAX, len(units) - 1, max(1, int(round(fraction * len(units)))))
    if want < min_val:
        return items, items[:0], (
            f"no early stopping: a hold-out of {want} of {len(units)} labelled {what} would be under eval.sup_val_min "
            f"({min_val}), all of them train"
        )
    rng = np.random.default_rng([int(seed), 7717])
    order = rng.permutation(len(units))
    held: list[int] = []
    if task_kind(task.kind).hold_out_keeps_classes:
        y = labels_of(task.train)[items[first]].astype(int)
        left = {c: int(n) for c, n in zip(*np.unique(y, return_counts=True))}
        for u in order:
            if len(held) == want:
                break
            if left[int(y[u])] > 1:
                left[int(y[u])] -= 1
                held.append(int(u))
    else:
        held = [int(u) for u in order[:want]]
    if not held:
        return items, items[:0], f"no early stopping: every one of the {len(units)} labelled {what} is its class's only one"
    val = np.isin(keys, units[held])
    note = f"early stopping on {len(held)} of {len(units)} labelled {what}" + (f" ({int(val.sum())} items)" if groups is not None else "")
    return items[~val], items[val], note


def fit(
    backbone: Backbone, task: Task, items: Any, settings: FitSettings, collate: Callable | None, device: Any, seed: int,
    n_classes: int | None,
) -> Fitted:
    """Train ``backbone`` (random or pretrained: only its starting weights tell them apart)
    with the probes' pooling and a linear head on the labelled training items ``items``
    (item indices; every window of a grouped record). See the module doc for the
    schedule, the layer decay and early stopping."""
    collate = collate or default_collate
    device = torch.device(device)
    items = np.asarray(items, dtype=int)
    if len(items) == 0:
        raise DataError("no labelled training items to train on")
    spec = task_kind(task.kind)
    s = settings
    train_items, val_items, note = validation_items(task, items, s.val_fraction if s.patience > 0 else 0.0, seed, s.val_min)
    out = 1 if spec.continuous else int(n_classes)
    y_all = labels_of(task.train)
    y_mean, y_std = 0.0, 1.0
    if spec.continuous:
        y_mean, y_std = float(y_all[train_items].mean()), float(y_all[train_items].std() + 1e-8)
    torch.manual_seed(int(seed) * 1_000_003 + 11)  # the head's init and dropout: the same for every start
    model = _Supervised(backbone, task.kind, out, s.pool, task.segment).to(device)
    opt = torch.optim.AdamW(param_groups(model, s.lr, s.layer_decay, s.weight_decay), lr=s.lr)
    fitted = Fitted(model, task.kind, out, y_mean, y_std, n_train=len(train_items), n_val=len(val_items), early_stopping=note)
    early = len(val_items) > 0
    metric = spec.primary
    val_groups = None
    if early:
        g = groups_of(task.train, task.group_key)
        val_groups = None if g is None else g[val_items]
    best: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    bad = 0
    rng = np.random.default_rng(seed)
    steps, bs = int(s.steps), int(s.batch_size)
    model.train()
    for step in range(steps):
        factor = lr_factor(step, steps, s.warmup)
        for grp in opt.param_groups:
            grp["lr"] = s.lr * grp["lr_scale"] * factor
        pick = rng.choice(train_items, size=min(bs, len(train_items)), replace=len(train_items) < bs)
        batch = to_device(collate([task.train[int(i)] for i in pick]), device)
        loss = spec.loss(model(batch), batch["label"], out, y_mean, y_std)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"supervised training: the loss became {loss.item()} at step {step + 1} (lr {s.lr * factor:.3g}); "
                "lower eval.sup_lr (from scratch) or eval.ft_lr (fine-tuning)"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.clip)
        opt.step()
        fitted.steps_run = step + 1
        if not early or ((step + 1) % max(1, s.eval_every) and step + 1 < steps):
            continue
        pred, y, vloss = fitted.predict(task.train, val_items, collate, device, s.eval_batch_size)
        pred, y, _ = group_average(pred, y, val_groups)
        value = score(task.kind, y, pred, n_classes).get(metric, float("nan"))
        # an undefined metric (an AUC without a positive, R2 of one item) depends on the
        # labels only, so the criterion is the same at every evaluation
        crit = (value if math.isfinite(value) else -vloss, -vloss)
        fitted.val_metric = metric if math.isfinite(value) else "loss"
        fitted.history.append({"step": step + 1, metric: value, "loss": vloss})
        if best is None or crit > best:
            best, bad, fitted.best_step = crit, 0, step + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= s.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
        fitted.early_stopping = (
            f"{note}, val {fitted.val_metric}: best at step {fitted.best_step}, "
            f"{'stopped' if fitted.steps_run < steps else 'ran'} at step {fitted.steps_run} of {steps}"
        )
    model.eval()
    return fitted


def fit_scores(
    backbone: Backbone, task: Task, items: Any, settings: FitSettings, collate: Callable | None, device: Any, seed: int,
    n_classes: int | None,
) -> tuple[np.ndarray, np.ndarray, Fitted]:
    """:func:`fit`, then (test predictions, test labels) grouped like the probes'."""
    fitted = fit(backbone, task, items, settings, collate, device, seed, n_classes)
    pred, y, _ = fitted.predict(task.test, None, collate, device, settings.eval_batch_size)
    pred, y, _ = group_average(pred, y, groups_of(task.test, task.group_key))
    return pred, y, fitted


def supervised_scores(
    make_backbone: Callable[[], Backbone], task: Task, train_idx: np.ndarray, ecfg: Mapping[str, Any], collate: Callable | None,
    device: Any, seed: int, n_classes: int | None, pretrained: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Train the probed architecture end to end on the labelled items ``train_idx`` (item
    indices, every window of a grouped record included) and return (test predictions,
    test labels), grouped like the probes. ``make_backbone`` builds its backbone: a fresh
    one (from scratch; seeded with ``seed``) or a copy of a pretrained encoder with
    ``pretrained=True`` (the fine-tune row: ``eval.ft_lr`` and ``eval.layer_decay``).
    Both run :func:`fit`, one loop with one budget."""
    torch.manual_seed(seed)
    pred, y, _ = fit_scores(make_backbone(), task, train_idx, FitSettings.of(ecfg, pretrained), collate, device, seed, n_classes)
    return pred, y


# ------------------------------------------------------------------ jepakit finetune


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns (and writes as ``finetune.json``)."""

    domain: str
    task: str
    kind: str
    fraction: float
    seed: int
    n_labels: int  # labelled groups (records) or items drawn
    metrics: dict[str, float]
    early_stopping: str
    scratch: dict[str, float] | None = None
    scratch_early_stopping: str | None = None
    out: Path | None = None
    seconds: float = 0.0
    split: str = "test"
    fitted: Fitted | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fitted"}
        d["out"] = None if self.out is None else str(self.out)
        return d


ALLOWED = "eval.* and train.device"


def _overrides(overrides: Any) -> dict[str, Any] | None:
    from . import config as cfgmod

    if overrides is None:
        return None
    layer = dict(overrides) if isinstance(overrides, Mapping) else cfgmod.parse_sets(overrides)
    for section, values in layer.items():
        keys = list(values) if isinstance(values, Mapping) else []
        if section == "eval" or (section == "train" and keys and set(keys) <= {"device"}):
            continue
        name = f"{section}.{keys[0]}" if keys else section
        raise ConfigError(f"finetune: cannot change {name}; the model comes from the checkpoint, --set may change only {ALLOWED}")
    return layer


def finetune(
    checkpoint: str | os.PathLike, task: str | None = None, fraction: float = 0.1, seed: int = 0, overrides: Any = None,
    data: Any = None, out: str | os.PathLike | None = None, echo: bool = True, compare_scratch: bool = False,
) -> FinetuneResult:
    """Python twin of ``jepakit finetune CHECKPOINT``: fine-tune the checkpoint's encoder
    (``eval.encoder``) on ``fraction`` of the training labels of ``task`` (default: the
    domain's first task), drawn with ``seed`` as the benchmark draws them, and score it on
    the task's test split (``eval.split=validation``: on the validation split of the
    training items). ``compare_scratch``: also train the same architecture from scratch
    with the same budget. Writes ``finetune.json``, ``finetuned.safetensors`` (the
    backbone and head weights) and ``finetuned.json`` (what rebuilds and reads them) into
    ``out`` (default ``RUN/finetune``)."""
    from safetensors.torch import save_file

    from . import config as cfgmod
    from .train import build_backbone, collate_of, load_run, pick_device

    began = time.perf_counter()
    if not 0.0 < float(fraction) <= 1.0:
        raise ConfigError(f"finetune: --fraction must be in (0, 1], got {fraction}")
    layer = _overrides(overrides)
    run = load_run(checkpoint, data)
    cfg = cfgmod.merge(run.config, layer)
    ecfg = cfg["eval"]
    bundle = with_split(run.bundle, ecfg.get("split", "test"))
    if not bundle.tasks:
        raise DataError(f"domain {run.domain!r}: this data has no labelled task; fine-tuning needs labels")
    if task is None:
        task = next(iter(bundle.tasks))
    elif task not in bundle.tasks:
        raise ConfigError(f"domain {run.domain!r} has no task {task!r}; valid: {', '.join(bundle.tasks)}")
    t = bundle.tasks[task]
    device = pick_device(cfg["train"]["device"])
    collate = collate_of(bundle)
    y_tr, y_te = labels_of(t.train), labels_of(t.test)
    if len(y_tr) == 0:
        raise DataError(f"task {task!r} has no labelled training items")
    groups = groups_of(t.train, t.group_key)
    _, y_groups, _ = group_average(np.zeros((len(y_tr), 1), dtype=np.float32), y_tr, groups)
    n_classes = n_classes_in(t, y_tr, y_te)
    gidx = subset_indices(y_groups, t.kind, float(fraction), int(seed))
    members = group_items(t, "train")
    items = gidx if members is None else np.concatenate([members[g] for g in gidx])
    encoder = trainable_copy(run.model.encoder_for_eval(ecfg["encoder"])).to(device)
    ft = FitSettings.of(ecfg, pretrained=True)
    pred, y, fitted = fit_scores(encoder, t, items, ft, collate, device, int(seed), n_classes)
    metrics = score(t.kind, y, pred, n_classes)
    scratch = scratch_note = None
    if compare_scratch:
        torch.manual_seed(int(seed))
        sp, sy, sf = fit_scores(build_backbone(cfg, bundle).to(device), t, items, FitSettings.of(ecfg, pretrained=False),
                                collate, device, int(seed), n_classes)
        scratch, scratch_note = score(t.kind, sy, sp, n_classes), sf.early_stopping
    out_dir = Path(out) if out is not None else run.out / "finetune"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = FinetuneResult(
        run.domain, task, t.kind, float(fraction), int(seed), int(len(gidx)), metrics, fitted.early_stopping, scratch, scratch_note,
        out_dir, time.perf_counter() - began, ecfg.get("split", "test"), fitted,
    )
    weights = {k: v.detach().contiguous().cpu() for k, v in fitted.model.state_dict().items()}
    save_file(weights, str(out_dir / "finetuned.safetensors"))
    meta = {
        "checkpoint": str(run.checkpoint), "domain": run.domain, "task": task, "kind": t.kind,
        "classes": list(t.classes) if t.classes is not None else None, "outputs": fitted.outputs,
        "pool": fitted.model.pool, "y_mean": fitted.y_mean, "y_std": fitted.y_std, "config": cfg,
        "settings": asdict(ft), "info": run.bundle.info,
        "note": "weights of jepakit.evaluate._Supervised(build_backbone(config, bundle), kind, outputs, pool); "
                "regression outputs are standardised: value = output * y_std + y_mean",
    }
    (out_dir / "finetuned.json").write_text(json.dumps(meta, indent=1, default=str))
    summary = {**result.to_json(), "checkpoint": str(run.checkpoint), "settings": asdict(ft), "history": fitted.history,
               "steps_run": fitted.steps_run, "best_step": fitted.best_step, "n_items": int(len(items))}
    (out_dir / "finetune.json").write_text(json.dumps(summary, indent=1, default=str))
    if echo:
        print(summary_text(result))
    return result


def summary_text(r: FinetuneResult) -> str:
    """The CLI's summary: a heading line, then one line per metric (with the scratch
    model's score beside it when it was trained)."""
    where = "validation split of the training items" if r.split == "validation" else "test split"
    lines = [
        f"finetune {r.domain}/{r.task}: {r.fraction * 100:.3g}% labels (n={r.n_labels}, seed {r.seed}), scored on the {where}; "
        f"{r.early_stopping}"
    ]
    width = max(len(k) for k in r.metrics) if r.metrics else 0
    for k, v in r.metrics.items():
        other = "" if r.scratch is None or k not in r.scratch else f"   scratch {r.scratch[k]:.4f}"
        lines.append(f"{k:<{width}}  {v:.4f}{other}")
    if r.out is not None:
        lines.append(f"wrote {r.out / 'finetune.json'}, {r.out / 'finetuned.safetensors'}")
    return "\n".join(lines)


__all__ = [
    "FinetuneResult", "FitSettings", "Fitted", "finetune", "fit", "fit_scores", "lr_factor", "param_groups", "supervised_scores",
    "trainable_copy", "validation_items",
]
