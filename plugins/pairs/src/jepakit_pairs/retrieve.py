"""``python -m jepakit_pairs.retrieve RUN [--data PATH] [--query video] [--w 0.5] [--k 10]``:
the command-line twin of a ``jepakit retrieve`` (see :mod:`jepakit_pairs.retrieval`).

Importing this module keeps ``jepakit_pairs.retrieve(...)`` callable: the module itself
calls :func:`jepakit_pairs.retrieval.retrieve` (importing a submodule named like a
package function would otherwise replace the function by the module).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .retrieval import main, retrieve


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return retrieve(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

__all__ = ["main", "retrieve"]
