"""Plugin manager, entry-point loading and the component registries.

Loading is lazy and happens once. The core's own components come from
:mod:`jepakit.builtin`, registered through the same hooks as any third-party plugin and,
like one, imported by name (:data:`BUILTIN_PLUGINS`): this module never imports it. A
plugin whose import fails, whose hook raises or registers what the core refuses (a
name another plugin holds, a factory that is not callable), or that implements a hook
jepakit does not have, is remembered with its one-line error (``jepakit domains`` shows
it), none of its components is registered, and the others work on. A component whose
factory raises or returns the wrong kind of object fails in one line naming it
(:func:`create`). ``JEPAKIT_PLUGINS`` restricts which
entry-point plugins load: a comma-separated list of entry-point names, empty for none.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .domain import Domain
from .errors import ConfigError, JepakitError, notice, unknown
from .lazy import lazy, resolve

ENTRY_POINT_GROUP = "jepakit"
ENV_VAR = "JEPAKIT_PLUGINS"
KINDS = ("tokenizer", "masker", "target", "predictor", "loss", "regularizer", "views", "domain")

# the marker lives beside the specs; re-exported here and as ``jepakit.hookimpl``, where
# plugins have always imported it
hookimpl = hookspecs.hookimpl

# plugin name -> the module registering the core's own components, imported by name
BUILTIN_PLUGINS = {"jepakit": "jepakit.builtin"}


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
_load_errors: dict[str, str] = {}  # plugins whose import or registration with pluggy failed


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
    for name, module_name in BUILTIN_PLUGINS.items():
        module = importlib.import_module(module_name)
        pm.register(module, name=name)
        _infos[name] = PluginInfo(name, _version_of(module))
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
        except (Exception, SystemExit) as exc:  # a broken plugin must not take the others down (sys.exit at import too)
            _load_errors[ep.name] = _one_line(exc)
            _infos[ep.name] = PluginInfo(ep.name, version, _load_errors[ep.name])
            continue
        _infos[ep.name] = PluginInfo(ep.name, version)
    _pm = pm
    return pm


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object or module at run time (tests, notebooks)."""
    global _registry
    pm = plugin_manager()
    try:
        registered = pm.register(plugin, name=name)
    except ValueError as exc:  # pluggy: the name or the object is already registered
        raise JepakitError(f"plugin {name or plugin!r} is already registered ({exc})") from None
    except pluggy.PluginValidationError as exc:  # a hook whose arguments are not the spec's
        raise JepakitError(f"plugin {name or plugin!r}: {_one_line(exc)}") from None
    if registered is None:
        raise JepakitError(f"plugin {plugin!r} is already registered")
    _infos[registered] = PluginInfo(registered, _version_of(plugin))
    _registry = None
    return registered


def unregister_plugin(name: str) -> None:
    global _registry
    pm = plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _infos.pop(name, None)
    _load_errors.pop(name, None)
    _registry = None


def reset() -> None:
    """Forget every loaded plugin; the next lookup loads them again (tests)."""
    global _pm, _registry
    _pm, _registry = None, None
    _infos.clear()
    _load_errors.clear()


HOOKS = {
    "tokenizer": "jepakit_register_tokenizers",
    "masker": "jepakit_register_maskers",
    "target": "jepakit_register_targets",
    "predictor": "jepakit_register_predictors",
    "loss": "jepakit_register_losses",
    "regularizer": "jepakit_register_regularizers",
    "views": "jepakit_register_view_samplers",
    "domain": "jepakit_register_domains",
}


# where a run's config names each kind of component
CONFIG_KEY = {"regularizer": "regularizers.<name>", "domain": "the domain argument"}


