"""jepakit-sar: SAR-JEPA (ratio-of-averages gradient targets, local masks) for jepakit."""

from __future__ import annotations

__version__ = "0.1.0"
