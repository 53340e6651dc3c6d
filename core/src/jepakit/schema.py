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
LOSSES = ("smooth_l1", "l1", "mse", "cosine")
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

SCHEMA: dict[str, dict[str, Spec]] = {
    "recipe": {"name": Named("recipe", *RECIPES)},
    "tokenizer": {"name": NAME},
    "masker": {"name": NAME},
    "views": {"name": NAME},
    "target": {"name": NAME},
    "predictor": {"name": NAME},
    "data": {},
    "loss": {
        "name": Choice(*LOSSES), "var_weight": Float(0.0), "var_gamma": Float(0.0, lo_open=True), "cov_weight": Float(0.0),
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
                if declared is not None and section in ("data", "recipe", "tokenizer", "masker", "views", "target", "predictor"):
                    continue  # a component's or loader's own argument
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


__all__ = ["SCHEMA", "RECIPE_ARGS", "check_device", "check_run", "check_value", "validate"]
