"""Hook implementations and the ``sar`` domain record (SAR-JEPA)."""

from __future__ import annotations

from jepakit import Domain, hookimpl, lazy

from .presets import BENCH, DEFAULTS, QUICK, VARIANTS

# components by reference: listing plugins imports neither torch nor tifffile (jepakit.lazy)


@hookimpl
def jepakit_register_tokenizers(register):
    register("sar-patch", "jepakit_sar.tokenizer:SARPatchTokenizer", "timm PatchEmbed for 1-channel SAR chips, log-amplitude standardised per chip")


@hookimpl
def jepakit_register_maskers(register):
    register("sar-local", "jepakit_sar.masks:LocalWindowMasker", "SAR-JEPA local masks: several windows of patches, most of each masked")


@hookimpl
def jepakit_register_targets(register):
    register("roa", "jepakit_sar.targets:ROATarget", "multi-scale ratio-of-averages gradient magnitudes via integral images (SAR-JEPA)")
    register("pixel", "jepakit_sar.targets:PixelTarget", "per-patch normalised pixels (MAE-style target)")
    register("hog", "jepakit_sar.targets:HOGTarget", "histograms of oriented gradients per cell (MaskFeat-style target)")


@hookimpl
def jepakit_register_domains(register):
    register(
        Domain(
            name="sar",
            load=lazy("jepakit_sar.data:load"),
            summary="SAR-JEPA: predict multi-scale ROA gradients of local masked windows; synthetic speckled ATR (L=1,2,4)",
            defaults=DEFAULTS,
            quick=QUICK,
            bench=BENCH,
            variants=VARIANTS,
            baselines={"roa-features/linear": lazy("jepakit_sar.baselines:roa_linear_baseline")},
        )
    )
