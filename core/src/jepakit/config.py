"""Run configuration: core defaults, layered overrides and validation.

A config is a nested dict with the sections below. Layers are merged in order (core
defaults, the domain's defaults, a benchmark preset, a YAML file, ``--set key=value``).
The component sections (``tokenizer``, ``masker``, ``target``, ``predictor``...) and ``data`` hold a
``name``/``path`` plus free arguments that the component's factory (or the domain's
loader) validates; every other key must exist in the defaults. When a layer changes a
component's ``name``, the arguments meant for the previous component are dropped.

A layer may also hold a ``synthetic`` section: ``data`` keys that describe a domain's
embedded (synthetic or bundled) data -- how many records to generate, scene sizes. It
is merged into ``data``, at that layer's place in the order, only when the run has no
data of the user's (no ``data.path``, see :func:`has_user_data`); on a user's files
those keys are left out, so a preset never sizes or reshapes the user's data.

Every merged config is checked against the declared schema of :mod:`jepakit.schema`
(a type and a range per key); a bad value is a one-line :class:`ConfigError` naming
the key, the value and what is allowed. A resumed run takes the checkpoint's config and
only the changes that :func:`on_resume` allows (a longer ``train.steps``...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, notice
from .schema import check_device, check_run, validate  # noqa: F401 (check_device, check_run: re-exported)
from .sections import defaults_of

DEFAULTS: dict[str, Any] = {
    "data": {"path": None},
    # lejepa: multi-view (views, projector, SIGReg; arguments lam, num_slices, proj_dim,
    # proj_hidden); jepa: masked prediction (masker, target, predictor). LeJEPA is the
    # default because it paid in 4 of the 6 domains measured, I-JEPA in 1 (README, "Which
    # recipe"); a domain names its own in its defaults
    "recipe": {"name": "lejepa"},
    "tokenizer": {"name": None},
    "masker": {"name": "multiblock"},
    "views": {"name": "blocks"},
    "target": {"name": "ema"},
    # the JEPA recipe's predictor (jepakit_register_predictors); the built-in transformer
    # takes one_pass (all target groups in one attention-masked sequence) and isolate_context
    "predictor": {"name": "transformer"},
    # name: a registered loss; its other keys are the core's (jepakit.sections.LossSection)
    # or that loss's own arguments
    "loss": defaults_of("loss"),
    # terms added to the JEPA loss, by registered name (jepakit_register_regularizers)
    # with their arguments: {sigreg: {weight: 0.05, on: pooled}, variance: {weight: 0.1}};
    # a later layer's null removes one
    "regularizers": {},
    # the fixed sections, each key declared once with its spec and help (jepakit.sections)
    "model": defaults_of("model"),
    "train": defaults_of("train"),
    "eval": defaults_of("eval"),
}

FREE_SECTIONS = ("data", "recipe", "tokenizer", "masker", "views", "target", "predictor")
SYNTHETIC = "synthetic"  # data keys for the embedded data only (see the module doc)


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars or flow collections: 3, 1e-3, true, null, [1, 2]."""
    for number in (int, float):  # YAML 1.1 reads "1e-3" as a string
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``["model.width=128", "masker.num_targets=2"]`` -> nested dict. A component section
    alone names the component: ``recipe=lejepa`` is ``recipe.name=lejepa``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        if key.strip() in FREE_SECTIONS and key.strip() != "data":
            key = f"{key.strip()}.name"
        parts = key.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set key must be section.name (e.g. model.width), got {key!r}")
        out.setdefault(parts[0], {})[parts[1]] = parse_value(value)
    return out


