"""model.arch: a timm ViT named for its sizes (no weights), offered as the fact ``arch``."""

from __future__ import annotations

import pytest

import jepakit
from jepakit import hookimpl
from jepakit.errors import ConfigError
from jepakit.plugins import get_domain
from jepakit.tokenizers import PatchTokenizer
from jepakit.train import build, load_bundle, resolve_config


def test_arch_sets_the_sizes_and_replaces_a_presets_with_a_notice(waves):
    with pytest.warns(UserWarning, match=r"model.arch=vit_tiny_patch16_224 sets width 32 -> 192, depth 2 -> 12, heads 2 -> 3"):
        cfg = resolve_config(get_domain(waves), overrides=["model.arch=vit_tiny_patch16_224"])
    assert {k: cfg["model"][k] for k in ("width", "depth", "heads", "mlp_ratio")} == {"width": 192, "depth": 12, "heads": 3, "mlp_ratio": 4.0}
    # the user's own sizes must agree with it
    with pytest.raises(ConfigError, match=r"model.width 128 contradicts model.arch=vit_tiny_patch16_224 \(width 192\)"):
        resolve_config(get_domain(waves), overrides=["model.arch=vit_tiny_patch16_224", "model.width=128"])
    cfg = resolve_config(get_domain(waves), overrides=["model.arch=vit_small_patch16_224", "model.width=384"])
    assert cfg["model"]["heads"] == 6
    with pytest.raises(ConfigError, match="model.arch 'vit_nope' is not a timm model"):
        resolve_config(get_domain(waves), overrides=["model.arch=vit_nope"])


class ArchPatch(PatchTokenizer):
    seen: list = []

    def __init__(self, dim, in_chans, size, patch=4, arch=None):
        ArchPatch.seen.append(arch)
        super().__init__(dim=dim, in_chans=in_chans, size=size, patch=patch)


class ArchPlugin:
    @hookimpl
    def jepakit_register_tokenizers(register):
        register("arch-patch", ArchPatch, "a patch tokenizer that reads the arch fact (test)")


def test_a_tokenizer_naming_arch_is_offered_model_arch(waves):
    jepakit.register_plugin(ArchPlugin, "arch")
    ArchPatch.seen.clear()
    dom = get_domain(waves)
    cfg = resolve_config(dom, overrides=["tokenizer=arch-patch", "model.arch=vit_tiny_patch16_224", "model.depth=12"])
    model, _ = build(cfg, load_bundle(dom, cfg))
    assert ArchPatch.seen[-1] == "vit_tiny_patch16_224" and model.backbone.width == 192 and len(model.backbone.blocks) == 12
    cfg = resolve_config(dom, overrides=["tokenizer=arch-patch"])
    build(cfg, load_bundle(dom, cfg))
    assert ArchPatch.seen[-1] is None
