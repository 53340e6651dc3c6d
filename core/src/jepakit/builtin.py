"""The core's own components, registered through the public hooks like any plugin."""

from __future__ import annotations

from .masks import MultiBlockMasker, RandomSubsetMasker
from .plugins import hookimpl


@hookimpl
def jepakit_register_maskers(register):
    register("multiblock", MultiBlockMasker, "I-JEPA/V-JEPA multi-block masks over 1-, 2- or 3-D grids")
    register("random", RandomSubsetMasker, "random disjoint context and target subsets")
