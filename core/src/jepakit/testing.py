"""Conformance checks for jepakit components, for plugin authors and for jepakit's own tests.

Each ``check_*`` function runs the properties every component of its kind must have and
raises :class:`AssertionError` with one line naming the component and the violated
property; it returns None when all hold. They need no test framework (pytest is never
imported here), so a plugin's test suite calls them directly::

    from jepakit import testing

    def test_my_masker_conforms():
        tiny = testing.build_tiny("mydomain", {"recipe": {"name": "jepa"}, "masker": {"name": "stripes"}})
        testing.check_masker(tiny.sampler, tiny.layout, tiny.batch_size, batch=tiny.batch, name="stripes")

    def test_my_domain_trains_and_resumes_exactly(tmp_path):
        testing.check_domain("mydomain", steps=6, workdir=tmp_path)

jepakit's suite runs them over every registered component (``tests/core/test_conformance.py``),
as timm's tests run over ``list_models()``.

What each check asserts:

* :func:`check_tokenizer` -- ``embed`` gives as many tokens as the layout's grid has cells,
  of width ``dim``, finite; layout flags are ``(B, N)`` booleans; ``forward(batch)`` is the
  prefix then those tokens; ``forward(batch, keep)`` is the prefix then one token per
  kept index; keeping every index reproduces the full path; the default ``forward``
  gives, at the kept indices, the full path's tokens. A tokenizer that overrides
  ``forward`` to drop raw input before embedding (a sparse encoder: its convolutions
  then see no neighbours outside ``keep``) is documented to differ there, and only
  ``exact_keep=True`` asks it to match; kept tokens carry gradient to the parameters.
* :func:`check_masker` -- context ``(B, Nc)`` and targets ``(B, M, Nt)`` are integer grid
  indices in ``[0, N)``, no sample's context holds a token twice, and no target group
  shares a token with its sample's context; weights, when given, are ``(B, M, Nt)``,
  finite and >= 0; the same generator seed gives the same masks. A data-aware masker
  (its ``__call__`` names ``batch``) is given the batch, a model-aware one (it names
  ``model``) the model, as the training loop gives them.
* :func:`check_view_sampler` -- at least one global view; every view ``(B, n)`` of
  in-range integer indices, none repeated within a sample; the same seed, the same views.
* :func:`check_target` -- ``(B, M, Nt, D)`` features at the target indices, ``D`` the
  target's ``dim`` (or the encoder width), finite; the model's loss on them is finite.
* :func:`check_predictor` -- ``(B, M, Nt, out_dim)`` finite predictions (or a mapping whose
  ``pred`` is them) that depend on the context (a gradient reaches it).
* :func:`check_loss` -- a finite scalar; lower when the predictions equal the targets
  than for unrelated predictions (unless the loss says ``lower_at_target = False``); a
  gradient reaches the predictions. A loss that names
  ``out``, ``batch`` or ``masks`` is given them.
* :func:`check_regularizer` -- a finite scalar term from the step's outputs; ``weight`` a
  finite number >= 0 (<= 1 when it mixes); ``mix`` and ``needs_full`` booleans (and the
  full view in the outputs when it needs it); ``step`` runs.
* :func:`check_domain` -- the domain's quick preset with a tiny model loads its embedded
  data and pretrains ``steps`` steps with finite losses; resuming from the middle
  checkpoint reproduces the uninterrupted run's losses and weights bit for bit; and the
  loss goes down: trained ``steps`` steps on one fixed batch (its masks or views fixed),
  the last loss is below the first. That is measured on one batch because each step of
  a run sees a new batch: on the six domains of this repository (6 steps, batch 8, width
  32, seeds 0-3) the run's mean loss over its second half was below its first step's in
  22 of 24 runs only (ecg and eeg rose at seed 2), while on one batch the last loss was
  16-45 % below the first in all 24.
"""

from __future__ import annotations

import inspect
import math
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .contract import Batch, DataBundle, Layout, Masks, Tokenizer, Views, gather_tokens

