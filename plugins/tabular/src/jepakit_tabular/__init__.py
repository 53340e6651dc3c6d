"""jepakit-tabular: T-JEPA on tables (one token per column, regularization tokens,
subset and correlated-feature masking)."""

from __future__ import annotations

from .schema import Schema, fit_schema
from .tokenizer import TabularTokenizer

__all__ = ["Schema", "TabularTokenizer", "fit_schema"]
__version__ = "0.1.0"
