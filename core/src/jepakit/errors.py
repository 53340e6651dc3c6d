"""User-facing errors: the CLI prints these as one line, never a traceback."""

from __future__ import annotations

import warnings
from collections.abc import Iterable


class JepakitError(Exception):
    """A mistake in the user's input (name, config, data) with a one-line explanation."""


class ConfigError(JepakitError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(JepakitError, ValueError):
    """Bad input data (unreadable file, wrong shape, empty table...)."""


class TrainingDiverged(JepakitError, RuntimeError):
    """The loss became NaN/Inf."""


class TrainingCollapsed(JepakitError, RuntimeError):
    """The embeddings collapsed and ``train.stop_on_collapse`` asked to stop."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped pretraining at a step boundary, after a checkpoint; the
    message says where it is and how to resume. ``exit_code``: 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class CollapseWarning(UserWarning):
    """The embeddings of a pretraining run collapsed (see the README's collapse signs)."""


class DataNotice(UserWarning):
    """What a reader did with the user's data that the user should know: a dropped column,
    a skipped file, zero-filled channels, a coerced type. Printed as one line by the CLI."""


def notice(message: str, category: type[Warning] = DataNotice) -> None:
    """Warn ``message`` with no source location, so it prints as one line everywhere."""
    # warn_explicit with a made-up location: the default formatter then has no source
    # line to echo under the message
    warnings.warn_explicit(message, category, "jepakit", 0, module="jepakit")


def unknown(kind: str, name: object, valid: Iterable[str]) -> ConfigError:
    options = ", ".join(sorted(valid)) or "(none)"
    return ConfigError(f"unknown {kind} {name!r}; valid: {options}")


class ArgumentError(JepakitError, ValueError):
    """An argument out of its range, found by :func:`check` (a ``ValueError`` too): one
    line for the user wherever it is raised."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`ArgumentError` (a ``ValueError``) with ``message`` unless
    ``condition``: for validating component arguments."""
    if not condition:
        raise ArgumentError(message)
