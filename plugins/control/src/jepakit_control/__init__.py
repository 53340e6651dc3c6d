"""jepakit-control: ACT-JEPA (policies that predict action chunks and, through a JEPA,
the target encoder's embeddings of future observations) on demonstration trajectories."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Episode", "read_episodes", "write_episodes"]
__version__ = "0.1.0"

# imported on first access (PEP 562): registering the plugin (jepakit_control.plugin)
# must import neither torch nor gymnasium
_LAZY = {"Episode": ".episodes", "read_episodes": ".io", "write_episodes": ".io"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'jepakit_control' has no attribute {name!r}")
