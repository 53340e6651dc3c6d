"""How jepakit's own warnings read on a terminal: one line, ``warning: ...``. The CLI and
the sweep's worker processes (which start without the CLI's set-up) both ask for it, so
it lives below both."""

from __future__ import annotations

import warnings

from .errors import CollapseWarning


def one_line_warnings() -> None:
    """jepakit's own warnings print as one line, ``warning: ...``, without a source line."""
    plain = warnings.formatwarning

    def fmt(message, category, filename, lineno, line=None):
        if issubclass(category, (CollapseWarning, UserWarning)) and not issubclass(category, (DeprecationWarning, FutureWarning)):
            return f"warning: {message}\n"
        return plain(message, category, filename, lineno, line)

    warnings.formatwarning = fmt
    # libraries' deprecation notices are for their callers' developers, not for users of
    # the CLI (spconv alone printed 8 per LiDAR command)
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