# A model small enough that a check costs well under a second a step on one CPU core:
# every check is about the component's contract, not what the model learns.
TINY_MODEL: dict[str, Any] = {
    "width": 32, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "drop_path": 0.0,
    "pred_width": 16, "pred_depth": 1, "pred_heads": 2,
}
# warmup 0: with 6 steps a warm-up of a few steps would leave the loss where it started;
# lr 1e-3 is the rate at which the loss fell in all six domains (see the module doc)
TINY_TRAIN: dict[str, Any] = {
    "batch_size": 8, "lr": 1e-3, "min_lr": 1e-6, "warmup": 0, "rankme_every": 0, "progress": False, "ckpt_minutes": 0.0,
    "ckpt_every": 0, "workers": 0, "device": "cpu",
}
# LeJEPA's reference sizes (512-wide projector, 1024 slices) dwarf a 32-wide encoder
TINY_LEJEPA: dict[str, Any] = {"proj_dim": 16, "proj_hidden": 32, "num_slices": 64}


def _fail(who: str, prop: str, detail: str = "") -> None:
    """One line: the component, the property, what was seen."""
    line = f"{who}: {prop}" + (f" ({detail})" if detail else "")
    raise AssertionError(" ".join(line.split()))


def _who(kind: str, obj: Any, name: str | None) -> str:
    return f"{kind} {name!r}" if name else f"{kind} {type(obj).__name__}"


def _finite(t: Tensor) -> bool:
    return bool(torch.isfinite(t.detach().float()).all())


def _is_index(t: Any) -> bool:
    return torch.is_tensor(t) and not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def _random_keep(b: int, n: int, k: int, seed: int) -> Tensor:
    """``(b, k)`` sorted distinct grid indices per sample."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=g)[:k].sort().values for _ in range(b)])


def _close(a: Tensor, b: Tensor, atol: float) -> tuple[bool, float]:
    diff = (a.detach().float() - b.detach().float()).abs()
    worst = float(diff.max()) if diff.numel() else 0.0
    scale = max(1.0, float(b.detach().float().abs().max()) if b.numel() else 1.0)
    return worst <= atol * scale, worst


# -- tokenizers ---------------------------------------------------------------------------


def check_tokenizer(
    tokenizer: Tokenizer, batch: Batch, *, name: str | None = None, exact_keep: bool | None = None, atol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Check a tokenizer on a collated ``batch`` (see the module doc for the properties).

    ``exact_keep``: whether ``forward(batch, keep)`` must equal the full path's tokens at
    the kept indices; by default only for tokenizers that keep the contract's
    ``forward`` (one that overrides it to drop input may differ). ``atol`` is relative
    to the largest token value (1 for small ones)."""
    who = _who("tokenizer", tokenizer, name)
    was_training = tokenizer.training
    tokenizer.eval()  # dropout off: the paths below must be comparable
    try:
        _check_tokenizer(tokenizer, batch, who, exact_keep, atol, seed)
    finally:
        tokenizer.train(was_training)


