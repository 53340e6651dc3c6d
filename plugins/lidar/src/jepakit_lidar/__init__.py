"""jepakit-lidar: LiDAR point clouds for jepakit (AD-L-JEPA style sparse-voxel BEV JEPA).

The names below load on first access (PEP 562): the entry point imports this package,
and `jepakit domains` must not pay for torch to list it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    "SparseBackbone": ".sparse", "SparseVoxels": ".sparse", "TorchSparseConv3d": ".sparse", "spconv_available": ".sparse",
    "SparseBEVTokenizer": ".tokenizer", "VoxelGrid": ".voxelize", "Voxels": ".voxelize", "voxelize": ".voxelize",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module 'jepakit_lidar' has no attribute {name!r}")


__all__ = sorted(_WHERE)
