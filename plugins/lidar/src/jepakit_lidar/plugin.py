"""Hook implementations and the ``lidar`` domain record (AD-L-JEPA)."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy

from .presets import BENCH, DEFAULTS, QUICK

# components by reference: listing plugins imports neither torch nor spconv nor laspy
# (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("sparse-bev", "jepakit_lidar.tokenizer:SparseBEVTokenizer", "sparse-voxel 3-D conv encoder (spconv or pure torch) -> BEV cell tokens")


@hookimpl
def jepakit_register_maskers(register):
    register("bev", "jepakit_lidar.masks:BEVMasker", "AD-L-JEPA BEV masks: occupied and empty cells split separately, weighted empty targets")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="lidar",
            load=lazy("jepakit_lidar.data:load"),
            summary="LiDAR scans (KITTI .bin, npy/npz, PCD, PLY, LAS/LAZ): AD-L-JEPA sparse-voxel BEV JEPA, BEV segmentation benchmark",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
        )
    )
