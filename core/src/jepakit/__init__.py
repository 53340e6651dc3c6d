"""jepakit: joint-embedding predictive architectures with domain plugins.

What a plugin's entry-point module needs to register (``Domain``, ``hookimpl``,
``lazy``, the errors) imports without torch; the contract's tensor types load on first
access (``jepakit.Tokenizer`` ...), so ``jepakit --help`` and ``jepakit domains`` answer
without paying for torch (1.8 s here).
"""

from __future__ import annotations

import importlib
from typing import Any

from .domain import Domain, Evaluation
from .errors import ConfigError, DataError, JepakitError, TrainingDiverged
from .hookspecs import hookimpl
from .lazy import lazy
from .plugins import create, get_domain, register_plugin, registry, unregister_plugin
from .plugins import plugins as list_plugins

__version__ = "0.1.0"

# name -> module holding it, imported on first attribute access (PEP 562)
_CONTRACT = ("Batch", "DataBundle", "Layout", "Masker", "Masks", "Target", "Task", "Tokenizer", "gather_tokens")


# name -> module of a function that needs torch: jepakit.load_encoder(path) imports it on first use
_LAZY = {"load_encoder": ".export"}


def __getattr__(name: str) -> Any:
    if name in _CONTRACT:
        return getattr(importlib.import_module(".contract", __name__), name)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'jepakit' has no attribute {name!r}")


__all__ = [
    "Batch", "ConfigError", "DataBundle", "DataError", "Domain", "Evaluation", "JepakitError", "Layout", "Masker", "Masks",
    "Target", "Task", "Tokenizer", "TrainingDiverged", "create", "gather_tokens", "get_domain", "hookimpl",
    "lazy", "list_plugins", "load_encoder", "register_plugin", "registry", "unregister_plugin",
]
