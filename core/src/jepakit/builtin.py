"""The core's own components, registered through the public hooks like any plugin.

By reference (``"module:Class"``): registering them imports nothing, building one
imports its module (and torch).
"""

from __future__ import annotations

from .plugins import hookimpl


@hookimpl
def jepakit_register_tokenizers(register):
    register("patch", "jepakit.tokenizers:PatchTokenizer", "non-overlapping 1-/2-/3-D patches of a dense array, linearly embedded")


@hookimpl
def jepakit_register_maskers(register):
    register("multiblock", "jepakit.masks:MultiBlockMasker", "I-JEPA/V-JEPA multi-block masks over 1-, 2- or 3-D grids")
    register("random", "jepakit.masks:RandomSubsetMasker", "random disjoint context and target subsets")


@hookimpl
def jepakit_register_targets(register):
    register("ema", "jepakit.targets:EMATarget", "momentum (EMA) copy of the encoder, layer-normed outputs (I-JEPA)")
    register("sigreg", "jepakit.targets:SIGRegTarget", "online encoder as target, SIGReg against collapse, no EMA (LeJEPA)")


@hookimpl
def jepakit_register_predictors(register):
    register("transformer", "jepakit.predictors:TransformerPredictor",
             "narrow transformer with mask tokens, per target group or all groups in one pass (I-JEPA)")


@hookimpl
def jepakit_register_view_samplers(register):
    register("blocks", "jepakit.views:BlockViews", "global and local views as blocks (or random subsets) of the token grid (LeJEPA)")
