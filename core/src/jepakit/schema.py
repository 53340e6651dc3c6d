"""The declared schema of the core's config sections: a type and a range per key.

:func:`validate` checks a merged config (``jepakit.config.merge`` calls it) and answers
a bad value with one line naming the key, the value and what is allowed::

    train.steps must be an integer >= 1, got 'abc'

Values are normalised where nothing is lost: an integral float is an integer (``1e3``
from ``--set train.steps=1e3``), a numeric string is a number (YAML 1.1 reads an
unquoted ``1e-3`` as a string), a single ``eval.metrics`` name is a list of one.

The component sections (``tokenizer``, ``masker``, ``views``, ``target``, ``predictor``) and ``data``
hold free arguments that the component's factory or the domain's loader validates; only
their ``name`` is checked here. A key of the defaults with no declared spec (a section a
later module adds) is checked against the type of its default value.

:data:`HELP` gives every key a one-line help string (:data:`SECTION_HELP` every section),
which ``jepakit config DOMAIN`` prints beside the resolved value.

:func:`check_run` adds the rules between keys (``model.width`` divisible by
``model.heads``, ``train.min_lr`` <= ``train.lr``) and that ``train.device`` exists here,
for the config a run will use. Torch-free: :func:`check_device` imports torch on call.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigError

# the code's own lists, repeated here so that validating a config imports no torch
# (tests/faults/test_inputs.py checks that they agree)
RECIPES = ("jepa", "lejepa")
SIGREG_ON = ("pooled", "positions", "pooled+positions")
POOL_STATS = ("mean", "std", "max", "flat")
POS = ("sincos", "learned", "none")
HEADS = ("linear", "knn", "mlp")


class Bad(Exception):
    """A value a spec refuses (turned into a :class:`ConfigError` naming the key)."""


class Spec:
    """Checks and normalises one value; ``allowed`` says what it accepts, in words."""

    allowed = "any value"

    def __call__(self, value: Any) -> Any:
        return value

    def refusal(self, key: str, value: Any) -> str:
        return f"{key} must be {self.allowed}, got {_show(value)}"


def _number(value: Any) -> float | int:
    """``value`` as an int or float (numpy scalars and numeric strings too), else :class:`Bad`."""
    if isinstance(value, bool):
        raise Bad
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                pass
    raise Bad


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return ""


def _in_range(v: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (v < lo or (lo_open and v == lo)):
        return False
    return not (hi is not None and (v > hi or (hi_open and v == hi)))


class Int(Spec):
    def __init__(self, lo: int | None = None, hi: int | None = None):
        self.lo, self.hi = lo, hi
        self.allowed = f"an integer {_bounds(lo, hi, False, False)}".rstrip()

    def __call__(self, value: Any) -> int:
        v = _number(value)
        if isinstance(v, float):
            if not math.isfinite(v) or v != int(v):
                raise Bad
            v = int(v)
        if not _in_range(v, self.lo, self.hi, False, False):
            raise Bad
        return int(v)


class Float(Spec):
    def __init__(self, lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.allowed = f"a finite number {_bounds(lo, hi, lo_open, hi_open)}".rstrip()

    def __call__(self, value: Any) -> float | int:
        v = _number(value)
        if not math.isfinite(v) or not _in_range(v, self.lo, self.hi, self.lo_open, self.hi_open):
            raise Bad
        return v


class Bool(Spec):
    allowed = "true or false"

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Bad
        return value


class Str(Spec):
    allowed = "a string"

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise Bad
        return value


class Choice(Spec):
    def __init__(self, *values: str):
        self.values = values
        self.allowed = "one of " + ", ".join(values)

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise Bad
        return value


class Named(Choice):
    """A choice among named things (recipes): refused as ``unknown recipe 'x'``."""

    def __init__(self, kind: str, *values: str):
        super().__init__(*values)
        self.kind = kind

    def refusal(self, key: str, value: Any) -> str:
        return f"unknown {self.kind} {_show(value)} ({key}); valid: {', '.join(self.values)}"


class Maybe(Spec):
    """``null`` or what ``spec`` accepts."""

    def __init__(self, spec: Spec, meaning: str = ""):
        self.spec = spec
        self.allowed = f"null{f' ({meaning})' if meaning else ''} or {spec.allowed}"

    def __call__(self, value: Any) -> Any:
        return None if value is None else self.spec(value)


class ListOf(Spec):
    """A non-empty list of what ``item`` accepts; ``single``: a lone item is a list of one."""

    def __init__(self, item: Spec, single: bool = False, unique: bool = False):
        self.item, self.single, self.unique = item, single, unique
        self.allowed = f"a non-empty list{' of distinct values' if unique else ''}, each {item.allowed}"

    def __call__(self, value: Any) -> list[Any]:
        if self.single and isinstance(value, str):
            value = [value]
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
            raise Bad
        out = [self.item(v) for v in value]
        if self.unique and len({repr(v) for v in out}) != len(out):
            raise Bad
        return out


class Warmup(Spec):
    allowed = "a fraction of train.steps in [0, 1) or a whole number of steps >= 0"

    def __init__(self, of: str = "train.steps"):
        self.allowed = f"a fraction of {of} in [0, 1) or a whole number of steps >= 0"

    def __call__(self, value: Any) -> float | int:
        v = _number(value)
        if not math.isfinite(v) or v < 0:
            raise Bad
        if isinstance(v, float) and v < 1:
            return v
        if v != int(v):
            raise Bad
        return int(v)


class Pool(Spec):
    allowed = f"tokens, or statistics joined by '+' from {', '.join(POOL_STATS)} (e.g. mean+std)"

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Bad
        if value == "tokens":
            return value
        stats = [s.strip() for s in value.split("+")]
        if any(s not in POOL_STATS for s in stats) or len(set(stats)) != len(stats):
            raise Bad
        return value


class Fraction(Float):
    def __init__(self):
        super().__init__(0.0, 1.0, lo_open=True)


NAME = Maybe(Str(), "none chosen")

# sections whose undeclared keys are a component's (or the data loader's) own arguments,
# validated by its factory against its signature
OWN_ARGUMENTS = ("data", "recipe", "tokenizer", "masker", "views", "target", "predictor", "loss", "regularizers")

SCHEMA: dict[str, dict[str, Spec]] = {
    "recipe": {"name": Named("recipe", *RECIPES)},
    "tokenizer": {"name": NAME},
    "masker": {"name": NAME},
    "views": {"name": NAME},
    "target": {"name": NAME},
    "predictor": {"name": NAME},
    "data": {},
    "regularizers": {},
    "loss": {
        "name": NAME, "var_weight": Float(0.0), "var_gamma": Float(0.0, lo_open=True), "cov_weight": Float(0.0),
        "sigreg": Float(0.0, 1.0), "sigreg_on": Choice(*SIGREG_ON), "sigreg_slices": Int(1),
    },
    "model": {
        "width": Int(1), "depth": Int(1), "heads": Int(1), "mlp_ratio": Float(0.0, lo_open=True), "pos": Choice(*POS),
        "drop_path": Float(0.0, 1.0, hi_open=True), "pred_width": Int(1), "pred_depth": Int(1), "pred_heads": Int(1),
    },
    "train": {
        "steps": Int(1), "batch_size": Int(1), "lr": Float(0.0, lo_open=True), "min_lr": Float(0.0), "warmup": Warmup(),
        "weight_decay": Float(0.0), "clip": Float(0.0), "seed": Int(0), "device": Str(), "workers": Int(0),
        "ckpt_every": Int(0), "ckpt_minutes": Float(0.0), "keep_checkpoints": Int(1), "rankme_every": Int(0), "rankme_samples": Int(2),
        "rankme_eps": Float(0.0, lo_open=True), "collapse_rankme": Float(0.0, 1.0), "stop_on_collapse": Bool(),
        "progress": Bool(),
    },
    "eval": {
        "fractions": ListOf(Fraction()), "seeds": Int(1), "heads": ListOf(Choice(*HEADS), unique=True), "knn_k": Int(1),
        "pool": Pool(), "batch_size": Int(1), "max_tokens": Int(1), "sup_steps": Int(1), "sup_lr": Float(0.0, lo_open=True),
        "sup_batch_size": Int(1), "random_init": Bool(), "supervised": Bool(), "max_iter": Int(1),
        "finetune": Bool(), "ft_lr": Float(0.0, lo_open=True), "layer_decay": Float(0.0, 1.0, lo_open=True),
        "sup_warmup": Warmup("eval.sup_steps"), "sup_patience": Int(0), "sup_eval_every": Int(1),
        "sup_val_fraction": Float(0.0, 1.0, lo_open=True, hi_open=True), "sup_val_min": Int(1),
        "encoder": Choice("online", "target"), "metrics": Maybe(ListOf(Str(), single=True), "the task's primary metric"),
        "split": Choice("test", "validation"), "variants": Maybe(ListOf(Str(), single=True), "all of the domain's"),
    },
}

# What each key means, for `jepakit config` (printed as a trailing comment) and readers of
# this file: a parallel mapping rather than an argument of every spec, so that SCHEMA stays
# one line per group. The numbers are those of the defaults' comments in jepakit.config.
SECTION_HELP: dict[str, str] = {
    "data": "the data: path and the domain loader's own options",
    "recipe": "what is trained: jepa (masked prediction) or lejepa (multi-view)",
    "tokenizer": "raw batch -> tokens; keys besides name are the tokenizer's arguments",
    "masker": "context and target tokens of the jepa recipe; keys besides name are the masker's arguments",
    "views": "the views of the lejepa recipe; keys besides name are the view sampler's arguments",
    "target": "what the jepa recipe's predictor reproduces; keys besides name are the target's arguments",
    "predictor": "the jepa recipe's predictor; keys besides name are its arguments",
    "loss": "the jepa recipe's prediction loss and its short-form regularizers",
    "regularizers": "terms added to the JEPA loss, by registered name with their arguments "
                    "({sigreg: {weight: 0.05, on: pooled}}); a later layer's null removes one",
    "model": "encoder and predictor sizes",
    "train": "the optimisation, checkpoints and the collapse guard",
    "eval": "probes, label efficiency and the supervised rows of evaluate and bench",
}

HELP: dict[str, dict[str, str]] = {
    "data": {"path": "a file or folder for the domain's loader (null: its embedded data)"},
    "recipe": {
        "name": "lejepa (views, projector, SIGReg; arguments lam, num_slices, proj_dim, proj_hidden) or jepa (masker, "
                "target, predictor); LeJEPA paid in 4 of 6 domains measured, I-JEPA in 1 (README, 'Which recipe')",
    },
    "tokenizer": {"name": "a registered tokenizer (jepakit domains; jepakit describe tokenizer NAME)"},
    "masker": {"name": "a registered masker (jepakit describe masker NAME)"},
    "views": {"name": "a registered view sampler (jepakit describe views NAME)"},
    "target": {"name": "a registered target: ema (I-JEPA's momentum encoder), sigreg (online encoder + SIGReg)..."},
    "predictor": {"name": "a registered predictor; transformer takes one_pass (all target groups in one masked sequence) "
                          "and isolate_context"},
    "regularizers": {},
    "loss": {
        "name": "a registered loss (smooth_l1, l1, mse, cosine...); keys it declares are its own arguments",
        "var_weight": "weight of VICReg's variance hinge on the context tokens, across samples at each position (0: off)",
        "var_gamma": "the variance hinge's target standard deviation",
        "cov_weight": "weight of VICReg's covariance term on the context tokens, across samples at each position (0: off)",
        "sigreg": "> 0: SIGReg on the online encoder's full-view embeddings, (1 - sigreg) * loss + sigreg * SIGReg",
        "sigreg_on": "what loss.sigreg tests: pooled, positions or pooled+positions (jepakit.sigreg.view_sigreg)",
        "sigreg_slices": "random directions of loss.sigreg's test (1024, LeJEPA's reference)",
    },
    "model": {
        "width": "encoder width (token features); divisible by model.heads",
        "depth": "encoder transformer blocks",
        "heads": "encoder attention heads",
        "mlp_ratio": "MLP hidden width / width, encoder and predictor",
        "pos": "position embedding: sincos (fixed), learned or none",
        "drop_path": "stochastic depth rate, encoder and predictor",
        "pred_width": "predictor width (jepa recipe); divisible by model.pred_heads",
        "pred_depth": "predictor transformer blocks",
        "pred_heads": "predictor attention heads",
    },
    "train": {
        "steps": "optimizer steps of the run",
        "batch_size": "items per step",
        "lr": "peak learning rate (AdamW), after the warm-up, then cosine to min_lr",
        "min_lr": "learning rate at the end of the cosine schedule (<= lr)",
        "warmup": "linear warm-up: a fraction of train.steps in [0, 1) or a number of steps",
        "weight_decay": "AdamW weight decay (biases, norms and declared tokens exempt)",
        "clip": "gradient-norm clip (0: off)",
        "seed": "seed of weights, batches, masks and dropout: a run is a function of it and the step",
        "device": "auto (CUDA when present, else CPU), cpu, cuda or cuda:N",
        "workers": "DataLoader processes reading batches and drawing masks (0: the training process)",
        "ckpt_every": "checkpoint every N steps (0: off)",
        "ckpt_minutes": "checkpoint every this many minutes too, so a crash loses at most that much (0: off)",
        "keep_checkpoints": "newest checkpoints kept",
        "rankme_every": "collapse guard: RankMe and the across-sample spread every N steps (0: off)",
        "rankme_samples": "fixed sample the guard embeds (all if fewer; small samples bias RankMe)",
        "rankme_eps": "epsilon of RankMe's entropy of normalised singular values",
        "collapse_rankme": "collapsed when RankMe < collapse_rankme * width, or the spread vanishes",
        "stop_on_collapse": "stop (with a checkpoint) when the guard sees a collapse",
        "progress": "show a progress bar",
    },
    "eval": {
        "fractions": "fractions of the training labels the probes see",
        "seeds": "label draws per fraction",
        "heads": "probe heads: linear, knn, mlp",
        "knn_k": "neighbours of the knn head",
        "pool": "tokens, or statistics joined by '+': mean, std, max, flat (Backbone.embed)",
        "batch_size": "items per batch when embedding",
        "max_tokens": "tokens a token-level probe trains on at most (a random subset)",
        "sup_steps": "steps of the supervised and fine-tune rows (one budget)",
        "sup_lr": "peak learning rate of the from-scratch supervised row",
        "sup_batch_size": "items per step of the supervised and fine-tune rows",
        "random_init": "add the random-init encoder row",
        "supervised": "add the from-scratch supervised row",
        "max_iter": "solver iterations of the linear probe (the mlp head gets a quarter)",
        "finetune": "add the fine-tuned pretrained encoder row",
        "ft_lr": "peak learning rate of the fine-tune row",
        "layer_decay": "layer-wise lr decay of the fine-tune row (1.0 = off)",
        "sup_warmup": "warm-up of the supervised rows: a fraction of sup_steps or a number of steps, then cosine to 0",
        "sup_patience": "early stopping after this many evaluations without gain (0: off)",
        "sup_eval_every": "steps between early-stopping evaluations",
        "sup_val_fraction": "share of the labelled items held out for early stopping",
        "sup_val_min": "early stopping only when that hold-out has >= this many groups/items",
        "encoder": "online, or target: probe the EMA encoder where the target has one",
        "metrics": "metrics to tabulate (null: the task kind's primary metric)",
        "split": "test, or validation: probes fit on 70 % of the training items, scored on the other 30 % (whole "
                 "records), the test split unseen: for choosing settings",
        "variants": "the domain's variants to pretrain side by side (null: all of them)",
    },
}


def help_for(section: str, key: str | None = None) -> str:
    """The help string of ``section.key`` (of the section itself without ``key``); "" when none is declared."""
    if key is None:
        return SECTION_HELP.get(section, "")
    return HELP.get(section, {}).get(key, "")

# the arguments of each recipe that the schema knows (others are left to the recipe's
# own check, which names the valid ones)
RECIPE_ARGS: dict[str, dict[str, Spec]] = {
    "jepa": {},
    "lejepa": {"lam": Float(0.0, 1.0, lo_open=True, hi_open=True), "num_slices": Int(1), "proj_dim": Int(0),
               "proj_hidden": Int(2)},
}


def _inferred(default: Any) -> Spec:
    """The spec of a key declared nowhere but in the defaults: its default's type."""
    if isinstance(default, bool):
        return Bool()
    if isinstance(default, int):
        return Int()
    if isinstance(default, float):
        return Float()
    if isinstance(default, str):
        return Str()
    return Spec()


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)


