"""The core's own components, registered through the public hooks like any plugin.

This module is to the core what a plugin's ``plugin.py`` is to the plugin: its one
registration module, which :mod:`jepakit.plugins` imports by name (``BUILTIN_PLUGINS``,
as pytest names its ``default_plugins``) and which imports nothing of the registry, only
the ``hookimpl`` marker beside the specs. The components are named by reference
(``"module:Class"``) rather than registered from their own modules: ``masks.py``,
``targets.py`` and the others import torch, and listing plugins (``jepakit domains``,
``--help``, every error before training) must not; registering a reference imports
nothing, building the component imports its module (and torch).
"""

from __future__ import annotations

from .hookspecs import hookimpl


@hookimpl
def jepakit_register_tokenizers(register):
    register("patch", "jepakit.tokenizers:PatchTokenizer", "non-overlapping 1-/2-/3-D patches of a dense array, linearly embedded")


@hookimpl
def jepakit_register_maskers(register):
    register("multiblock", "jepakit.masks:MultiBlockMasker", "I-JEPA/V-JEPA multi-block masks over 1-, 2- or 3-D grids")
    register("random", "jepakit.masks:RandomSubsetMasker", "random disjoint context and target subsets")
    register("segments", "jepakit.segments:SegmentMasker", "a masker drawn inside each segment of a segmented (multi-modal) layout")


@hookimpl
def jepakit_register_targets(register):
    register("ema", "jepakit.targets:EMATarget", "momentum (EMA) copy of the encoder, layer-normed outputs (I-JEPA)")
    register("sigreg", "jepakit.targets:SIGRegTarget", "online encoder as target, SIGReg against collapse, no EMA (LeJEPA)")
    register("online", "jepakit.targets:OnlineTarget", "online encoder over every token as target, no EMA; needs a regularizer (sigreg)")


@hookimpl
def jepakit_register_losses(register):
    register("smooth_l1", "jepakit.losses:SmoothL1Loss", "smooth L1 (Huber) per target token (I-JEPA)")
    register("l1", "jepakit.losses:L1Loss", "mean absolute difference per target token")
    register("mse", "jepakit.losses:MSELoss", "mean squared difference per target token")
    register("cosine", "jepakit.losses:CosineLoss", "1 - cosine similarity per target token")
    register("infonce", "jepakit.losses:InfoNCELoss", "contrastive: each prediction picks its own target among the batch's (temperature fixed or learned)")
    register("supcon", "jepakit.losses:SupConLoss", "supervised contrastive: targets of items with the same label are positives")


@hookimpl
def jepakit_register_regularizers(register):
    register("variance", "jepakit.regularizers:VarianceRegularizer", "VICReg variance hinge on the context, across samples per position")
    register("covariance", "jepakit.regularizers:CovarianceRegularizer", "VICReg covariance term on the context, across samples per position")
    register("sigreg", "jepakit.regularizers:SIGRegRegularizer", "LeJEPA SIGReg on full-view embeddings, mixed in (1 - w) * loss + w * SIGReg")


@hookimpl
def jepakit_register_predictors(register):
    register("transformer", "jepakit.predictors:TransformerPredictor",
             "narrow transformer with mask tokens, per target group or all groups in one pass (I-JEPA)")


@hookimpl
def jepakit_register_view_samplers(register):
    register("blocks", "jepakit.views:BlockViews", "global and local views as blocks (or random subsets) of the token grid (LeJEPA)")
