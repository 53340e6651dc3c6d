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
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, default_collate

from . import config as cfgmod
from .checkpoint import find_checkpoint, load_optimizer, read_checkpoint, read_optimizer, save_checkpoint
from .collapse import CollapseGuard, probe_batches
from .contract import Batch, DataBundle, Domain
from .errors import ConfigError, DataError, JepakitError, TrainingCollapsed, TrainingDiverged, unknown
from .model import JEPA, Backbone, pool_stats
from .plugins import create, factory_params, get_domain


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


def to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


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


class _StepSampler(Sampler):
    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int):
        self.n, self.bs, self.seed, self.start, self.stop = n, batch_size, seed, start, stop

    def __iter__(self):
        for s in range(self.start, self.stop):
            yield batch_indices(self.n, self.bs, self.seed, s)

    def __len__(self) -> int:
        return self.stop - self.start


def iterate_batches(dataset: Any, collate, batch_size: int, seed: int, start: int, stop: int, workers: int) -> Iterable[Batch]:
    """Batches for steps ``start..stop-1``. In-process loading reseeds torch/numpy per
    step so that random crops are reproducible on resume."""
    if workers <= 0:
        for s in range(start, stop):
            seed_everything(step_seed(seed, s, 3))
            yield collate([dataset[i] for i in batch_indices(len(dataset), batch_size, seed, s)])
        return
    loader = DataLoader(
        dataset, batch_sampler=_StepSampler(len(dataset), batch_size, seed, start, stop), num_workers=workers,
        collate_fn=collate, persistent_workers=False,
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
    domain: Domain, cfg: Mapping[str, Any], fitted: Mapping[str, Any] | None = None, data: Any = None,
) -> DataBundle:
    """Call the domain's loader with the ``data`` section, validating its keys.

    ``data``: an in-memory data object (a DataFrame, an array...) handed to the loader as
    ``path`` unchanged; ``cfg`` then holds only its description."""
    kwargs = dict(cfg["data"])
    params = inspect.signature(domain.load).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    bad = [k for k in kwargs if k not in params and not var_kw]
    if bad:
        valid = [k for k in params if params[k].kind not in (params[k].VAR_POSITIONAL, params[k].VAR_KEYWORD) and k != "fitted"]
        raise ConfigError(f"domain {domain.name!r} has no data option {bad[0]!r}; valid: {', '.join(valid)}")
    if fitted is not None and "fitted" in params:
        kwargs["fitted"] = dict(fitted)
    if data is not None:
        kwargs["path"] = data if not is_path(data) else os.fspath(data)
    elif _is_description(kwargs.get("path")):
        raise DataError(
            f"this run was pretrained on in-memory data {kwargs['path']}; pass that data again (data=... in Python)"
        )
    if is_path(kwargs.get("path")) and not Path(kwargs["path"]).exists():
        raise DataError(f"data path {kwargs['path']} does not exist")
    bundle = domain.load(**kwargs)
    if not isinstance(bundle, DataBundle):
        raise JepakitError(f"domain {domain.name!r} loader returned {type(bundle).__name__}, not a DataBundle")
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
        tokenizer, layout.grid, layout.num_prefix, m["width"], m["depth"], m["heads"], m["mlp_ratio"], m["pos"], m["drop_path"]
    )


RECIPES = {
    "jepa": "masked prediction: context encoder, predictor, target (I-JEPA; + SIGReg with loss.sigreg > 0)",
    "lejepa": "multi-view: views through the tokenizer's keep, projector, invariance + SIGReg, no predictor, no EMA",
}


