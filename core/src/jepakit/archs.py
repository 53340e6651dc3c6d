"""``model.arch``: a timm Vision Transformer named for its sizes.

``--set model.arch=vit_tiny_patch16_224`` sets the encoder's ``width``, ``depth``, ``heads``
and ``mlp_ratio`` to those of timm's architecture (read off a model built on the meta
device with ``pretrained=False``: no memory, no weights, nothing downloaded). The core's
encoder is made of timm's own ``Block``s, so the sizes mean the same thing; what turns a
batch into tokens stays the domain's tokenizer, which is offered the name as the fact
``arch`` (an image tokenizer takes its patch size from it). Sizes the user sets beside
the arch must agree with it; a preset's are replaced, with a notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, notice

SIZES = ("width", "depth", "heads", "mlp_ratio")


def arch_sizes(name: str) -> dict[str, Any]:
    """``{width, depth, heads, mlp_ratio}`` of timm's ViT ``name``; a one-line
    :class:`ConfigError` for a name timm lacks or a model that is not a plain ViT."""
    import timm
    import torch

    if not isinstance(name, str) or name not in timm.list_models():
        close = timm.list_models(f"*{str(name).split('_')[0]}*")[:5] if isinstance(name, str) else []
        raise ConfigError(f"model.arch {name!r} is not a timm model (e.g. {', '.join(close) or 'vit_tiny_patch16_224'})")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    blocks = getattr(model, "blocks", None)
    width = getattr(model, "embed_dim", None)
    try:
        first = blocks[0]
        heads = int(first.attn.num_heads)
        mlp_ratio = first.mlp.fc1.out_features / width
    except (TypeError, AttributeError, IndexError):
        raise ConfigError(f"model.arch {name!r} is not a plain Vision Transformer (timm VisionTransformer blocks); "
                          "give model.width/depth/heads instead") from None
    return {"width": int(width), "depth": len(blocks), "heads": heads, "mlp_ratio": float(mlp_ratio)}


def apply_arch(cfg: dict[str, Any], user: list[Mapping[str, Any] | None]) -> None:
    """Set ``cfg["model"]``'s sizes from ``model.arch`` (when given), in place: sizes in
    the user's layers ``user`` must agree with the arch (one-line error), a preset's are
    replaced (one notice)."""
    name = cfg["model"].get("arch")
    if not name:
        return
    sizes = arch_sizes(name)
    given = {k: v for layer in user if layer for k, v in dict(layer.get("model") or {}).items() if k in SIZES}
    clash = [k for k, v in given.items() if v != sizes[k]]
    if clash:
        k = clash[0]
        raise ConfigError(f"model.{k} {given[k]} contradicts model.arch={name} ({k} {sizes[k]}); give one of them")
    replaced = [f"{k} {cfg['model'][k]} -> {v}" for k, v in sizes.items() if cfg["model"][k] != v and k not in given]
    if replaced:
        notice(f"model.arch={name} sets {', '.join(replaced)} (timm's sizes)")
    cfg["model"].update(sizes)


__all__ = ["SIZES", "apply_arch", "arch_sizes"]
