"""The core's own components, registered through the public hooks like any plugin."""

from __future__ import annotations

from .masks import MultiBlockMasker, RandomSubsetMasker
from .plugins import hookimpl
from .targets import EMATarget, SIGRegTarget
from .tokenizers import PatchTokenizer
from .views import BlockViews


@hookimpl
def jepakit_register_tokenizers(register):
    register("patch", PatchTokenizer, "non-overlapping 1-/2-/3-D patches of a dense array, linearly embedded")


@hookimpl
def jepakit_register_maskers(register):
    register("multiblock", MultiBlockMasker, "I-JEPA/V-JEPA multi-block masks over 1-, 2- or 3-D grids")
    register("random", RandomSubsetMasker, "random disjoint context and target subsets")


@hookimpl
def jepakit_register_targets(register):
    register("ema", EMATarget, "momentum (EMA) copy of the encoder, layer-normed outputs (I-JEPA)")
    register("sigreg", SIGRegTarget, "online encoder as target, SIGReg against collapse, no EMA (LeJEPA)")


@hookimpl
def jepakit_register_view_samplers(register):
    register("blocks", BlockViews, "global and local views as blocks (or random subsets) of the token grid (LeJEPA)")