def offered_facts(cfg: Mapping[str, Any], bundle: DataBundle) -> dict[str, Any]:
    """What the core offers every component factory: the model width, the run's length and
    the data's facts."""
    return {"dim": cfg["model"]["width"], "steps": int(cfg["train"]["steps"]), **bundle.info}


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
    loss = dict(cfg["loss"])
    model = checked_call(
        JEPA, "loss", backbone, target, loss["name"], loss["var_weight"], loss["var_gamma"], m["pred_width"], m["pred_depth"],
        m["pred_heads"], m["mlp_ratio"], m["pos"], m["drop_path"], sigreg=loss.get("sigreg", 0.0),
        sigreg_on=loss.get("sigreg_on", "pooled"), sigreg_slices=loss.get("sigreg_slices", 1024), seed=seed,
        cov_weight=loss.get("cov_weight", 0.0),
    )
    return model, masker


def checked_call(factory: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)`` with bad arguments reported in one line naming ``what``."""
    names, var_kw = factory_params(factory)
    bad = [k for k in kwargs if k not in names and not var_kw]
    if bad:
        valid = sorted(names - {"backbone", "seed", "target"})
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
    cfg = cfgmod.merge(domain.defaults, preset, file_layer, set_layer, data_layer)
    if cfg["eval"]["pool"] != "tokens":
        try:
            pool_stats(cfg["eval"]["pool"])
        except ValueError as exc:
            raise ConfigError(f"eval.pool: {exc}") from None
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
) -> Run:
    """Pretrain a JEPA on ``domain``'s data (its default data when ``data`` is None).

    The Python twin of ``jepakit pretrain``. ``data``: a path, or an in-memory object
    that the domain's loader reads (a DataFrame for tabular), passed to it unchanged.
    ``out`` receives checkpoints, ``history.json`` and ``config.json``; ``resume=True``
    continues from its latest checkpoint. ``echo`` prints the loaded data's one-line
    description. Raises :class:`TrainingDiverged` on a NaN/Inf loss (the last good
    checkpoint is kept).
    """
    dom = get_domain(domain) if isinstance(domain, str) else domain
    obj, (config, overrides) = split_data_object(data, config, overrides)
    out_dir = Path(out) if out is not None else Path("runs") / f"{dom.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if resume:
        ckpt_dir, state, weights = read_checkpoint(out_dir)
        cfg = state["config"]
    else:
        cfg = resolve_config(dom, config, overrides, preset, obj if obj is not None else data)
        state, weights, ckpt_dir = None, None, None
    t = cfg["train"]
    seed_everything(int(t["seed"]))
    if bundle is None:
        bundle = load_bundle(dom, cfg, data=obj)
    if echo and int(os.environ.get("RANK", "0")) == 0:
        print(f"[{dom.name}] pretraining: {bundle.describe or ''}".rstrip(": "), flush=True)
    device = pick_device(t["device"])
    torch.manual_seed(int(t["seed"]))
    model, sampler = build(cfg, bundle)
    model.to(device)
    opt = make_optimizer(model, cfg)
    start, history = 0, []
    if state is not None:
        missing = model.load_state_dict(weights, strict=False)
        if missing.missing_keys or missing.unexpected_keys:
            raise JepakitError(f"checkpoint {ckpt_dir} does not match the model: {missing}")
        if "optimizer" in state:
            load_optimizer(opt, read_optimizer(ckpt_dir), state["optimizer"])
        start, history = int(state["step"]), list(state.get("history", []))
    distributed = _init_distributed(device)
    rank = torch.distributed.get_rank() if distributed else 0
    rank0 = rank == 0
    out_dir.mkdir(parents=True, exist_ok=True)
    if rank0:
        (out_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    steps, bs = int(t["steps"]), int(t["batch_size"])
    saved_state = {"config": cfg, "domain": dom.name, "info": bundle.info}
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
    last_ckpt: Path | None = ckpt_dir
    began = time.perf_counter()
    bar = None
    if t["progress"] and rank0:
        from .progress import progress

        bar = progress(total=steps, initial=start, desc=f"pretrain {dom.name}", unit="step", dynamic_ncols=True)
    model.train()
    # each rank draws its own batches and masks; SIGReg directions stay shared
    data_seed = int(t["seed"]) + 7919 * rank
    batches = iterate_batches(bundle.pretrain, collate_of(bundle), bs, data_seed, start, steps, int(t["workers"]))
    try:
        for step, batch in zip(range(start, steps), batches):
            tic = time.perf_counter()
            batch = to_device(batch, device)
            lr = lr_at(step, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            layout = model.backbone.tokenizer.layout(batch)
            drawn = sampler(layout, bs, torch.Generator().manual_seed(step_seed(data_seed, step, 5))).to(device)
            torch.manual_seed(step_seed(t["seed"], step, 7))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                outs = train_model(batch, drawn)
            loss = outs["loss"]
            if not torch.isfinite(loss):
                where = f"; the last good checkpoint is {last_ckpt}" if last_ckpt else "; no checkpoint was written yet"
                raise TrainingDiverged(
                    f"loss became {loss.item()} at step {step + 1} (lr {lr:.3g}){where}. Lower train.lr or train.clip, or check the data for NaN"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t["clip"]:
                torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), float(t["clip"]))
            opt.step()
            model.update((step + 1) / steps)
            dt = time.perf_counter() - tic
            rec = {"step": step + 1, "lr": lr, "seconds": dt}
            rec.update({k: float(v.detach()) for k, v in outs.items() if torch.is_tensor(v) and v.ndim == 0})
            rec.update(guard.check(step + 1) or {})
            if guard.stop:
                history.append(rec)
                if rank0:
                    last_ckpt = save_checkpoint(out_dir, step + 1, model, opt, dict(saved_state, history=history), int(t["keep_checkpoints"]))
                    (out_dir / "history.json").write_text(json.dumps(history))
                raise TrainingCollapsed(f"{guard.message.split(';')[0]}; stopped (train.stop_on_collapse), checkpoint {last_ckpt}")
            history.append(rec)
            if bar is not None:
                post = {"loss": f"{rec['loss']:.4f}", "samples/s": f"{bs / dt:.1f}"}
                if "rankme" in rec:
                    post["rankme"] = f"{rec['rankme']:.1f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
            ckpt_every = int(t["ckpt_every"])
            if rank0 and ((ckpt_every and (step + 1) % ckpt_every == 0) or step + 1 == steps):
                last_ckpt = save_checkpoint(out_dir, step + 1, model, opt, dict(saved_state, history=history), int(t["keep_checkpoints"]))
    finally:
        if bar is not None:
            bar.close()
    if rank0:
        (out_dir / "history.json").write_text(json.dumps(history))
    model.eval()
    return Run(out_dir, cfg, model, bundle, dom.name, history, last_ckpt, time.perf_counter() - began)


def load_run(path: str | os.PathLike, data: Any = None) -> Run:
    """Rebuild a pretrained model from a checkpoint (and its domain's data, or ``data``:
    a path or an in-memory object). On data of the user's, the data keys that the
    domain's presets declare ``synthetic`` (sizes of its embedded data) are left out."""
    ckpt, state, weights = read_checkpoint(path)
    cfg = state["config"]
    dom = get_domain(state["domain"])
    obj = None
    if data is not None:
        drop = cfgmod.synthetic_keys(dom.defaults, dom.quick, dom.bench, *dict(dom.variants).values())
        section = {k: v for k, v in cfg["data"].items() if k not in drop}
        section["path"] = os.fspath(data) if is_path(data) else describe_data(data)
        obj = None if is_path(data) else data
        cfg = {**cfg, "data": section}
    bundle = load_bundle(dom, cfg, fitted=state.get("info"), data=obj)
    model, _ = build(cfg, bundle)
    result = model.load_state_dict(weights, strict=False)
    if result.missing_keys:
        raise JepakitError(f"checkpoint {ckpt} lacks weights for {result.missing_keys[:3]}")
    model.eval()
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt
    history = state.get("history", [])
    return Run(run_dir, cfg, model, bundle, dom.name, history, ckpt)


__all__ = ["Run", "build", "build_backbone", "find_checkpoint", "load_bundle", "load_run", "pretrain", "resolve_config"]
