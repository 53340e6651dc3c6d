"""jepakit-lidar: LiDAR point clouds for jepakit (AD-L-JEPA style sparse-voxel BEV JEPA)."""

from .sparse import SparseBackbone, SparseVoxels, TorchSparseConv3d, spconv_available
from .tokenizer import SparseBEVTokenizer
from .voxelize import VoxelGrid, Voxels, voxelize

__version__ = "0.1.0"

__all__ = ["SparseBEVTokenizer", "SparseBackbone", "SparseVoxels", "TorchSparseConv3d", "VoxelGrid", "Voxels",
           "spconv_available", "voxelize"]
