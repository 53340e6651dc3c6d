"""Pretraining: build a model from a config and a domain's data, train it, checkpoint it.

The batch of step ``s`` (indices, masks, dropout, random crops) depends only on the seed
and ``s``, so ``--resume`` continues with exactly the batches an uninterrupted run would
have seen and reproduces its losses.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import random
import shlex
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from . import config as cfgmod
from . import errors as errmod
from .archs import apply_arch
from .checkpoint import (
    BUNDLE_STATE,
    bundle_state,
    checkpoint_history,
    find_checkpoint,
    load_optimizer,
    read_checkpoint,
    read_optimizer,
    remove_stale,
    save_checkpoint,
)
from .collapse import CollapseGuard, probe_batches
from .contract import Batch, DataBundle, Domain
from .devices import to_device
from .errors import ConfigError, DataError, JepakitError, TrainingDiverged, unknown
from .loop import Callback, Checkpointer, CollapseStop, ProgressLine, SignalStop, Step
from .metrics import MetricsLogger
from .model import JEPA, Backbone, pool_stats
from .plugins import create, factory_params, get_domain, registry
from .runs import pid_alive


@dataclass
class Run:
    """What :func:`pretrain` returns."""

    out: Path
    config: dict[str, Any]
    model: torch.nn.Module  # a JEPA, or a LeJEPA for recipe.name=lejepa
    bundle: DataBundle
    domain: str
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None
    seconds: float = 0.0


def blame_data(batch: Any, samples: list[int], step: int, where: str) -> None:
    """Raise a one-line :class:`DataError` when the batch of ``step`` (a non-finite loss)
    holds values that are not finite in float32: NaN, inf, or beyond its range (±1e308)."""
    todo, bad = [("", batch)], None
    while todo and bad is None:
        name, value = todo.pop(0)
        if isinstance(value, Mapping):
            todo += [(f"{name}.{k}" if name else str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            todo += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        elif torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value.float()).all()):
            bad = (name or "batch", value)
    if bad is None:
        return
    name, value = bad
    rows = []
    if value.ndim and value.shape[0] == len(samples):
        rows = (~torch.isfinite(value.float())).reshape(len(samples), -1).any(1).nonzero().flatten().tolist()
    which = f" of sample{'s' if len(rows) > 1 else ''} {', '.join(str(samples[r]) for r in rows[:5])}{', ...' if len(rows) > 5 else ''}"
    raise DataError(
        f"the pretraining data holds non-finite values (NaN, inf, or beyond float32's range such as 1e308) in {name!r}{which if rows else ''} "
        f"(the batch of step {step + 1}){where}. Remove or rescale them"
    )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device {name!r} is not a torch device (use auto, cpu, cuda or cuda:N)") from None


def step_seed(seed: int, step: int, salt: int = 0) -> int:
    return (int(seed) * 1_000_003 + int(step) * 7919 + salt) % (2**63 - 1)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """Indices of the batch of ``step``: epoch-wise shuffles, a pure function of (seed, step)."""
    if n == 0:
        raise DataError("the pretraining dataset is empty")
    start = step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(step_seed(seed, epoch, 17)))
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return out


class StepDraw:
    """A step's masks (a JEPA's masker) or views (a LeJEPA's view sampler), drawn from the
    step's CPU batch: ``sampler(layout(batch), batch_size, generator)`` with the generator
    seeded from (seed, step) alone. It runs where the batch is collated -- inside a
    DataLoader worker when ``train.workers`` > 0, as I-JEPA's collator draws its masks --
    and gives the same masks in any process. ``layout`` is a tokenizer's ``layout`` (of a
    CPU copy of the model's tokenizer: a layout never depends on the parameters).

    A sampler that names ``batch`` in its call gets the batch; one that names ``model``
    (a model-aware masker, e.g. targets ordered by the target encoder's saliency) gets
    the model too and is drawn in the training loop instead (``in_loop``): on the batch
    already on the model's device, under ``torch.no_grad`` with the model in eval mode.
    Its masks then depend on the weights as well, which a resume restores exactly."""

    def __init__(self, sampler: Any, layout: Any, batch_size: int, seed: int):
        self.sampler, self.layout, self.bs, self.seed = sampler, layout, int(batch_size), int(seed)
        self.names = sampler_names(sampler)  # once: the loop draws every step
        self.wants_batch, self.in_loop = "batch" in self.names, "model" in self.names

    def __call__(self, batch: Batch, step: int, model: torch.nn.Module | None = None, on_device: Batch | None = None) -> Any:
        """The draw of ``step``; ``model`` and ``on_device`` (the batch on the model's
        device) for a sampler drawn in the loop."""
        with torch.no_grad():
            layout = self.layout(batch)
        generator = torch.Generator().manual_seed(step_seed(self.seed, step, 5))
        if self.in_loop and model is None:
            raise JepakitError(f"{type(self.sampler).__name__} names model in its call: it is drawn in the training loop, with the model")
        return draw_sampler(self.sampler, layout, self.bs, generator, batch if on_device is None else on_device, model, self.names)


def sampler_names(sampler: Any) -> frozenset[str]:
    """The optional inputs a masker's or view sampler's call names: ``batch``, ``model``."""
    try:
        params = inspect.signature(sampler).parameters
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(k for k in ("batch", "model") if k in params)


def draw_sampler(
    sampler: Any, layout: Any, batch_size: int, generator: torch.Generator, batch: Batch | None = None,
    model: torch.nn.Module | None = None, names: frozenset[str] | None = None,
) -> Any:
    """One draw of a masker or view sampler, given what its call names (``names``, read off
    its signature when not given): ``batch`` for a data-aware one, ``model`` for a
    model-aware one, which is called under ``torch.no_grad`` with the model in eval mode."""
    names = sampler_names(sampler) if names is None else names
    kwargs: dict[str, Any] = {"batch": batch} if "batch" in names else {}
    if "model" not in names:
        return sampler(layout, batch_size, generator, **kwargs)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return sampler(layout, batch_size, generator, model=model, **kwargs)
    finally:
        model.train(was_training)


def layout_tokenizer(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen CPU copy of ``model``'s tokenizer, whose ``layout`` the data pipeline calls
    (in DataLoader workers too, where the model's own may sit on a GPU)."""
    import copy

    tok = copy.deepcopy(model.backbone.tokenizer).cpu().eval()
    for p in tok.parameters():
        p.requires_grad_(False)
    return tok


class _StepBatches(Dataset):
    """Step ``s`` -> the collated batch of step ``s``, its items read after torch, numpy and
    ``random`` are reseeded from (seed, s) in whichever process reads them: a dataset's
    random crops then depend on the step alone, not on which DataLoader worker drew them
    nor on what it drew before (which a resumed run's fresh workers cannot reproduce).
    With ``draw`` (a :class:`StepDraw`): ``(batch, masks or views)``."""

    def __init__(self, dataset: Any, collate, batch_size: int, seed: int, draw: StepDraw | None = None):
        self.dataset, self.collate, self.bs, self.seed, self.draw = dataset, collate, batch_size, seed, draw

    def __getitem__(self, s: int) -> Batch | tuple[Batch, Any]:
        seed_everything(step_seed(self.seed, s, 3))
        batch = self.collate([self.dataset[i] for i in batch_indices(len(self.dataset), self.bs, self.seed, s)])
        return batch if self.draw is None else (batch, self.draw(batch, s))


def _as_is(batch: Batch) -> Batch:
    return batch


def _worker_init(_: int) -> None:
    """DataLoader workers leave SIGINT/SIGTERM to the training process, which stops at a
    step boundary (a Ctrl-C reaches the whole process group; a worker that died of it
    would fail the run instead)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def iterate_batches(
    dataset: Any, collate, batch_size: int, seed: int, start: int, stop: int, workers: int, draw: StepDraw | None = None,
) -> Iterable[Batch]:
    """Batches for steps ``start..stop-1``, each a function of (seed, step) only: the same
    with any number of workers, and on resume (see :class:`_StepBatches`). A dataset that
    draws its randomness from torch, numpy or ``random``'s global generators qualifies; one
    that keeps its own generator across items does not. With ``draw``: ``(batch, masks)``
    pairs, the masks drawn next to the collate (in the workers when ``workers`` > 0)."""
    steps = _StepBatches(dataset, collate, batch_size, seed, draw)
    if workers <= 0:
        for s in range(start, stop):
            yield steps[s]
        return
    loader = DataLoader(
        steps, sampler=range(start, stop), batch_size=None, num_workers=workers, collate_fn=_as_is,
        worker_init_fn=_worker_init, persistent_workers=False,
    )
    yield from loader


def is_path(data: Any) -> bool:
    """Whether ``data`` names a file or folder (else it is an in-memory data object)."""
    return isinstance(data, (str, os.PathLike))


def describe_data(data: Any) -> str:
    """What a config records for an in-memory data object (configs stay JSON):
    ``<DataFrame 300x12>``, ``<ndarray 500x6>``, ``<list of 40>``."""
    name = type(data).__name__
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(d, (int, np.integer)) for d in shape):
        return f"<{name} {'x'.join(str(int(d)) for d in shape)}>"
    try:
        return f"<{name} of {len(data)}>"
    except TypeError:
        return f"<{name}>"


def _is_description(path: Any) -> bool:
    return isinstance(path, str) and path.startswith("<") and path.endswith(">")


def split_data_object(data: Any, *layers: Any) -> tuple[Any, list[Any]]:
    """An in-memory object given as ``data`` or as ``data.path`` of a config mapping:
    ``(object or None, layers)``, the object replaced in the layers by its description
    (never deep-copied into a config nor turned into a file name)."""
    obj = data if data is not None and not is_path(data) else None
    out = []
    for layer in layers:
        section = layer.get("data") if isinstance(layer, Mapping) else None
        path = section.get("path") if isinstance(section, Mapping) else None
        if path is not None and not is_path(path):
            obj = path if obj is None else obj
            layer = {**layer, "data": {**section, "path": describe_data(path)}}
        out.append(layer)
    return obj, out


def load_bundle(
    domain: Domain, cfg: Mapping[str, Any], state: Mapping[str, Any] | None = None, data: Any = None,
) -> DataBundle:
    """Call the domain's loader with the ``data`` section, validating its keys.

    ``data``: an in-memory data object (a DataFrame, an array...) handed to the loader as
    ``path`` unchanged; ``cfg`` then holds only its description. Keys the domain has
    renamed (:attr:`Domain.renamed`) are read under their new names, with a one-line
    notice: every run, resumed or evaluated checkpoint reaches the loader through here.
    ``state``: the :attr:`DataBundle.state` a checkpoint or export saved
    (:func:`jepakit.checkpoint.bundle_state`), handed to a loader that names ``state``;
    the state the loader returns must be JSON-serialisable (it is saved as JSON)."""
    from .domain import rename_options

    kwargs = rename_options(cfg["data"], domain.renamed or {})
    params = inspect.signature(domain.load).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    bad = [k for k in kwargs if (k not in params and not var_kw) or (k == "state" and "state" in params)]
    if bad:
        valid = [k for k in params if params[k].kind not in (params[k].VAR_POSITIONAL, params[k].VAR_KEYWORD) and k != "state"]
        raise ConfigError(f"domain {domain.name!r} has no data option {bad[0]!r}; valid: {', '.join(valid)}")
    if state is not None and "state" in params:
        kwargs["state"] = json.loads(json.dumps(dict(state)))  # the loader's own copy, as it was saved
    if data is not None:
        kwargs["path"] = data if not is_path(data) else os.fspath(data)
    elif _is_description(kwargs.get("path")):
        raise DataError(
            f"this run was pretrained on in-memory data {kwargs['path']}; pass that data again (data=... in Python)"
        )
    if is_path(kwargs.get("path")) and not Path(kwargs["path"]).exists():
        raise DataError(f"data path {kwargs['path']} does not exist")
    try:
        bundle = domain.load(**kwargs)
    except (JepakitError, OSError):
        raise
    except Exception as exc:  # a loader's refusal of a data option, or its bug: one line naming the domain
        from .plugins import _one_line

        raise DataError(f"domain {domain.name!r} could not load its data: {_one_line(exc)}") from None
    if not isinstance(bundle, DataBundle):
        raise JepakitError(f"domain {domain.name!r} loader returned {type(bundle).__name__}, not a DataBundle")
    try:
        if not isinstance(bundle.state, dict):
            raise TypeError(f"got a {type(bundle.state).__name__}, not a dict")
        json.dumps(bundle.state)
    except (TypeError, ValueError) as exc:
        raise JepakitError(f"domain {domain.name!r}: DataBundle.state must be JSON-serialisable (it is saved with "
                           f"checkpoints and exports): {exc}") from None
    if len(bundle.pretrain) == 0:
        raise DataError(f"domain {domain.name!r}: the pretraining data is empty")
    return bundle


def collate_of(bundle: DataBundle):
    return bundle.collate or default_collate


def build_backbone(cfg: Mapping[str, Any], bundle: DataBundle, sample: Batch | None = None) -> Backbone:
    """Tokenizer + encoder for ``cfg`` on ``bundle`` (the layout is read off a sample batch)."""
    m = cfg["model"]
    offered = offered_facts(cfg, bundle)
    name, kwargs = cfgmod.component(cfg, "tokenizer")
    tokenizer = create("tokenizer", name, kwargs, offered)
    if sample is None:
        collate = collate_of(bundle)
        sample = collate([bundle.pretrain[i] for i in range(min(2, len(bundle.pretrain)))])
    layout = tokenizer.layout(sample)
    return Backbone(
        tokenizer, layout.grid, layout.num_prefix, m["width"], m["depth"], m["heads"], m["mlp_ratio"], m["pos"], m["drop_path"],
        segments=layout.segments,
    )


RECIPES = {
    "jepa": "masked prediction: context encoder, predictor, target (I-JEPA; + SIGReg with loss.sigreg > 0)",
    "lejepa": "multi-view: views through the tokenizer's keep, projector, invariance + SIGReg, no predictor, no EMA",
}


def offered_facts(cfg: Mapping[str, Any], bundle: DataBundle) -> dict[str, Any]:
    """What the core offers every component factory: the model width, the run's length, the
    timm architecture named by ``model.arch`` (as ``arch``, when set) and the data's facts."""
    arch = {"arch": cfg["model"]["arch"]} if cfg["model"].get("arch") else {}  # a named timm ViT (jepakit.archs)
    return {"dim": cfg["model"]["width"], "steps": int(cfg["train"]["steps"]), **arch, **bundle.info}


def build(cfg: Mapping[str, Any], bundle: DataBundle) -> tuple[torch.nn.Module, Any]:
    """The model and its per-step sampler described by ``cfg`` for the data in ``bundle``:
    a JEPA and its masker, or (``recipe.name=lejepa``) a LeJEPA and its view sampler."""
    m = cfg["model"]
    offered = offered_facts(cfg, bundle)
    backbone = build_backbone(cfg, bundle)
    # checkpoints from before recipes existed hold no recipe section: masked prediction
    recipe = dict(cfg.get("recipe") or {"name": "jepa"})
    name = recipe.pop("name", "jepa")
    if name not in RECIPES:
        raise unknown("recipe", name, RECIPES)
    seed = int(cfg["train"]["seed"])
    if name == "lejepa":
        from .lejepa import LeJEPA

        vname, vkw = cfgmod.component(cfg, "views")
        sampler = create("views", vname, vkw, offered)
        return checked_call(LeJEPA, "recipe 'lejepa'", backbone, seed=seed, **recipe), sampler
    if recipe:
        raise ConfigError(f"recipe 'jepa' takes no arguments (got {', '.join(recipe)}); its settings live in masker, target and loss")
    tname, tkw = cfgmod.component(cfg, "target")
    target = create("target", tname, tkw, offered)
    mname, mkw = cfgmod.component(cfg, "masker")
    masker = create("masker", mname, mkw, offered)
    predictor = build_predictor(cfg, bundle, backbone, target)
    loss = dict(cfg["loss"])
    short = {k: loss.pop(k) for k in list(loss) if k in cfgmod.DEFAULTS["loss"] and k != "name"}
    loss_name = loss.pop("name", None) or "smooth_l1"
    regularizers = build_regularizers(cfg, offered)
    model = checked_call(
        JEPA, "loss", backbone, target, create("loss", loss_name, loss, offered), short["var_weight"], short["var_gamma"],
        m["pred_width"], m["pred_depth"], m["pred_heads"], m["mlp_ratio"], m["pos"], m["drop_path"],
        sigreg=short.get("sigreg", 0.0), sigreg_on=short.get("sigreg_on", "pooled"), sigreg_slices=short.get("sigreg_slices", 1024),
        seed=seed, cov_weight=short.get("cov_weight", 0.0), predictor=predictor, regularizers=regularizers,
    )
    return model, masker


def build_regularizers(cfg: Mapping[str, Any], offered: Mapping[str, Any]) -> dict[str, Any]:
    """The ``regularizers`` section's regularizers by name; a factory naming ``seed`` gets
    ``train.seed`` unless the section gives one (directions identical on every rank)."""
    out, entries = {}, registry("regularizer")
    for name, args in (cfg.get("regularizers") or {}).items():
        args = dict(args or {})
        names = factory_params(entries[name].factory)[0] if name in entries else set()  # an unknown name: create says so
        if "seed" in names and "seed" not in args:
            args["seed"] = int(cfg["train"]["seed"])
        out[name] = create("regularizer", name, args, offered)
    return out


def predictor_facts(cfg: Mapping[str, Any], bundle: DataBundle, backbone: Backbone, out_dim: int) -> dict[str, Any]:
    """What the core offers a predictor's factory (:mod:`jepakit.predictors`): the
    offered facts of every component, the token layout, the encoder and target widths
    and the ``model`` section's predictor sizes."""
    m = cfg["model"]
    return {
        **offered_facts(cfg, bundle), "grid": tuple(backbone.grid), "segments": backbone.segments,
        "num_prefix": backbone.num_prefix, "width": backbone.width,
        "out_dim": int(out_dim), "pred_width": m["pred_width"], "pred_depth": m["pred_depth"], "pred_heads": m["pred_heads"],
        "mlp_ratio": m["mlp_ratio"], "pos": m["pos"], "drop_path": m["drop_path"],
    }


def build_predictor(cfg: Mapping[str, Any], bundle: DataBundle, backbone: Backbone, target: Any) -> torch.nn.Module:
    """The ``predictor`` section's predictor (the ``transformer`` for configs that predate
    the section, as checkpoints of earlier versions hold)."""
    section = dict(cfg.get("predictor") or {"name": "transformer"})
    name = section.pop("name", None) or "transformer"
    facts = predictor_facts(cfg, bundle, backbone, target.dim or backbone.width)
    return create("predictor", name, section, facts)


def checked_call(factory: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)`` with bad arguments reported in one line naming ``what``."""
    names, var_kw = factory_params(factory)
    bad = [k for k in kwargs if k not in names and not var_kw]
    if bad:
        valid = sorted(names - {"backbone", "seed", "target", "predictor"})
        raise ConfigError(f"{what} has no argument {bad[0]!r}; valid: {', '.join(valid)}")
    try:
        return factory(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


def lr_at(step: int, cfg: Mapping[str, Any]) -> float:
    t = cfg["train"]
    total = max(1, int(t["steps"]))
    warm = t["warmup"]
    warm = int(warm * total) if isinstance(warm, float) and warm < 1 else int(warm)
    if step < warm:
        return t["lr"] * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return t["min_lr"] + 0.5 * (t["lr"] - t["min_lr"]) * (1 + math.cos(math.pi * min(frac, 1.0)))


def no_weight_decay_names(model: torch.nn.Module) -> set[str]:
    """Parameters exempt from weight decay: every 0-/1-D tensor (biases, norm scales) and
    whatever a module declares through a ``no_weight_decay()`` method returning names of
    its own parameters (timm's convention: position tables, mask and register tokens)."""
    names = {n for n, p in model.named_parameters() if p.ndim <= 1}
    for prefix, module in model.named_modules():
        declare = getattr(module, "no_weight_decay", None)
        if callable(declare):
            names |= {f"{prefix}.{n}" if prefix else n for n in declare()}
    return names


def make_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.AdamW:
    exempt = no_weight_decay_names(model)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if name in exempt else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg["train"]["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg["train"]["lr"], betas=(0.9, 0.95))


def user_layers(config: Any, overrides: Any) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The user's config layers as mappings: the config (dict or YAML file) and the
    overrides (dict or ``key=value`` strings); in-memory data replaced by its description."""
    file_layer = cfgmod.load_file(config) if isinstance(config, (str, os.PathLike)) else config
    set_layer = overrides if overrides is None or isinstance(overrides, Mapping) else cfgmod.parse_sets(overrides)
    _, (file_layer, set_layer) = split_data_object(None, file_layer, set_layer)
    return file_layer, set_layer


def resolve_config(
    domain: Domain, config: Mapping[str, Any] | str | os.PathLike | None = None, overrides: Any = None,
    preset: Mapping[str, Any] | None = None, data: Any = None,
) -> dict[str, Any]:
    """Core defaults <- domain defaults <- preset <- config (dict or YAML file) <- overrides
    (dict or ``key=value`` strings) <- ``data`` (a path, or an in-memory object recorded as
    its description). ``synthetic`` sections of the layers reach ``data`` only when no
    data of the user's is given (see :mod:`jepakit.config`)."""
    file_layer, set_layer = user_layers(config, overrides)
    data_layer = None
    if data is not None:
        data_layer = {"data": {"path": os.fspath(data) if is_path(data) else describe_data(data)}}
    # old data key names are renamed layer by layer (a user's old name then overrides a
    # preset's new one, as the same key would), each told once by a deprecation notice
    layers = [_renamed_layer(layer, domain.renamed) for layer in (domain.defaults, preset, file_layer, set_layer)]
    cfg = cfgmod.merge(*layers, data_layer)  # validated (jepakit.schema)
    apply_arch(cfg, [layers[2], layers[3]])  # model.arch: timm's sizes (the user's own must agree)
    cfgmod.check_run(cfg)  # rules between keys, the device exists
    if cfg["eval"]["pool"] != "tokens":
        try:
            pool_stats(cfg["eval"]["pool"])
        except ValueError as exc:
            raise ConfigError(f"eval.pool: {exc}") from None
    return cfg


def _renamed_layer(layer: Mapping[str, Any] | None, renamed: Mapping[str, str] | None) -> Mapping[str, Any] | None:
    """A config layer with its ``data`` and ``synthetic`` keys under their current names."""
    if not layer or not renamed:
        return layer
    from .domain import rename_options

    return {k: rename_options(v, renamed) if k in ("data", cfgmod.SYNTHETIC) and isinstance(v, Mapping) else v
            for k, v in layer.items()}


def resume_config(state: Mapping[str, Any], config: Any = None, overrides: Any = None, data: Any = None) -> dict[str, Any]:
    """A checkpoint's config with the user's config, overrides and data path applied where
    a resumed run allows it (:func:`jepakit.config.on_resume`; the rest is refused)."""
    file_layer, set_layer = user_layers(config, overrides)
    data_layer = {"data": {"path": os.fspath(data)}} if data is not None and is_path(data) else None
    cfg = cfgmod.on_resume(state["config"], [file_layer, set_layer, data_layer], int(state.get("step", 0)))
    cfgmod.check_run(cfg)  # rules between keys, the device exists
    return cfg


def _init_distributed(device: torch.device) -> bool:
    """Join the process group that ``torchrun`` describes in the environment."""
    dist = torch.distributed
    if not dist.is_available():
        return False
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.is_initialized() and dist.get_world_size() > 1


_clock = time.monotonic  # the time-based checkpoint cadence reads this (tests replace it)
LOCK_FILE = ".jepakit.lock"
RUN_FILE = "run.json"
# what a run writes into its folder: --overwrite removes these, and only these
RUN_ARTEFACTS = ("checkpoints", "config.json", "history.json", "history.jsonl", RUN_FILE, "metrics.jsonl", "tensorboard")


class _RunGuard:
    """One :func:`pretrain` call's hold on its output folder (a lock file naming its pid,
    the run id) and on SIGINT/SIGTERM (a flag the loop reads at step boundaries); both
    are given back when the call ends, however it ends."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock: Path | None = None
        self.run_id: str | None = None
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}
        self.speak = True
        self.replace: list[Path] = []  # the old run's files that --overwrite removes once this run starts
        self.created: list[Path] = []  # folders made for the lock: removed again if the run leaves them empty

    def __enter__(self) -> _RunGuard:
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}
        if self.lock is not None:
            try:
                if json.loads(self.lock.read_text()).get("pid") == self.pid:
                    self.lock.unlink()
            except (OSError, ValueError):
                pass
            self.lock = None
        for folder in self.created:  # deepest first; a run that failed to start leaves no trace
            try:
                folder.rmdir()
            except OSError:
                break
        self.created = []

    def _take_lock(self, path: Path) -> None:
        mine = json.dumps({"pid": self.pid, "host": socket.gethostname(), "started": time.time()})
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    held = json.loads(path.read_text() or "{}")
                except (OSError, ValueError):
                    held = {}
                pid, host = held.get("pid"), held.get("host")
                if not isinstance(pid, int):
                    raise JepakitError(f"{path.parent} is locked by {path}, which names no process; delete it if no run uses that folder") from None
                if host != socket.gethostname():
                    raise JepakitError(
                        f"{path.parent} is in use by process {pid} on {host} (lock {path}); if that run is gone, delete the lock"
                    ) from None
                if pid_alive(pid):
                    raise JepakitError(
                        f"{path.parent} is in use by process {pid} (lock {path}); wait for that run to end, or stop it, or choose another --out"
                    ) from None
                errmod.notice(f"taking over the stale lock {path} of process {pid}, which is no longer running", UserWarning)
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(mine)
            self.lock = path
            return
        raise JepakitError(f"could not lock {path.parent}: another run keeps taking {path}")

    def claim(self, out_dir: Path, resume: bool, overwrite: bool) -> None:
        """Lock ``out_dir`` (rank 0) and check that it may take this run: a new run needs an
        empty folder, or ``overwrite`` (the old run's files, and only those, are removed
        by :meth:`begin`, so a run that fails to start leaves the old one intact)."""
        if resume and overwrite:
            raise ConfigError("resume and overwrite exclude each other: --resume continues the run in --out, --overwrite replaces it")
        self.speak = int(os.environ.get("RANK", "0")) == 0
        if not self.speak:  # rank 0 holds the folder for every rank of a torchrun job
            return
        self.created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
        out_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock(out_dir / LOCK_FILE)
        if resume:
            return
        held = sorted(p.name for p in out_dir.iterdir() if p.name != LOCK_FILE)
        ours = [n for n in held if n in RUN_ARTEFACTS]
        if held and not overwrite:
            if ours:
                hint = "--resume to continue it or " if (out_dir / "checkpoints").exists() else ""
                raise JepakitError(
                    f"{out_dir} already holds a run ({', '.join(ours)}); pass {hint}--overwrite to replace it, or choose another "
                    "--out (Python: resume=True / overwrite=True)"
                )
            raise JepakitError(f"{out_dir} is not empty ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}); choose another --out")
        self.replace = [out_dir / name for name in ours]

    def begin(self, out_dir: Path) -> None:
        """Training starts: clear what ``overwrite`` replaces; record the run's id."""
        for p in self.replace:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        self.replace = []
        if self.run_id is None:
            self.run_id = uuid.uuid4().hex[:12]
        if self.speak:
            (out_dir / RUN_FILE).write_text(json.dumps({"run_id": self.run_id}))

    def resumed(self, out_dir: Path, state: Mapping[str, Any], ckpt: Path | None) -> None:
        """Check that the checkpoint being resumed belongs to the run that ``out_dir`` holds."""
        marker = None
        try:
            marker = json.loads((out_dir / RUN_FILE).read_text()).get("run_id")
        except (OSError, ValueError):
            pass
        mine = state.get("run_id")
        if mine and marker and mine != marker:
            raise JepakitError(
                f"checkpoint {ckpt} belongs to run {mine}, but {out_dir} now holds run {marker}, which wrote no checkpoint; "
                "--resume cannot continue it (pass --overwrite to start afresh)"
            )
        self.run_id = mine or marker or uuid.uuid4().hex[:12]

    def watch_signals(self) -> None:
        """SIGINT/SIGTERM set a flag that the loop reads at step boundaries (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:  # a forked DataLoader worker before its init
            return
        if self.signum is not None:
            if signum == signal.SIGINT:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            return  # a repeated SIGTERM (torchrun's agent, a scheduler) changes nothing
        self.signum = signum
        if self.speak:  # os.write: print() is not safe inside a signal handler
            os.write(2, f"{signal.Signals(signum).name}: stopping after this step to write a checkpoint (Ctrl-C again stops at once)\n".encode())

    def stop_requested(self, distributed: bool, device: torch.device) -> bool:
        """Whether to stop now; under torchrun every rank stops at the same step."""
        flag = self.signum is not None
        if distributed:
            t = torch.tensor([float(self.signum or 0)], device=device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            self.signum = self.signum or (int(t.item()) or None)
            flag = self.signum is not None
        return flag


def _resume_hint(domain: str, out_dir: Path, cfg: Mapping[str, Any], distributed: bool) -> str:
    if _is_description(cfg["data"].get("path")):
        return f"resume with: pretrain({domain!r}, data=<the same data>, out={str(out_dir)!r}, resume=True)"
    cmd = f"jepakit pretrain {domain} --out {shlex.quote(str(out_dir))} --resume"
    return f"resume with: {cmd}" + (" (under torchrun, as before)" if distributed else "")


def pretrain(
    domain: str | Domain,
    data: Any = None,
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    overrides: Any = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    preset: Mapping[str, Any] | None = None,
    bundle: DataBundle | None = None,
    echo: bool = True,
    overwrite: bool = False,
) -> Run:
    """Pretrain a JEPA on ``domain``'s data (its default data when ``data`` is None).

    The Python twin of ``jepakit pretrain``. ``data``: a path, or an in-memory object
    that the domain's loader reads (a DataFrame for tabular), passed to it unchanged.
    ``out`` receives checkpoints, ``history.json`` and ``config.json``; ``resume=True``
    continues from its latest checkpoint. ``echo`` prints the loaded data's one-line
    description. Raises :class:`TrainingDiverged` on a NaN/Inf loss (the last good
    checkpoint is kept).

    ``out`` is locked for the run (``.jepakit.lock``, naming the process). A new run
    needs an empty ``out``; ``overwrite=True`` replaces the run it holds (its files only).
    Checkpoints are written every ``train.ckpt_every`` steps, every ``train.ckpt_minutes``
    minutes and at the end. SIGINT or SIGTERM stops the run at the next step boundary
    with a checkpoint and raises :class:`~jepakit.errors.TrainingInterrupted`, which
    says how to resume.
    """
    with _RunGuard() as hold:
        return _pretrain(hold, domain, data, config, overrides, out, resume, preset, bundle, echo, overwrite)


def _pretrain(
    hold: _RunGuard, domain: str | Domain, data: Any, config: Any, overrides: Any, out: str | os.PathLike | None, resume: bool,
    preset: Mapping[str, Any] | None, bundle: DataBundle | None, echo: bool, overwrite: bool,
) -> Run:
    dom = get_domain(domain) if isinstance(domain, str) else domain
    obj, (config, overrides) = split_data_object(data, config, overrides)
    out_dir = Path(out) if out is not None else Path("runs") / f"{dom.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    hold.claim(out_dir, resume, overwrite)
    if resume:
        if hold.speak:
            remove_stale(out_dir)  # what a killed save left; this call holds the run's lock
        ckpt_dir, state, weights = read_checkpoint(out_dir, optimizer=True)  # the latest intact one
        cfg = resume_config(state, config, overrides, data)
    else:
        cfg = resolve_config(dom, config, overrides, preset, obj if obj is not None else data)
        state, weights, ckpt_dir = None, None, None
    if state is not None:
        hold.resumed(out_dir, state, ckpt_dir)
    t = cfg["train"]
    seed_everything(int(t["seed"]))
    if bundle is None:  # a resumed run reads its data with the state it was trained with
        bundle = load_bundle(dom, cfg, None if state is None else bundle_state(state), data=obj)
    if echo and int(os.environ.get("RANK", "0")) == 0:
        print(f"[{dom.name}] pretraining: {bundle.describe or ''}".rstrip(": "), flush=True)
    device = pick_device(t["device"])
    torch.manual_seed(int(t["seed"]))
    model, sampler = build(cfg, bundle)
    layout_tok = layout_tokenizer(model)  # before the model moves: DataLoader workers call its layout
    model.to(device)
    opt = make_optimizer(model, cfg)
    start, history = 0, []
    if state is not None:
        missing = load_weights(model, weights, ckpt_dir)
        if missing.missing_keys or missing.unexpected_keys:
            raise JepakitError(f"checkpoint {ckpt_dir} does not match the model: {missing}")
        if "optimizer" in state:  # moments and step counts; lr and the rest come from the config
            load_optimizer(opt, read_optimizer(ckpt_dir), state["optimizer"])
        start, history = int(state["step"]), checkpoint_history(ckpt_dir, state)
    distributed = _init_distributed(device)
    rank = torch.distributed.get_rank() if distributed else 0
    rank0 = rank == 0
    out_dir.mkdir(parents=True, exist_ok=True)
    hold.begin(out_dir)
    if rank0:
        (out_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    steps, bs = int(t["steps"]), int(t["batch_size"])
    saved_state = {"config": cfg, "domain": dom.name, "info": bundle.info, BUNDLE_STATE: bundle.state, "run_id": hold.run_id}
    items = probe_batches(
        bundle.pretrain, collate_of(bundle), int(t["rankme_samples"]), int(cfg["eval"]["batch_size"]), lambda b: to_device(b, device)
    )
    guard = CollapseGuard(
        model.backbone, items, int(t["rankme_every"]), int(t["steps"]), float(t["collapse_rankme"]), float(t["rankme_eps"]),
        (cfg.get("recipe") or {}).get("name", "jepa"), bool(t["stop_on_collapse"]), any(h.get("collapsed") for h in history), rank0,
    )
    use_amp = device.type == "cuda"
    train_model = model
    if distributed:
        train_model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    began = time.perf_counter()
    bar = None
    if t["progress"] and rank0:
        from .progress import progress

        bar = progress(total=steps, initial=start, desc=f"pretrain {dom.name}", unit="step", dynamic_ncols=True)
    model.train()
    # each rank draws its own batches and masks; SIGReg directions stay shared
    data_seed = int(t["seed"]) + 7919 * rank
    # the step's masks (views) are drawn next to its collate, in the DataLoader workers when
    # train.workers > 0, from the same (seed, step) generator in any case
    draw = StepDraw(sampler, layout_tok.layout, bs, data_seed)
    batches = iter(iterate_batches(bundle.pretrain, collate_of(bundle), bs, data_seed, start, steps, int(t["workers"]),
                                   None if draw.in_loop else draw))
    waited = [0.0]  # seconds this run's loop waited for its batches
    metrics = MetricsLogger(out_dir, start, bs, enabled=rank0)  # metrics.jsonl (+ TensorBoard), loss spikes
    ckpt = Checkpointer(
        out_dir, lambda at, last: save_checkpoint(out_dir, at, model, opt, dict(saved_state, history=history), int(t["keep_checkpoints"]), last_good=last),
        history, ckpt_dir, start, steps, int(t["ckpt_every"]), float(t.get("ckpt_minutes") or 0), lambda: _clock(), rank0,
    )
    stop = CollapseStop(guard, ckpt)
    callbacks: list[Callback] = [stop.record, lambda s: metrics.log(s.rec, model, s.grad_norm), stop]
    if bar is not None:
        callbacks.append(ProgressLine(bar, bs, start, lambda: waited[0]))
    callbacks += [ckpt, SignalStop(hold, ckpt, steps, distributed, device, lambda: _resume_hint(dom.name, out_dir, cfg, distributed))]

    hold.watch_signals()
    try:
        for step in range(start, steps):
            tic = time.perf_counter()
            fetched = next(batches)
            data_wait = time.perf_counter() - tic  # the data pipeline's lag behind the step (all of its work with workers=0)
            waited[0] += data_wait
            tic = time.perf_counter()
            if draw.in_loop:  # a model-aware masker: drawn here, with the model, on the device batch
                batch = to_device(fetched, device)
                drawn = draw(fetched, step, model, batch).to(device)
            else:
                batch, drawn = to_device(fetched[0], device), fetched[1].to(device)
            lr = lr_at(step, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            torch.manual_seed(step_seed(t["seed"], step, 7))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                outs = train_model(batch, drawn)
            loss = outs["loss"]
            if not torch.isfinite(loss):
                where = f"; the last good checkpoint is {ckpt.last}" if ckpt.last else "; no checkpoint was written yet"
                blame_data(batch, batch_indices(len(bundle.pretrain), bs, data_seed, step), step, where)
                raise TrainingDiverged(
                    f"loss became {loss.item()} at step {step + 1} (lr {lr:.3g}){where}. Lower train.lr or train.clip, or check the data for NaN"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = None  # before clipping; without clipping the logger measures it
            if t["clip"]:
                grad_norm = torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), float(t["clip"]))
            opt.step()
            model.update((step + 1) / steps)
            dt = time.perf_counter() - tic
            rec = {"step": step + 1, "lr": lr, "seconds": dt, "data_wait": data_wait}
            rec.update({k: float(v.detach()) for k, v in outs.items() if torch.is_tensor(v) and v.ndim == 0})
            history.append(rec)
            done = Step(step + 1, rec, grad_norm, dt)
            for callback in callbacks:
                callback(done)
    finally:
        metrics.close()  # the end event: finished, or the exception in flight
        if bar is not None:
            bar.close()
    ckpt.write_history()
    last_ckpt = ckpt.last
    model.eval()
    return Run(out_dir, cfg, model, bundle, dom.name, history, last_ckpt, time.perf_counter() - began)


def config_for_data(dom: Domain, cfg: Mapping[str, Any], data: Any = None) -> tuple[dict[str, Any], Any]:
    """A saved run's config pointed at ``data`` (None: the run's own data), and the
    in-memory data object to hand the loader (None for a path). On data of the user's,
    the data keys that the domain's presets declare ``synthetic`` (sizes of its embedded
    data) are left out."""
    cfg = dict(cfg)
    if data is None:
        return cfg, None
    drop = cfgmod.synthetic_keys(dom.defaults, dom.quick, dom.bench, *dict(dom.variants).values())
    section = {k: v for k, v in cfg["data"].items() if k not in drop}
    section["path"] = os.fspath(data) if is_path(data) else describe_data(data)
    cfg["data"] = section
    return cfg, None if is_path(data) else data


def load_run(path: str | os.PathLike, data: Any = None) -> Run:
    """Rebuild a pretrained model from a checkpoint (and its domain's data, or ``data``:
    a path or an in-memory object). On data of the user's, the data keys that the
    domain's presets declare ``synthetic`` (sizes of its embedded data) are left out."""
    ckpt, state, weights = read_checkpoint(path)
    dom = get_domain(state["domain"])
    cfg, obj = config_for_data(dom, state["config"], data)
    bundle = load_bundle(dom, cfg, bundle_state(state), data=obj)
    model, _ = build(cfg, bundle)
    result = load_weights(model, weights, ckpt)
    if result.missing_keys:
        raise JepakitError(f"checkpoint {ckpt} lacks weights for {result.missing_keys[:3]}")
    model.eval()
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt
    history = checkpoint_history(ckpt, state)
    return Run(run_dir, cfg, model, bundle, dom.name, history, ckpt)


def load_weights(model: torch.nn.Module, weights: Mapping[str, torch.Tensor], ckpt: Path | None) -> Any:
    """``model.load_state_dict(weights, strict=False)``, a shape mismatch in one line."""
    try:
        return model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "mismatch" in ln), lines[-1] if lines else "")
        raise JepakitError(f"checkpoint {ckpt} does not match the model: {detail}") from None


__all__ = ["Run", "build", "build_backbone", "find_checkpoint", "load_bundle", "load_run", "pretrain", "resolve_config"]
