"""Plugin manager, entry-point loading and the component registries.

Loading is lazy and happens once. The core's own components come from
:mod:`jepakit.builtin`, registered through the same hooks as any third-party plugin. A
plugin whose import fails is remembered with its one-line error (``jepakit domains``
shows it) and does not stop the others. ``JEPAKIT_PLUGINS`` restricts which
entry-point plugins load: a comma-separated list of entry-point names, empty for none.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .domain import Domain
from .errors import ConfigError, JepakitError, unknown
from .lazy import lazy, resolve

ENTRY_POINT_GROUP = "jepakit"
ENV_VAR = "JEPAKIT_PLUGINS"
KINDS = ("tokenizer", "masker", "target", "views", "domain")

hookimpl = pluggy.HookimplMarker("jepakit")


@dataclass
class Entry:
    name: str
    factory: Any  # a callable, or a Domain for kind "domain"
    plugin: str
    summary: str = ""


@dataclass
class PluginInfo:
    name: str
    version: str = ""
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)


_pm: pluggy.PluginManager | None = None
_registry: dict[str, dict[str, Entry]] | None = None
_infos: dict[str, PluginInfo] = {}


def _version_of(module: Any) -> str:
    top = (getattr(module, "__module__", None) if not hasattr(module, "__name__") else module.__name__) or ""
    top = top.split(".")[0]
    for dist_name in (top.replace("_", "-"), top) if top else ():
        try:
            return md.version(dist_name)
        except md.PackageNotFoundError:
            continue
    return getattr(module, "__version__", "") or ""


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, with built-ins and entry-point plugins loaded."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager("jepakit")
    pm.add_hookspecs(hookspecs)
    from . import builtin

    pm.register(builtin, name="jepakit")
    _infos["jepakit"] = PluginInfo("jepakit", _version_of(builtin))
    allowed = os.environ.get(ENV_VAR)
    allow = None if allowed is None else {p.strip() for p in allowed.split(",") if p.strip()}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if allow is not None and ep.name not in allow:
            continue
        if pm.has_plugin(ep.name):
            continue
        version = ep.dist.version if ep.dist is not None else ""
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            first = (str(exc).strip().splitlines() or [""])[0]
            _infos[ep.name] = PluginInfo(ep.name, version, f"{type(exc).__name__}: {first}")
            continue
        _infos[ep.name] = PluginInfo(ep.name, version)
    _pm = pm
    return pm


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object or module at run time (tests, notebooks)."""
    global _registry
    pm = plugin_manager()
    name = pm.register(plugin, name=name)
    if name is None:
        raise JepakitError(f"plugin {plugin!r} is already registered")
    _infos[name] = PluginInfo(name, _version_of(plugin))
    _registry = None
    return name


def unregister_plugin(name: str) -> None:
    global _registry
    pm = plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _infos.pop(name, None)
    _registry = None


def reset() -> None:
    """Forget every loaded plugin; the next lookup loads them again (tests)."""
    global _pm, _registry
    _pm, _registry = None, None
    _infos.clear()


def _collect() -> dict[str, dict[str, Entry]]:
    global _registry
    if _registry is not None:
        return _registry
    pm = plugin_manager()
    reg: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
    for info in _infos.values():
        info.components = {}
    hooks = {
        "tokenizer": pm.hook.jepakit_register_tokenizers,
        "masker": pm.hook.jepakit_register_maskers,
        "target": pm.hook.jepakit_register_targets,
        "views": pm.hook.jepakit_register_view_samplers,
        "domain": pm.hook.jepakit_register_domains,
    }
    for kind, hook in hooks.items():
        for impl in hook.get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or "?"

            def register(name: Any, factory: Any = None, summary: str = "", *, _k=kind, _p=plugin_name) -> None:
                if _k == "domain":
                    domain = name
                    if not isinstance(domain, Domain):
                        raise JepakitError(f"plugin {_p!r} registered a domain that is not a jepakit.Domain: {domain!r}")
                    name, factory, summary = domain.name, domain, domain.summary
                elif isinstance(factory, str):  # "package.module:attr", imported when first built
                    factory = lazy(factory)
                elif not callable(factory):
                    raise JepakitError(f"plugin {_p!r} registered {_k} {name!r} with a factory that is not callable")
                if name in reg[_k]:
                    other = reg[_k][name].plugin
                    raise JepakitError(f"{_k} {name!r} is registered twice: by {other!r} and by {_p!r}")
                doc = "" if isinstance(factory, lazy) else inspect.getdoc(factory) or ""  # a lazy one gives its summary
                reg[_k][name] = Entry(name, factory, _p, summary or doc.split("\n")[0])
                _infos.setdefault(_p, PluginInfo(_p)).components.setdefault(_k, []).append(name)

            impl.function(register)
    _registry = reg
    return reg


def registry(kind: str) -> dict[str, Entry]:
    """All registered components of one kind: ``tokenizer``, ``masker``, ``target``, ``views``, ``domain``."""
    if kind not in KINDS:
        raise unknown("component kind", kind, KINDS)
    return _collect()[kind]


def plugins() -> list[PluginInfo]:
    """Every plugin seen, loaded or failed, with its version and components."""
    _collect()
    return list(_infos.values())


def get_domain(name: str) -> Domain:
    domains = registry("domain")
    if name not in domains:
        raise unknown("domain", name, domains)
    return domains[name].factory


def factory_params(factory: Callable) -> tuple[set[str], bool]:
    """Names a factory accepts as keywords, and whether it takes ``**kwargs``."""
    factory = resolve(factory)
    target = factory.__init__ if inspect.isclass(factory) else factory
    sig = inspect.signature(target)
    names, var_kw = set(), False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            names.add(p.name)
    return names, var_kw


def create(kind: str, name: str, kwargs: dict[str, Any] | None = None, offered: dict[str, Any] | None = None) -> Any:
    """Build a registered component, timm-style: ``create("masker", "multiblock", {"num_targets": 4})``.

    ``kwargs`` are the user's arguments (every one must be accepted by the factory);
    ``offered`` are facts the core offers (model width, data info) and are passed only
    where the factory names them. Errors name the component and the argument.
    """
    entries = registry(kind)
    if name not in entries:
        raise unknown(kind, name, entries)
    try:
        factory = resolve(entries[name].factory)
    except ImportError as exc:
        raise JepakitError(f"{kind} {name!r} of plugin {entries[name].plugin!r} cannot be imported: {exc}") from None
    kwargs = dict(kwargs or {})
    names, var_kw = factory_params(factory)
    bad = [k for k in kwargs if k not in names and not var_kw]
    if bad:
        raise ConfigError(
            f"{kind} {name!r} has no argument {bad[0]!r}; valid: {', '.join(sorted(names)) or '(none)'}"
        )
    call = {k: v for k, v in (offered or {}).items() if k in names and k not in kwargs}
    call.update(kwargs)
    try:
        return factory(**call)
    except TypeError as exc:
        raise ConfigError(f"{kind} {name!r}: {exc}") from None
    except (ValueError, AssertionError) as exc:
        raise ConfigError(f"{kind} {name!r}: bad argument: {exc}") from None
