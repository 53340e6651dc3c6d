"""``jepakit describe KIND NAME``: what a registered component takes.

:func:`describe` returns the text the command prints: the component's summary and
plugin, its arguments with their defaults (from the factory's signature, so a lazy
reference is imported here), and the facts the core fills in for it -- ``dim`` and
``steps`` for every component, more for a predictor (:data:`PREDICTOR_FACTS`, the keys of
:func:`jepakit.train.predictor_facts`), and the required arguments that only the data
can give (keys of the domain's :attr:`~jepakit.contract.DataBundle.info`, such as
``in_chans``). Each argument is followed by its doc line when the factory's docstring
documents it (an ``Args:`` section, ``:param name:`` lines or a NumPy ``Parameters``
section); nothing is printed for one that is not documented.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from .errors import JepakitError, unknown
from .lazy import lazy, resolve
from .plugins import KINDS, _one_line, registry

# what jepakit.train.offered_facts offers every component factory besides the data's info
CORE_FACTS: dict[str, str] = {
    "dim": "the model width (model.width)",
    "steps": "the run's length (train.steps)",
    "arch": "the timm ViT named by model.arch (when set; jepakit.archs)",
}
# what jepakit.train.predictor_facts offers a predictor on top (a test keeps them equal)
PREDICTOR_FACTS: dict[str, str] = {
    "grid": "the token grid of the tokenizer's layout",
    "segments": "the layout's named segments (a multi-modal tokenizer's; empty otherwise)",
    "num_prefix": "the layout's prefix tokens",
    "width": "the encoder width (model.width)",
    "out_dim": "the target's feature width (its dim, else model.width)",
    "pred_width": "model.pred_width",
    "pred_depth": "model.pred_depth",
    "pred_heads": "model.pred_heads",
    "mlp_ratio": "model.mlp_ratio",
    "pos": "model.pos",
    "drop_path": "model.drop_path",
}
DATA_FACT = "required: from the domain's DataBundle.info"


def _yamlish(value: Any) -> str:
    """A default as a config file would spell it: ``null``, ``true``, ``[0.15, 0.2]``."""
    import yaml

    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    try:
        text = yaml.safe_dump(plain(value), default_flow_style=True, width=10_000).strip()
    except yaml.YAMLError:
        return repr(value)
    return text[: -len("\n...")].strip() if text.endswith("\n...") else text


_SECTION = re.compile(r"^\s*(args|arguments|parameters|params|keyword args|keyword arguments|other parameters)\s*:?\s*$", re.I)
_GOOGLE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_NUMPY = re.compile(r"^(\w+)\s*(?::\s*.*)?$")


def _docstrings(factory: Any) -> list[str]:
    docs = [inspect.getdoc(factory) or ""]
    if inspect.isclass(factory) and "__init__" in vars(factory):
        docs.append(inspect.getdoc(factory.__init__) or "")
    return [d for d in docs if d]


def parse_arg_docs(factory: Callable) -> dict[str, str]:
    """``{argument: its doc text}`` from a factory's docstrings (a class's and its
    ``__init__``'s), leniently: Google ``Args:`` sections (``name: text`` or ``name (type):
    text``, continuation lines indented deeper), ``:param [type] name: text`` lines and NumPy
    ``Parameters`` sections (``name : type`` then indented text). Empty when none is found."""
    out: dict[str, str] = {}
    for doc in _docstrings(resolve(factory)):
        lines = doc.splitlines()
        current: str | None = None
        for line in lines:  # Sphinx style anywhere
            m = _SPHINX.match(line.strip())
            if m:
                current = m.group(1)
                out[current] = m.group(2).strip()
            elif current and line.startswith((" ", "\t")) and line.strip() and not line.strip().startswith(":"):
                out[current] += " " + line.strip()
            else:
                current = None
        i = 0
        while i < len(lines):
            if not _SECTION.match(lines[i]):
                i += 1
                continue
            numpy = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
            i += 2 if numpy else 1
            base: int | None = None
            current = None
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    i += 1
                    if numpy:
                        continue
                    break
                indent = len(line) - len(line.lstrip())
                if base is None:
                    base = indent
                if indent < base or (numpy and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}):
                    break  # the next section
                if indent == base:
                    m = (_NUMPY if numpy else _GOOGLE).match(line.strip())
                    if not m:
                        break
                    current = m.group(1)
                    out[current] = "" if numpy else m.group(2).strip()
                elif current is not None:
                    out[current] = (out[current] + " " + line.strip()).strip()
                i += 1
    return {k: " ".join(v.split()) for k, v in out.items() if v.strip()}


def _signature(factory: Any) -> list[inspect.Parameter]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = list(inspect.signature(target).parameters.values())
    return [p for p in params if p.name != "self"]


def _listing(kind: str) -> str:
    entries = registry(kind)
    if not entries:
        return f"no {kind} is registered"
    width = max(len(n) for n in entries)
    lines = [f"{kind} components (jepakit describe {kind} NAME):"]
    for name, entry in sorted(entries.items()):
        plugin = "" if entry.plugin == "jepakit" else f" [{entry.plugin}]"
        lines.append(f"  {name:<{width}}  {entry.summary}{plugin}".rstrip())
    return "\n".join(lines)


def _rows(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = min(32, max((len(a) for a, _ in rows), default=0))
    return [f"{indent}{a:<{width}}  {b}".rstrip() if b else f"{indent}{a}" for a, b in rows]


def _describe_domain(name: str) -> str:
    from .plugins import get_domain

    dom = get_domain(name)
    entry = registry("domain")[name]
    lines = [f"domain {name!r} (plugin {entry.plugin})"]
    if dom.summary:
        lines.append(f"  {dom.summary}")
    loader = dom.load
    ref = loader.ref if isinstance(loader, lazy) else getattr(loader, "__module__", "")
    try:
        params = _signature(resolve(loader))
    except Exception as exc:  # an import error of the plugin's loader: one line
        raise JepakitError(f"domain {name!r}: its loader cannot be imported: {_one_line(exc)}") from None
    docs = parse_arg_docs(loader)
    rows = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("path", "fitted"):
            continue
        head = f"{p.name}: {_yamlish(p.default)}" if p.default is not p.empty else f"{p.name} (required)"
        rows.append((head, docs.get(p.name, "")))
    lines += ["", f"data options (config: data.<option>; loader {ref}):" if ref else "data options (config: data.<option>):"]
    lines += _rows(rows) if rows else ["  (none besides data.path)"]
    chosen = [(s, (dom.defaults.get(s) or {}).get("name")) for s in ("recipe", "tokenizer", "masker", "views", "target", "predictor")]
    chosen = [(s, n) for s, n in chosen if n]
    if chosen:
        lines += ["", "its defaults choose:"] + [f"  {s}: {n}" for s, n in chosen]
    presets = [p for p, layer in (("quick", dom.quick), ("bench", dom.bench)) if layer] + list(dom.variants)
    if presets:
        lines += ["", f"presets and variants: {', '.join(presets)} (jepakit config {name} shows the resolved config)"]
    return "\n".join(lines)


def describe(kind: str, name: str | None = None) -> str:
    """The description ``jepakit describe KIND NAME`` prints (``KIND`` alone: the
    registered names of that kind). An unknown kind or name is a
    :class:`~jepakit.errors.ConfigError` listing the valid ones."""
    if kind not in KINDS:
        raise unknown("component kind", kind, KINDS)
    if name is None:
        return _listing(kind)
    entries = registry(kind)
    if name not in entries:
        raise unknown(kind, name, entries)
    if kind == "domain":
        return _describe_domain(name)
    entry = entries[name]
    try:
        factory = resolve(entry.factory)
    except Exception as exc:  # ImportError, or a reference to an attribute the module lacks
        raise JepakitError(f"{kind} {name!r} cannot be imported: {_one_line(exc)}") from None
    ref = entry.factory.ref if isinstance(entry.factory, lazy) else f"{factory.__module__}:{factory.__qualname__}"
    docs = parse_arg_docs(factory)
    offered = dict(CORE_FACTS, **(PREDICTOR_FACTS if kind == "predictor" else {}))
    args: list[tuple[str, str]] = []
    facts: list[tuple[str, str]] = []
    var_kw = False
    for p in _signature(factory):
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        doc = docs.get(p.name, "")
        if p.name in offered:
            facts.append((p.name, "; ".join(x for x in (offered[p.name], doc) if x)))
        elif p.default is p.empty:
            facts.append((p.name, "; ".join(x for x in (DATA_FACT, doc) if x)))
        else:
            args.append((f"{p.name}: {_yamlish(p.default)}", doc))
    section = {"regularizer": f"regularizers.{name}"}.get(kind, kind)
    lines = [f"{kind} {name!r} (plugin {entry.plugin})"]
    if entry.summary:
        lines.append(f"  {entry.summary}")
    lines.append(f"  factory: {ref}")
    lines += ["", f"arguments (config: {section}.<argument>; the default follows the colon):"]
    lines += _rows(args) if args else ["  (none)"]
    if var_kw:
        lines.append("  (and any other keyword: the factory takes **kwargs)")
    lines += ["", "facts (filled in by the core, not set in the config):"]
    lines += _rows(facts) if facts else ["  (none)"]
    lines += ["", "An argument named like a key of the domain's DataBundle.info is filled from the data unless the config sets it."]
    return "\n".join(lines)


__all__ = ["CORE_FACTS", "DATA_FACT", "PREDICTOR_FACTS", "describe", "parse_arg_docs"]


# -- jepakit config -------------------------------------------------------------------------


def _key_help(cfg: dict[str, Any], section: str, key: str, domain: str) -> str:
    """A key's help string: the schema's, else what kind of argument it is and where it is described."""
    from .schema import help_for

    text = help_for(section, key)
    if text:
        return text
    name = (cfg.get(section) or {}).get("name") if isinstance(cfg.get(section), dict) else None
    if section == "data":
        return f"option of domain {domain!r}'s loader (jepakit describe domain {domain})"
    if section == "regularizers":
        return f"regularizer {key!r} and its arguments (jepakit describe regularizer {key})"
    if section == "recipe":
        return f"argument of recipe {name!r}"
    if name and section in KINDS:
        return f"argument of {section} {name!r} (jepakit describe {section} {name})"
    return ""


def config_text(domain: str, config: Any = None, overrides: Any = None, data: Any = None, quick: bool = False) -> str:
    """The resolved config of a run of ``domain`` as YAML, each key followed by its help
    string as a comment: what ``jepakit config DOMAIN`` prints. Resolved as
    :func:`jepakit.train.pretrain` resolves it (:func:`jepakit.train.resolve_config`):
    core defaults <- the domain's defaults <- its quick preset (``quick``) <- ``config``
    (a YAML file or a dict) <- ``overrides`` (``key=value`` strings or a dict) <- ``data``."""
    from .plugins import get_domain
    from .schema import help_for
    from .train import resolve_config

    dom = get_domain(domain)
    cfg = resolve_config(dom, config, overrides, dom.quick if quick else None, data)
    layers = ["core defaults", f"{dom.name}'s defaults"] + (["its quick preset"] if quick else [])
    layers += (["--config"] if config is not None else []) + (["--set"] if overrides else []) + (["--data"] if data is not None else [])
    rows: list[tuple[str, str]] = []
    for section, values in cfg.items():
        if isinstance(values, dict) and values:
            rows.append((f"{section}:", help_for(section)))
            for key, value in values.items():
                rows.append((f"  {key}: {_yamlish(value)}", _key_help(cfg, section, key, dom.name)))
        else:
            rows.append((f"{section}: {_yamlish(values)}", help_for(section)))
    col = min(44, max(len(a) for a, _ in rows)) + 2
    lines = [f"# the config of a run of {dom.name}: {' <- '.join(layers)} (help after each key)"]
    lines += [f"{a.ljust(col - 1)} # {b}" if b else a for a, b in rows]  # YAML needs a space before '#'
    return "\n".join(lines) + "\n"


__all__ += ["config_text"]
