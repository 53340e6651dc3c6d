"""jepakit-eeg: EEG as video for JEPA pretraining (EEG-VJEPA and scalp-map framings)."""

from __future__ import annotations

__version__ = "0.1.0"
