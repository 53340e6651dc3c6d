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
which ``jepakit config DOMAIN`` prints beside the resolved value. The fixed sections
(``loss``, ``model``, ``train``, ``eval``) are declared once, as typed dataclasses, in
:mod:`jepakit.sections`; their specs and help are read off those.

:func:`check_run` adds the rules between keys (``model.width`` divisible by
``model.heads``, ``train.min_lr`` <= ``train.lr``) and that ``train.device`` exists here,
for the config a run will use. Torch-free: :func:`check_device` imports torch on call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .sections import helps_of, specs_of
from .specs import (  # noqa: F401 (re-exported: the schema's vocabulary)
    HEADS,
    NAME,
    POOL_STATS,
    POS,
    RECIPES,
    SIGREG_ON,
    Bad,
    Bool,
    Choice,
    Float,
    Fraction,
    Int,
    ListOf,
    Maybe,
    Named,
    Pool,
    Spec,
    Str,
    Warmup,
    _show,
)

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
    # the fixed sections: declared once, with their defaults and help (jepakit.sections)
    **{section: specs_of(section) for section in ("loss", "model", "train", "eval")},
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
    **{section: helps_of(section) for section in ("loss", "model", "train", "eval")},
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
