"""jepakit: joint-embedding predictive architectures with domain plugins."""

from __future__ import annotations

from .contract import Batch, DataBundle, Domain, Layout, Masker, Masks, Target, Task, Tokenizer, gather_tokens
from .errors import ConfigError, DataError, JepakitError, TrainingDiverged
from .plugins import create, get_domain, hookimpl, register_plugin, registry, unregister_plugin
from .plugins import plugins as list_plugins

__version__ = "0.1.0"

__all__ = [
    "Batch", "ConfigError", "DataBundle", "DataError", "Domain", "JepakitError", "Layout", "Masker", "Masks",
    "Target", "Task", "Tokenizer", "TrainingDiverged", "create", "gather_tokens", "get_domain", "hookimpl",
    "list_plugins", "register_plugin", "registry", "unregister_plugin",
]
