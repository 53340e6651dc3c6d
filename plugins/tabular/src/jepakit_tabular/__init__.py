"""jepakit-tabular: T-JEPA on tables (one token per column, regularization tokens,
subset and correlated-feature masking)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Schema", "TabularTokenizer", "fit_schema"]
__version__ = "0.1.0"

# imported on first access (PEP 562): registering the plugin (jepakit_tabular.plugin)
# must not import pandas or torch
_LAZY = {"Schema": ".schema", "fit_schema": ".schema", "TabularTokenizer": ".tokenizer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'jepakit_tabular' has no attribute {name!r}")