def _one_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception (a :class:`JepakitError`'s message alone)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, JepakitError):
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _unknown_hooks(pm: pluggy.PluginManager, plugin: Any) -> str | None:
    """A plugin's ``@hookimpl`` functions that name no jepakit hook (a misspelling such as
    ``jepakit_register_masker``): pluggy's ``check_pending``, per plugin."""
    import difflib

    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        close = difflib.get_close_matches(caller.name, list(HOOKS.values()), n=1)
        hint = f"did you mean {close[0]}?" if close else f"valid: {', '.join(HOOKS.values())}"
        return f"hook {caller.name!r} is not a jepakit hook ({hint})"
    return None


def _staged(pm: pluggy.PluginManager, plugin_name: str, plugin: Any) -> tuple[list[tuple[str, Entry]], str | None]:
    """What one plugin's hooks register, or the one-line error that fails the plugin: a
    hook that raises, a registration the core refuses, an unknown hook."""
    error = _unknown_hooks(pm, plugin)
    if error:
        return [], error
    staged: list[tuple[str, Entry]] = []
    for kind, hook_name in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue

            def register(name: Any, factory: Any = None, summary: str = "", *, _k=kind) -> None:
                if _k == "domain":
                    domain = name
                    if not isinstance(domain, Domain):
                        raise JepakitError(f"registered a domain that is not a jepakit.Domain: {domain!r}")
                    name, factory, summary = domain.name, domain, domain.summary
                elif not isinstance(name, str) or not name:
                    raise JepakitError(f"registered a {_k} whose name is not a string: {name!r}")
                elif isinstance(factory, str):  # "package.module:attr", imported when first built
                    factory = lazy(factory)
                elif not callable(factory):
                    raise JepakitError(f"registered {_k} {name!r} with a factory that is not callable: {factory!r}")
                doc = "" if isinstance(factory, lazy) else inspect.getdoc(factory) or ""  # a lazy one gives its summary
                staged.append((_k, Entry(name, factory, plugin_name, summary or doc.split("\n")[0])))

            args = {"register": register}
            try:
                impl.function(*[args[a] for a in impl.argnames if a in args])
            except Exception as exc:  # a plugin's bug must not take the others down
                return [], f"{hook_name} failed: {_one_line(exc)}"
    return staged, None


def _collect() -> dict[str, dict[str, Entry]]:
    """Call every plugin's hooks, plugin by plugin in registration order (the core's
    first). A plugin whose hook raises, that registers something the core refuses, that
    implements an unknown hook, or that registers a name an earlier plugin holds is
    marked failed with a one-line error (``jepakit domains`` shows it) and none of its
    components is registered; the others are unaffected."""
    global _registry
    if _registry is not None:
        return _registry
    pm = plugin_manager()
    reg: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
    _contested.clear()
    for name, info in _infos.items():
        info.components = {}
        info.error = _load_errors.get(name)
    for plugin_name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        staged, error = _staged(pm, plugin_name, plugin)
        if error is None:
            seen: dict[tuple[str, str], str] = {}
            for kind, entry in staged:
                holder = reg[kind][entry.name].plugin if entry.name in reg[kind] else seen.get((kind, entry.name))
                if holder is not None:
                    _contested[(kind, entry.name)] = (holder, plugin_name)
                    error = (
                        f"{kind} {entry.name!r} is registered twice: by {holder!r} and by {plugin_name!r}; "
                        f"{holder!r}'s is kept, {plugin_name!r} is not loaded"
                    )
                    break
                seen[(kind, entry.name)] = plugin_name
        info = _infos.setdefault(plugin_name, PluginInfo(plugin_name, _version_of(plugin)))
        if error is not None:
            info.error = error
            continue
        for kind, entry in staged:
            reg[kind][entry.name] = entry
            info.components.setdefault(kind, []).append(entry.name)
    _registry = reg
    return reg


# (kind, name) -> (the plugin whose component is used, the plugin refused for the same name)
_contested: dict[tuple[str, str], tuple[str, str]] = {}


def _tell_contested(kind: str, name: str) -> None:
    """A name two plugins registered: which one a run uses is said where it is used, not
    only in `jepakit domains` (the first loaded wins, and load order follows sys.path)."""
    if (kind, name) in _contested:
        kept, refused = _contested[(kind, name)]
        notice(f"{kind} {name!r} is registered by plugins {kept!r} and {refused!r}; this run uses {kept!r} "
               f"(JEPAKIT_PLUGINS={refused} or uninstalling {kept!r} selects the other)")


def registry(kind: str) -> dict[str, Entry]:
    """All registered components of one kind: ``tokenizer``, ``masker``, ``target``, ``predictor``, ``loss``,
    ``regularizer``, ``views``, ``domain``."""
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
        failed = _infos.get(name) if isinstance(name, str) else None
        if failed is not None and failed.error:  # the plugin of that name failed: say why
            raise ConfigError(f"domain {name!r} is unavailable: plugin {name!r} failed to load: {failed.error}")
        raise unknown("domain", name, domains)
    _tell_contested("domain", name)
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


def required_params(factory: Callable) -> list[str]:
    """The keyword arguments a factory cannot do without (no default), in signature order."""
    factory = resolve(factory)
    target = factory.__init__ if inspect.isclass(factory) else factory
    return [
        p.name for p in inspect.signature(target).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self" and p.default is p.empty
    ]


def create(kind: str, name: str, kwargs: dict[str, Any] | None = None, offered: dict[str, Any] | None = None) -> Any:
    """Build a registered component, timm-style: ``create("masker", "multiblock", {"num_targets": 4})``.

    ``kwargs`` are the user's arguments (every one must be accepted by the factory);
    ``offered`` are facts the core offers (model width, data info) and are passed only
    where the factory names them. Errors name the component and the argument.
    """
    entries = registry(kind)
    if not isinstance(name, str) or name not in entries:
        err = unknown(kind, name, entries)
        where = CONFIG_KEY.get(kind, f"{kind}.name")
        raise ConfigError(str(err).replace(f"{name!r};", f"{name!r} ({where});", 1))
    _tell_contested(kind, name)
    who = f"{kind} {name!r}" + (f" of plugin {entries[name].plugin!r}" if entries[name].plugin != "jepakit" else "")
    try:
        factory = resolve(entries[name].factory)
    except Exception as exc:  # ImportError, or a reference to an attribute the module lacks
        raise JepakitError(f"{who} cannot be imported: {_one_line(exc)}") from None
    kwargs = dict(kwargs or {})
    names, var_kw = factory_params(factory)
    bad = [k for k in kwargs if k not in names and not var_kw]
    if bad:
        raise ConfigError(
            f"{kind} {name!r} has no argument {bad[0]!r}; valid: {', '.join(sorted(names)) or '(none)'}"
        )
    call = {k: v for k, v in (offered or {}).items() if k in names and k not in kwargs}
    call.update(kwargs)
    lacking = [p for p in required_params(factory) if p not in call]
    if lacking:
        # a required argument that neither the config nor the core gave is, for every built-in,
        # a data fact (in_chans, size, schema...): say where facts come from, not Python's
        # "missing 1 required positional argument"
        facts = " and ".join(repr(p) for p in lacking)
        what = (f"a data fact: the domain's loader offers it as DataBundle.info[{lacking[0]!r}]" if len(lacking) == 1
                else "data facts: the domain's loader offers them as keys of DataBundle.info")
        section = {"domain": None, "regularizer": f"regularizers.{name}"}.get(kind, kind)
        also = f"; or set {' and '.join(f'{section}.{p}' for p in lacking)} in the config" if section else ""
        raise ConfigError(
            f"{kind} {name!r} needs {facts}, {what} (offered here: {', '.join(sorted(offered or {})) or 'nothing'}){also}"
        )
    try:
        obj = factory(**call)
    except TypeError as exc:
        raise ConfigError(f"{kind} {name!r}: {exc}") from None
    except (ValueError, AssertionError) as exc:
        raise ConfigError(f"{kind} {name!r}: bad argument: {exc}") from None
    except JepakitError:
        raise
    except Exception as exc:  # a plugin's bug: one line naming the component, not a traceback
        raise JepakitError(f"{who} failed to build: {_one_line(exc)}") from None
    _check_built(kind, who, obj)
    return obj


def _check_built(kind: str, who: str, obj: Any) -> None:
    """A factory returned what its kind's contract asks: a Tokenizer, Target, Loss or
    Regularizer module, a predictor module, a Masker or ViewSampler (or, for those two,
    any callable)."""
    from . import contract

    if kind == "predictor":
        from torch import nn

        if not isinstance(obj, nn.Module):
            raise JepakitError(f"{who} returned {type(obj).__name__}, not a torch nn.Module: its factory must build one")
        return

    expected = {"tokenizer": contract.Tokenizer, "masker": contract.Masker, "target": contract.Target,
                "loss": contract.Loss, "regularizer": contract.Regularizer, "views": contract.ViewSampler}.get(kind)
    if expected is None or isinstance(obj, expected) or (kind in ("masker", "views") and callable(obj)):
        return
    raise JepakitError(
        f"{who} returned {type(obj).__name__}, not a jepakit.contract.{expected.__name__}: its factory must build one"
    )
