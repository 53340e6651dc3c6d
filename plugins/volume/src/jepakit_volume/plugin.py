"""Hook implementations and the ``volume`` domain record (joint 2-D/3-D JEPA with
intra-inter contrastive clustering)."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy

from .presets import BENCH, DEFAULTS, QUICK, VARIANTS

# components by reference: listing plugins imports neither torch nor nibabel (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("slices", "jepakit_volume.tokenizer:SliceTokenizer",
             "one token per slice from a 2-D CNN shared by images and volume slices (images are 1-slice volumes)")


@hookimpl
def jepakit_register_maskers(register):
    register("slices", "jepakit_volume.masks:SliceMasker", "blocks of consecutive valid slices as targets, the rest as context")


@hookimpl
def jepakit_register_targets(register):
    register("slice-ema", "jepakit_volume.targets:SliceEMATarget", "EMA slice encoder's embeddings of the masked slices (masked slice-embedding prediction)")


@hookimpl
def jepakit_register_regularizers(register):
    register("cluster", "jepakit_volume.clustering:ClusterRegularizer",
             "SwAV-style contrastive clustering between context and full view, per token (2-D) and pooled (3-D)")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="volume",
            load=lazy("jepakit_volume.data:load"),
            summary="joint 2-D/3-D JEPA: shared slice encoder, slice-aggregating transformer, masked slice prediction, contrastive clustering",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            variants=VARIANTS,
            baselines={"raw/linear": lazy("jepakit_volume.baselines:raw_linear_baseline")},
        )
    )