def _check_tokenizer(tokenizer: Tokenizer, batch: Batch, who: str, exact_keep: bool | None, atol: float, seed: int) -> None:
    dim = getattr(tokenizer, "dim", None)
    if not isinstance(dim, int) or dim < 1:
        _fail(who, "has no integer `dim` (the token width)", f"dim={dim!r}")
    with torch.no_grad():
        layout = tokenizer.layout(batch)
        if not isinstance(layout, Layout):
            _fail(who, "layout() must return a jepakit.contract.Layout", f"got {type(layout).__name__}")
        emb = tokenizer.embed(batch)
        full = tokenizer(batch)
    n, p = layout.num_tokens, int(layout.num_prefix)
    if emb.ndim != 3 or emb.shape[1] != n or emb.shape[2] != dim:
        _fail(who, "embed() must give (B, N, dim) with N the layout's grid cells",
              f"got {tuple(emb.shape)}, grid {layout.grid} = {n} cells, dim {dim}")
    if not _finite(emb):
        _fail(who, "embed() gave non-finite tokens")
    b = int(emb.shape[0])
    for flag, value in layout.flags.items():
        if not torch.is_tensor(value) or value.dtype != torch.bool or tuple(value.shape) != (b, n):
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            _fail(who, f"layout flag {flag!r} must be a (B, N) bool tensor", f"got {shape}, expected ({b}, {n}) bool")
    if tuple(full.shape) != (b, p + n, dim):
        _fail(who, "forward(batch) must give (B, num_prefix + N, dim)", f"got {tuple(full.shape)}, expected {(b, p + n, dim)}")
    ok, worst = _close(full[:, p:], emb, atol)
    if not ok:
        _fail(who, "forward(batch) grid tokens must be embed(batch)", f"max difference {worst:.3g}")
    if p:
        pre = tokenizer.prefix(b)
        if pre is None or tuple(pre.shape) != (b, p, dim):
            got = None if pre is None else tuple(pre.shape)
            _fail(who, "prefix(B) must give (B, num_prefix, dim)", f"got {got}, layout says {p} prefix tokens")
    k = max(1, n // 2)
    keep = _random_keep(b, n, k, seed)
    with torch.no_grad():
        every = tokenizer(batch, torch.arange(n).expand(b, n).contiguous())
        part = tokenizer(batch, keep)
    if tuple(part.shape) != (b, p + k, dim):
        _fail(who, "forward(batch, keep) must give the prefix then one token per kept index",
              f"got {tuple(part.shape)} for keep of shape {tuple(keep.shape)}, expected {(b, p + k, dim)}")
    if not _finite(part):
        _fail(who, "forward(batch, keep) gave non-finite tokens")
    if tuple(every.shape) != tuple(full.shape):
        _fail(who, "forward(batch, keep=every index) must give the full path's shape", f"got {tuple(every.shape)}, expected {tuple(full.shape)}")
    ok, worst = _close(every, full, atol)
    if not ok:
        _fail(who, "forward(batch, keep=every index) must equal forward(batch)", f"max difference {worst:.3g}")
    if p:
        ok, worst = _close(part[:, :p], full[:, :p], atol)
        if not ok:
            _fail(who, "forward(batch, keep) must keep the prefix tokens unchanged", f"max difference {worst:.3g}")
    drops_input = type(tokenizer).forward is not Tokenizer.forward
    if exact_keep or (exact_keep is None and not drops_input):
        ok, worst = _close(part[:, p:], gather_tokens(full[:, p:], keep), atol)
        if not ok:
            _fail(who, "forward(batch, keep) must equal the full path's tokens at the kept indices", f"max difference {worst:.3g}")
    params = [q for q in tokenizer.parameters() if q.requires_grad]
    if params:
        for q in params:
            q.grad = None
        tokenizer(batch, keep).float().pow(2).mean().backward()
        grads = [q.grad for q in params if q.grad is not None]
        if not grads or not any(bool(g.abs().sum() > 0) for g in grads):
            _fail(who, "kept tokens must carry a gradient to the tokenizer's parameters")
        if not all(_finite(g) for g in grads):
            _fail(who, "non-finite gradient through forward(batch, keep)")
        for q in params:
            q.grad = None


# -- maskers and view samplers ------------------------------------------------------------


def wants_batch(sampler: Any) -> bool:
    """Whether a masker (or view sampler) is data-aware: its call names ``batch``."""
    from .train import sampler_names

    return "batch" in sampler_names(sampler)


def wants_model(sampler: Any) -> bool:
    """Whether a masker (or view sampler) is model-aware: its call names ``model``."""
    from .train import sampler_names

    return "model" in sampler_names(sampler)


def _draw(sampler: Any, layout: Layout, batch_size: int, seed: int, batch: Batch | None, model: Any = None) -> Any:
    """One draw as the training loop makes it (:func:`jepakit.train.draw_sampler`)."""
    from .train import draw_sampler

    return draw_sampler(sampler, layout, batch_size, torch.Generator().manual_seed(seed), batch, model)


def _indices(who: str, what: str, t: Any, ndim: int, b: int, n: int) -> None:
    if not _is_index(t):
        _fail(who, f"{what} must be an integer tensor", f"got {getattr(t, 'dtype', type(t).__name__)}")
    if t.ndim != ndim or t.shape[0] != b or any(s < 1 for s in t.shape):
        _fail(who, f"{what} must have {ndim} non-empty dimensions, batch first", f"got {tuple(t.shape)}, batch {b}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
        _fail(who, f"{what} indices must lie in [0, {n})", f"got [{int(t.min())}, {int(t.max())}]")


def _no_repeats(who: str, what: str, idx: Tensor) -> None:
    """No sample's index set ``(B, n)`` holds a token twice."""
    s = idx.sort(dim=1).values
    rep = (s[:, 1:] == s[:, :-1]).any(dim=1)
    if bool(rep.any()):
        i = int(rep.nonzero()[0])
        _fail(who, f"{what} holds a token twice", f"sample {i}")


def check_masker(
    masker: Any, layout: Layout, batch_size: int, *, batch: Batch | None = None, model: Any = None, name: str | None = None,
    seed: int = 0,
) -> None:
    """Check a masker's :class:`~jepakit.contract.Masks` for ``batch_size`` samples laid
    out as ``layout`` (``batch``: the collated batch, for a data-aware masker; ``model``:
    the model, for a model-aware one)."""
    who = _who("masker", masker, name)
    if wants_batch(masker) and batch is None:
        _fail(who, "is data-aware (its call names `batch`): give check_masker the batch")
    if wants_model(masker) and model is None:
        _fail(who, "is model-aware (its call names `model`): give check_masker the model")
    b, n = int(batch_size), layout.num_tokens
    masks = _draw(masker, layout, b, seed, batch, model)
    if not isinstance(masks, Masks):
        _fail(who, "must return jepakit.contract.Masks", f"got {type(masks).__name__}")
    _indices(who, "context", masks.context, 2, b, n)
    _indices(who, "target", masks.target, 3, b, n)
    _no_repeats(who, "a context", masks.context)
    in_context = torch.zeros(b, n, dtype=torch.bool).scatter_(1, masks.context.long().cpu(), True)
    tgt = masks.target.long().cpu()
    hit = torch.gather(in_context, 1, tgt.reshape(b, -1)).reshape(tgt.shape).any(dim=2)  # (B, M)
    if bool(hit.any()):
        i, m = (int(v) for v in hit.nonzero()[0])
        _fail(who, "context and targets must be disjoint", f"sample {i}, target group {m} shares tokens with the context")
    if masks.weight is not None:
        w = masks.weight
        if not torch.is_tensor(w) or not w.is_floating_point() or tuple(w.shape) != tuple(masks.target.shape):
            got = tuple(w.shape) if torch.is_tensor(w) else type(w).__name__
            _fail(who, "weight must be a float tensor shaped like target (B, M, Nt)", f"got {got}, target {tuple(masks.target.shape)}")
        if not _finite(w) or bool((w < 0).any()):
            _fail(who, "weights must be finite and >= 0")
    again = _draw(masker, layout, b, seed, batch, model)
    same = torch.equal(masks.context, again.context) and torch.equal(masks.target, again.target)
    same = same and ((masks.weight is None) == (again.weight is None))
    same = same and (masks.weight is None or torch.equal(masks.weight, again.weight))
    if not same:
        _fail(who, "the same generator seed must give the same masks (runs and resumes depend on it)")


def check_view_sampler(
    sampler: Any, layout: Layout, batch_size: int, *, batch: Batch | None = None, name: str | None = None, seed: int = 0,
) -> None:
    """Check a view sampler's :class:`~jepakit.contract.Views`."""
    who = _who("view sampler", sampler, name)
    b, n = int(batch_size), layout.num_tokens
    views = _draw(sampler, layout, b, seed, batch)
    if not isinstance(views, Views):
        _fail(who, "must return jepakit.contract.Views", f"got {type(views).__name__}")
    if not views.global_views:
        _fail(who, "must give at least one global view (the invariance target is their mean)")
    every = list(views.global_views) + list(views.local_views)
    for i, v in enumerate(every):
        what = f"view {i}"
        _indices(who, what, v, 2, b, n)
        _no_repeats(who, what, v)
    again = _draw(sampler, layout, b, seed, batch)
    others = list(again.global_views) + list(again.local_views)
    if len(others) != len(every) or not all(torch.equal(x, y) for x, y in zip(every, others)):
        _fail(who, "the same generator seed must give the same views (runs and resumes depend on it)")


# -- targets and predictors ---------------------------------------------------------------


def check_target(model: nn.Module, batch: Batch, masks: Masks, *, name: str | None = None) -> None:
    """Check ``model.target`` (a JEPA's, e.g. :func:`build_tiny`'s) on ``batch`` and ``masks``."""
    target = model.target
    who = _who("target", target, name)
    b, m, nt = (int(s) for s in masks.target.shape)
    width = int(model.backbone.width)
    d = int(target.dim or width)
    with torch.set_grad_enabled(bool(target.needs_grad)):
        out = target(model, batch, masks)
    if not torch.is_tensor(out) or tuple(out.shape) != (b, m, nt, d):
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        _fail(who, "must return (B, M, Nt, D) features at masks.target, D its dim (or the encoder width)",
              f"got {got}, expected {(b, m, nt, d)}")
    if not _finite(out):
        _fail(who, "gave non-finite features")
    loss = model(batch, masks)["loss"]
    if not torch.is_tensor(loss) or loss.ndim != 0 or not _finite(loss):
        _fail(who, "the model's loss with this target must be a finite scalar", f"got {loss!r}")


def check_predictor(
    predictor: nn.Module, context: Tensor, masks: Masks, batch: Batch, out_dim: int, *, name: str | None = None,
) -> None:
    """Check a predictor on context-encoder tokens ``context`` ``(B, P + Nc, width)``."""
    who = _who("predictor", predictor, name)
    b, m, nt = (int(s) for s in masks.target.shape)
    context = context.detach().clone().requires_grad_(True)
    pred = predictor(context, masks, batch)
    if isinstance(pred, Mapping):  # contract v2: ``pred`` plus extra outputs for the loss
        if "pred" not in pred:
            _fail(who, "a predictor returning a mapping must hold 'pred'", f"keys {sorted(pred)}")
        pred = pred["pred"]
    if not torch.is_tensor(pred) or tuple(pred.shape) != (b, m, nt, int(out_dim)):
        got = tuple(pred.shape) if torch.is_tensor(pred) else type(pred).__name__
        _fail(who, "must return (B, M, Nt, out_dim) predictions at masks.target", f"got {got}, expected {(b, m, nt, int(out_dim))}")
    if not _finite(pred):
        _fail(who, "gave non-finite predictions")
    pred.float().pow(2).mean().backward()
    if context.grad is None or not bool(context.grad.abs().sum() > 0):
        _fail(who, "predictions must depend on the context (no gradient reached it)")


# -- losses and regularizers -------------------------------------------------------------


def check_loss(
    loss: nn.Module, pred: Tensor, target: Tensor, weight: Tensor | None = None, *, out: Mapping[str, Any] | None = None,
    batch: Batch | None = None, masks: Masks | None = None, name: str | None = None, seed: int = 0,
) -> None:
    """Check a :class:`~jepakit.contract.Loss` on a step's predictions and targets."""
    who = _who("loss", loss, name)
    params = inspect.signature(loss.forward).parameters
    given = {"out": dict(out or {}), "batch": batch, "masks": masks}
    extra = {k: v for k, v in given.items() if k in params}
    target = target.detach()
    g = torch.Generator().manual_seed(seed)
    far = (torch.randn(target.shape, generator=g, dtype=target.dtype) * target.float().std().clamp_min(1.0)).requires_grad_(True)
    values = []
    for p in (target.clone(), far):
        value = loss(p, target, weight, **extra)
        if not torch.is_tensor(value) or value.ndim != 0 or not _finite(value):
            _fail(who, "must return a finite scalar", f"got {value!r}")
        values.append(value)
    same, other = values
    if getattr(loss, "lower_at_target", True) and not float(same.detach()) < float(other.detach()):
        _fail(who, "must be lower when the predictions equal the targets than for unrelated ones",
              f"{float(same):.4g} at equality, {float(other):.4g} otherwise")
    other.backward()
    if far.grad is None or not bool(far.grad.abs().sum() > 0):
        _fail(who, "no gradient reached the predictions")


def check_regularizer(reg: nn.Module, out: Mapping[str, Any], *, name: str | None = None) -> None:
    """Check a :class:`~jepakit.contract.Regularizer` on a step's outputs (a JEPA's ``out``)."""
    who = _who("regularizer", reg, name)
    weight = getattr(reg, "weight", None)
    if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        _fail(who, "weight must be a finite number >= 0", f"got {weight!r}")
    for flag in ("mix", "needs_full"):
        if not isinstance(getattr(reg, flag, None), bool):
            _fail(who, f"{flag} must be True or False", f"got {getattr(reg, flag, None)!r}")
    if reg.mix and weight > 1:
        _fail(who, "a mixing regularizer's weight must be <= 1", f"got {weight}")
    if reg.needs_full and "full" not in out:
        _fail(who, "needs the full view but the outputs hold none", f"keys {sorted(out)}")
    term = reg(dict(out))
    if not torch.is_tensor(term) or term.ndim != 0 or not _finite(term):
        _fail(who, "must return a finite scalar", f"got {term!r}")
    reg.step()


# -- a tiny model on a domain's data ------------------------------------------------------


@dataclass
class Tiny:
    """What :func:`build_tiny` returns: a tiny model on a domain's quick data, one batch,
    its layout and the step's masks (JEPA) or views (LeJEPA)."""

    config: dict[str, Any]
    bundle: DataBundle
    model: nn.Module
    sampler: Any
    batch: Batch
    layout: Layout
    drawn: Masks | Views

    @property
    def batch_size(self) -> int:
        return int(self.config["train"]["batch_size"])


def _merge(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """Two config layers as one: ``b``'s sections over ``a``'s (a component's ``name``
    change drops ``a``'s arguments for it, as :func:`jepakit.config.merge` does)."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in (a or {}).items()}
    for section, values in (b or {}).items():
        if not isinstance(values, Mapping) or not isinstance(out.get(section), dict):
            out[section] = dict(values) if isinstance(values, Mapping) else values
            continue
        if "name" in values and values["name"] != out[section].get("name"):
            out[section] = {}
        out[section].update(values)
    return out


def tiny_layers(domain: Any, overrides: Mapping[str, Any] | None = None, steps: int = 6, batch_size: int = 8) -> dict[str, Any]:
    """The config layer that shrinks ``domain``'s quick preset to a tiny model and run, with
    ``overrides`` (a nested dict) on top. LeJEPA's projector and slices shrink only when
    the run's recipe is LeJEPA (the JEPA recipe takes no arguments)."""
    from .plugins import get_domain
    from .train import resolve_config

    dom = get_domain(domain) if isinstance(domain, str) else domain
    layer = _merge({"model": dict(TINY_MODEL), "train": {**TINY_TRAIN, "steps": int(steps), "batch_size": int(batch_size)}},
                   overrides)
    cfg = resolve_config(dom, layer, None, dom.quick)
    if (cfg.get("recipe") or {}).get("name") == "lejepa":
        shrink = {k: v for k, v in TINY_LEJEPA.items() if k not in ((overrides or {}).get("recipe") or {})}
        layer = _merge(layer, {"recipe": shrink})
    return layer


def tiny_config(domain: Any, overrides: Mapping[str, Any] | None = None, steps: int = 6, batch_size: int = 8) -> dict[str, Any]:
    """The resolved config of :func:`tiny_layers` (core defaults <- domain <- quick preset <- tiny <- overrides)."""
    from .plugins import get_domain
    from .train import resolve_config

    dom = get_domain(domain) if isinstance(domain, str) else domain
    return resolve_config(dom, tiny_layers(dom, overrides, steps, batch_size), None, dom.quick)


def first_batch(bundle: DataBundle, batch_size: int) -> Batch:
    """The first ``batch_size`` pretraining items, collated as the training loop collates them."""
    from .train import collate_of

    n = min(int(batch_size), len(bundle.pretrain))
    return collate_of(bundle)([bundle.pretrain[i] for i in range(n)])


_BUNDLES: dict[tuple[str, str], DataBundle] = {}


def build_tiny(
    domain: Any, overrides: Mapping[str, Any] | None = None, *, batch_size: int = 8, bundle: DataBundle | None = None, seed: int = 0,
    steps: int = 6,
) -> Tiny:
    """A tiny model of ``domain`` (its quick preset, :data:`TINY_MODEL`, ``overrides`` on
    top), one batch of its embedded data and the masks or views drawn for it. The loaded
    data are cached per domain and data config (a check loads them once)."""
    import json

    from .plugins import get_domain
    from .train import build, load_bundle

    dom = get_domain(domain) if isinstance(domain, str) else domain
    cfg = tiny_config(dom, overrides, steps=steps, batch_size=batch_size)
    if bundle is None:
        key = (dom.name, id(dom.load), json.dumps(cfg["data"], sort_keys=True, default=str))
        if key not in _BUNDLES:
            while len(_BUNDLES) >= 4:  # a suite checks domain after domain: keep the last few
                _BUNDLES.pop(next(iter(_BUNDLES)))
            _BUNDLES[key] = load_bundle(dom, cfg)
        bundle = _BUNDLES[key]
    torch.manual_seed(seed)
    model, sampler = build(cfg, bundle)
    batch = first_batch(bundle, batch_size)
    with torch.no_grad():
        layout = model.backbone.tokenizer.layout(batch)
    b = min(int(batch_size), len(bundle.pretrain))
    drawn = _draw(sampler, layout, b, seed, batch, model)
    cfg["train"]["batch_size"] = b
    return Tiny(cfg, bundle, model, sampler, batch, layout, drawn)


# -- a domain end to end ------------------------------------------------------------------


def rewind(out: str | Path, step: int) -> Path:
    """Make the run in ``out`` look as if it died after ``step``: drop its later
    checkpoints and point ``latest`` at ``step``'s (the set-up of every exact-resume
    test). Returns that checkpoint's folder."""
    root = Path(out) / "checkpoints"
    keep = root / f"step-{int(step):07d}"
    if not keep.is_dir():
        raise AssertionError(f"run {out} has no checkpoint at step {step} (has: {sorted(p.name for p in root.glob('step-*'))})")
    for p in root.glob("step-*"):
        if p.is_dir() and p.name > keep.name:  # zero-padded: name order is step order
            shutil.rmtree(p)
    (root / "latest").write_text(keep.name)
    return keep


@dataclass
class DomainCheck:
    """What :func:`check_domain` measured: the uninterrupted run's losses, the resumed
    run's, and those of the tiny model trained on one batch."""

    losses: list[float]
    resumed_losses: list[float]
    one_batch_losses: list[float]


def _weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fits_one_batch(tiny: Tiny, steps: int) -> list[float]:
    """Train ``tiny``'s model ``steps`` steps on its one batch and masks (or views), with
    the run's optimizer, clipping and target updates; the losses, first step first."""
    from .train import make_optimizer

    model, cfg = tiny.model, tiny.config
    opt = make_optimizer(model, cfg)
    clip = float(cfg["train"]["clip"])
    model.train()
    losses = []
    for step in range(steps):
        torch.manual_seed(step)  # dropout and drop-path as the loop seeds them: per step
        loss = model(tiny.batch, tiny.drawn)["loss"]
        losses.append(float(loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), clip)
        opt.step()
        model.update((step + 1) / steps)
    return losses


def check_domain(
    name: str, steps: int = 6, *, overrides: Mapping[str, Any] | None = None, batch_size: int = 8,
    workdir: str | Path | None = None, loss_down: bool = True,
) -> DomainCheck:
    """Pretrain domain ``name`` (quick preset, tiny model, ``overrides`` on top) for
    ``steps`` steps on its embedded data, then resume it from step ``steps // 2``.

    Asserts: the data load and every loss is finite; the resumed run's losses and final
    weights equal the uninterrupted run's exactly; with ``loss_down``, the loss falls when
    the same tiny model trains ``steps`` steps on one batch (see the module doc for why one
    batch). ``workdir``: where the runs go (default: a temporary folder, removed after)."""
    from .errors import JepakitError
    from .plugins import get_domain
    from .train import pretrain

    who = f"domain {name!r}"
    if steps < 2:
        raise ValueError("check_domain needs steps >= 2 (it resumes from the middle)")
    half = steps // 2
    dom = get_domain(name)
    layer = tiny_layers(dom, _merge(overrides, {"train": {"ckpt_every": half, "keep_checkpoints": 2}}), steps, batch_size)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"jepakit-check-{name}-")
        workdir = tmp.name
    out = Path(workdir) / f"check-{name}"
    try:
        try:
            run = pretrain(dom, config=layer, preset=dom.quick, out=out, echo=False, overwrite=True)
        except JepakitError as exc:
            _fail(who, "the quick preset with a tiny model must pretrain", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        losses = [float(h["loss"]) for h in run.history]
        if len(losses) != steps:
            _fail(who, f"pretraining must record {steps} steps", f"recorded {len(losses)}")
        if not all(math.isfinite(x) for x in losses):
            _fail(who, "every loss must be finite", f"losses {losses}")
        final = _weights(run.model)
        rewind(out, half)
        resumed = pretrain(dom, out=out, resume=True, echo=False)
        again = [float(h["loss"]) for h in resumed.history]
        if again != losses:
            first = next((i for i, (x, y) in enumerate(zip(losses, again)) if x != y), min(len(losses), len(again)))
            _fail(who, f"resume from step {half} must reproduce the run's losses exactly",
                  f"first difference at step {first + 1}: {losses[first:first + 1]} vs {again[first:first + 1]}")
        weights = _weights(resumed.model)
        if weights.keys() != final.keys():
            _fail(who, "the resumed model must hold the same tensors")
        differ = [k for k in final if not torch.equal(final[k], weights[k])]
        if differ:
            _fail(who, f"resume from step {half} must reproduce the final weights bit for bit",
                  f"{len(differ)} tensors differ, first {differ[0]}")
        fitted: list[float] = []
        if loss_down:
            fitted = fits_one_batch(build_tiny(dom, overrides, batch_size=batch_size, bundle=run.bundle, steps=steps), steps)
            if not all(math.isfinite(x) for x in fitted) or not fitted[-1] < fitted[0]:
                _fail(who, "the loss must go down", f"{steps} steps on one batch: first {fitted[0]:.4g}, last {fitted[-1]:.4g}")
        return DomainCheck(losses, again, fitted)
    finally:
        if tmp is not None:
            tmp.cleanup()


__all__ = [
    "DomainCheck", "TINY_LEJEPA", "TINY_MODEL", "TINY_TRAIN", "Tiny", "build_tiny", "check_domain", "check_masker",
    "check_predictor", "check_target", "check_tokenizer", "check_view_sampler", "first_batch", "fits_one_batch", "rewind",
    "tiny_config",
    "tiny_layers", "wants_batch",
]
