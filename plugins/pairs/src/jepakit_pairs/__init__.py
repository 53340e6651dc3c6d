"""jepakit-pairs: two-modality (video <-> music) contrastive retrieval for jepakit.

``retrieve(run, ...)`` ranks one modality for queries of the other with the
inference-time weight ``w`` (0: the pair objective's heads, 1: the label objective's);
see :mod:`jepakit_pairs.retrieval`. Importing the package imports no torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def retrieve(*args: Any, **kwargs: Any) -> Any:
    """See :func:`jepakit_pairs.retrieval.retrieve`."""
    from .retrieval import retrieve as _impl

    return _impl(*args, **kwargs)


__all__ = ["__version__", "retrieve"]