def load_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) config file's sections; every way it can be unreadable is one
    :class:`ConfigError` line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist")
    if p.is_dir():
        raise ConfigError(f"config file {p} is a folder; give a YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not a text file (not UTF-8); give a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        kind = "JSON" if p.suffix.lower() == ".json" else "YAML"
        first = " ".join(str(exc).split())  # the parser's message spans lines
        raise ConfigError(f"config file {p} is not valid {kind}: {first}") from None
    except RecursionError:
        raise ConfigError(f"config file {p} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of sections")
    return data


def has_user_data(cfg: Mapping[str, Any]) -> bool:
    """Whether a merged config points at data of the user's (a path or an object)."""
    return (cfg.get("data") or {}).get("path") is not None


def synthetic_keys(*layers: Mapping[str, Any] | None) -> set[str]:
    """The ``data`` keys that ``layers`` (a domain's defaults and presets) declare as
    describing their embedded data only."""
    return {k for layer in layers if layer for k in (layer.get(SYNTHETIC) or {})}


def _fold_synthetic(layer: Mapping[str, Any], with_synthetic: bool) -> Mapping[str, Any]:
    if SYNTHETIC not in layer:
        return layer
    syn = layer[SYNTHETIC]
    if syn is not None and not isinstance(syn, Mapping):
        raise ConfigError(f"config section {SYNTHETIC!r} must be a mapping of data keys, got {syn!r}")
    out = {k: v for k, v in layer.items() if k != SYNTHETIC}
    if with_synthetic and syn:
        # within one layer the embedded-data value is the more specific one
        out["data"] = {**dict(out.get("data") or {}), **dict(syn)}
    return out


def merge(*layers: Mapping[str, Any] | None, synthetic: bool | None = None, check: bool = True) -> dict[str, Any]:
    """Merge config layers left to right, validating section and key names, then (with
    ``check``) every value against the schema (:func:`jepakit.schema.validate`).

    ``synthetic`` sections are folded into ``data`` when ``synthetic`` is True, dropped
    when False, and by default folded only if the merged layers give no ``data.path``."""
    if synthetic is None:
        synthetic = not has_user_data(merge(*layers, synthetic=False, check=False))
    cfg = copy.deepcopy(DEFAULTS)
    for layer in layers:
        if not layer:
            continue
        layer = _fold_synthetic(layer, synthetic)
        for section, values in layer.items():
            if section not in cfg:
                raise ConfigError(f"unknown config section {section!r}; valid: {', '.join(sorted(cfg))}")
            if not isinstance(values, Mapping):
                raise ConfigError(f"config section {section!r} must be a mapping, got {values!r}")
            target = cfg[section]
            if section == "regularizers":  # per regularizer: arguments merged, null removes it
                for name, args in values.items():
                    if args is None:
                        target.pop(name, None)
                    elif not isinstance(args, Mapping):
                        raise ConfigError(f"regularizers.{name} must be a mapping of its arguments (e.g. {{weight: 0.1}}), got {args!r}")
                    else:
                        target[name] = {**target.get(name, {}), **copy.deepcopy(dict(args))}
                continue
            if section == "loss":  # the core's keys, plus the named loss's own arguments
                own = set(DEFAULTS["loss"]) - {"name"}
                if values.get("name") is not None and values["name"] != target.get("name"):
                    for key in [k for k in target if k not in own and k != "name"]:
                        del target[key]
                target.update(copy.deepcopy(dict(values)))
                continue
            if section in FREE_SECTIONS:
                new_name = values.get("name")
                if section != "data" and new_name is not None and new_name != target.get("name"):
                    target.clear()
                target.update(copy.deepcopy(dict(values)))
                continue
            for key, value in values.items():
                if key not in target:
                    raise ConfigError(f"unknown config key '{section}.{key}'; valid: {', '.join(sorted(target))}")
                target[key] = copy.deepcopy(value)
    return validate(cfg, DEFAULTS) if check else cfg


def component(cfg: Mapping[str, Any], section: str) -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` of a component section."""
    values = dict(cfg[section])
    name = values.pop("name", None)
    if not name:
        raise ConfigError(f"no {section} chosen: set {section}.name (see `jepakit domains`)")
    return name, values


# what a resumed run may change: how long it runs and how it is watched and saved, never
# what it learns (its model, data, components, optimiser); eval.* only affects later probes
RESUMABLE = {
    "train.steps", "train.progress", "train.workers", "train.ckpt_every", "train.ckpt_minutes", "train.keep_checkpoints",
    "train.device",
    "train.stop_on_collapse",
}
RESUMABLE_SECTIONS = {"eval"}


def _flat_sections(cfg: Mapping[str, Any]) -> set[str]:
    return {s for s, values in cfg.items() if isinstance(values, Mapping)}


def _flat(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, values in cfg.items() if isinstance(values, Mapping) for k, v in values.items()}


def on_resume(saved: Mapping[str, Any], layers: Iterable[Mapping[str, Any] | None], step: int) -> dict[str, Any]:
    """The config of a run resumed at ``step``: the checkpoint's ``saved`` config with the
    user's ``layers`` (``--config``, ``--set``, ``--data``) applied where :data:`RESUMABLE`
    allows; any other change is refused in one line, never ignored. ``train.steps`` may
    grow (or stay) but not fall below ``step``."""
    layers = [layer for layer in layers if layer]
    if not layers:
        return dict(saved)
    new = merge(saved, *layers)
    # a key the checkpoint's config predates (a section added since, such as predictor)
    # reads as its default: not a change
    old_flat, new_flat = _flat(saved), _flat(new)
    old_flat.update({k: v for k, v in _flat(DEFAULTS).items() if k not in old_flat and k.split(".")[0] not in _flat_sections(saved)})
    changed = [k for k in sorted(set(old_flat) | set(new_flat)) if old_flat.get(k, _MISSING) != new_flat.get(k, _MISSING)]
    refused = [k for k in changed if k not in RESUMABLE and k.split(".")[0] not in RESUMABLE_SECTIONS]
    if refused:
        k = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        was = old_flat.get(k, "unset")
        asked = new_flat.get(k, "unset (another component was chosen)")
        allowed = ", ".join(sorted(RESUMABLE) + [f"{s}.*" for s in sorted(RESUMABLE_SECTIONS)])
        raise ConfigError(
            f"--resume cannot change {k} (the checkpoint has {was!r}, asked {asked!r}){more}; a resumed run may change "
            f"only {allowed}: start a new run (another --out) for the rest"
        )
    steps, old_steps = int(new["train"]["steps"]), int(saved["train"]["steps"])
    if steps < step:
        raise ConfigError(f"--resume: train.steps {steps} is below the checkpoint's step {step}; give train.steps >= {step}")
    if steps != old_steps and step < steps:
        notice(
            f"--resume: train.steps {old_steps} -> {steps}: the learning-rate and momentum schedules stretch to "
            f"{steps} steps from step {step} on (not the same as a run of {steps} steps from the start)"
        )
    return new


_MISSING = object()

