"""References to code that is imported on first use.

A plugin's entry-point module is imported by every ``jepakit`` command, ``jepakit
--help`` and ``jepakit domains`` included. Importing torch alone takes 1.8 s here, MNE
and spconv several more; a plugin that names its components by reference, as
``lazy("jepakit_eeg.tokenizer:EEGVideoTokenizer")``, registers in milliseconds and pays
for the import only when the component is built. A reference is callable (it calls its
target), so a ``Domain``'s ``load`` or a baseline can be one without their callers
knowing.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any


class lazy:  # noqa: N801 - reads as a function at the call site, like functools.partial
    """``lazy("package.module:attr")``: ``attr`` of ``package.module``, imported on first use."""

    __slots__ = ("ref", "_target")

    def __init__(self, ref: str):
        module, sep, attr = str(ref).partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"lazy reference {ref!r} must read 'package.module:attribute'")
        self.ref = str(ref)
        self._target: Any = None

    def resolve(self) -> Any:
        if self._target is None:
            module, _, attr = self.ref.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._target = obj
        return self._target

    @property
    def __signature__(self) -> inspect.Signature:
        # inspect.signature(reference) is the target's: the core validates config keys
        # against a loader's parameters
        return inspect.signature(self.resolve())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self.ref!r})"


def resolve(obj: Any) -> Any:
    """The object a :class:`lazy` reference names; anything else unchanged."""
    return obj.resolve() if isinstance(obj, lazy) else obj


__all__ = ["lazy", "resolve"]
