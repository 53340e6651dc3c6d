"""Moving a collated batch onto a device: a leaf that pretraining, probing and
fine-tuning share, its own module so that :mod:`jepakit.evaluate` and
:mod:`jepakit.finetune` need nothing of :mod:`jepakit.train`."""

from __future__ import annotations

from typing import Any

import torch


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (nested dicts, lists and tuples) on ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
