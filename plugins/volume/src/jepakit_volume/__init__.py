"""jepakit-volume: joint 2-D/3-D self-supervised learning (a slice encoder shared by images
and volume slices, a transformer over slice embeddings, masked slice-embedding prediction
and intra/inter contrastive clustering) for jepakit."""

from __future__ import annotations

__version__ = "0.1.0"