def check_value(key: str, spec: Spec, value: Any) -> Any:
    """``spec(value)``, or a :class:`ConfigError` naming ``key``, the value and what is allowed."""
    try:
        return spec(value)
    except (Bad, TypeError, ValueError, OverflowError):
        raise ConfigError(spec.refusal(key, value)) from None


def check_run(cfg: Mapping[str, Any]) -> None:
    """The rules between keys of the config a run will use (a merge of partial layers may
    pass through states that break them), and that ``train.device`` exists here."""
    m, t = cfg.get("model") or {}, cfg.get("train") or {}
    for width, heads in (("width", "heads"), ("pred_width", "pred_heads")):
        if width in m and heads in m and m[width] % m[heads]:
            raise ConfigError(
                f"model.{width} {m[width]} must be divisible by model.{heads} {m[heads]} (each attention head gets "
                f"width / heads features)"
            )
    if "lr" in t and "min_lr" in t and t["min_lr"] > t["lr"]:
        raise ConfigError(f"train.min_lr {_show(t['min_lr'])} must be <= train.lr {_show(t['lr'])} (the cosine schedule decays from lr to min_lr)")
    if "device" in t:
        check_device(t["device"])


def _recipe(cfg: Mapping[str, Any]) -> None:
    """The recipe's arguments that the schema knows."""
    recipe = dict(cfg.get("recipe") or {})
    name = recipe.pop("name", None)
    known = RECIPE_ARGS.get(name, {})
    if name == "jepa" and recipe:
        raise ConfigError(f"recipe 'jepa' takes no arguments (got {', '.join(recipe)}); its settings live in masker, target and loss")
    for key, value in recipe.items():
        if key in known:
            cfg["recipe"][key] = check_value(f"recipe.{key}", known[key], value)


