"""Small, self-contained experiments on the JEPA objective itself (no domain, no data files).

``implicit_bias``: deep linear JEPA vs MAE, which features each learns first
(Littwin et al. 2024, "How JEPA avoids noisy features").
"""

from __future__ import annotations

__all__ = ["implicit_bias"]