def validate(cfg: dict[str, Any], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check every key of a merged config against :data:`SCHEMA`, in place (values are
    normalised), and return it. ``defaults``: the core's defaults, for keys declared
    nowhere else."""
    for section, values in cfg.items():
        if not isinstance(values, dict):
            continue
        declared = SCHEMA.get(section)
        for key in list(values):
            spec = (declared or {}).get(key)
            if spec is None:
                if declared is not None and section in OWN_ARGUMENTS:
                    continue  # a component's, loss's or loader's own argument
                default = ((defaults or {}).get(section) or {}).get(key)
                spec = _inferred(default) if default is not None else None
            if spec is not None:
                values[key] = check_value(f"{section}.{key}", spec, values[key])
    _recipe(cfg)
    return cfg


def check_device(name: Any) -> None:
    """``train.device`` names a device that torch knows and that exists here."""
    if name == "auto" or name == "cpu":
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"train.device {name!r} is not a torch device (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device {name!r}: no CUDA GPU is available here; use train.device=auto or cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"train.device {name!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"train.device {name!r}: no Apple MPS device is available here; use train.device=auto or cpu")


__all__ = ["HELP", "RECIPE_ARGS", "SCHEMA", "SECTION_HELP", "check_device", "check_run", "check_value", "help_for", "validate"]
