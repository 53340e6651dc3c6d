"""timm ViT architectures by name, weights never downloaded.

The core's encoder is its own ViT built of timm ``Block``s (``model.width``, ``model.depth``,
``model.heads``, ``model.mlp_ratio``) behind a tokenizer; a timm ViT by name is therefore
its *sizes*: :func:`arch_spec` builds ``timm.create_model(name, pretrained=False)`` on
PyTorch's ``meta`` device (no memory, no weights, no download: ViT-B/16's 86 M
parameters cost nothing there) and reads width, depth, heads, MLP ratio, patch size and
input size off the built modules. :func:`arch_sets` turns them into the ``--set`` lines a
run needs. ``pretrained: true`` is refused (:func:`refuse_pretrained`): nothing may be
downloaded at run time, and jepakit pretrains its own encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jepakit.kit import ConfigError


@dataclass(frozen=True)
class ArchSpec:
    """The sizes of one timm ViT."""

    name: str
    width: int
    depth: int
    heads: int
    mlp_ratio: float
    patch: int
    img_size: int
    qkv_bias: bool

    def sets(self) -> list[str]:
        """``--set`` lines that give the core's encoder these sizes."""
        return [f"model.width={self.width}", f"model.depth={self.depth}", f"model.heads={self.heads}",
                f"model.mlp_ratio={self.mlp_ratio:g}", f"tokenizer.patch={self.patch}", f"data.size={self.img_size}"]


def refuse_pretrained(pretrained: object, where: str = "tokenizer.pretrained") -> None:
    """One line for ``pretrained: true``: no weights are ever downloaded."""
    if pretrained not in (False, None, "false", 0):
        raise ConfigError(f"{where}={pretrained!r}: jepakit-vision never downloads weights (no network at run time; "
                          "the encoder is pretrained here); drop it and pretrain with `jepakit pretrain vision`")


@lru_cache(maxsize=32)
def arch_spec(name: str) -> ArchSpec:
    """The sizes of timm's ``name`` (e.g. ``vit_tiny_patch16_224``), built without weights."""
    import timm
    import torch

    if not isinstance(name, str) or not name:
        raise ConfigError(f"tokenizer.arch must be a timm ViT name such as vit_tiny_patch16_224, got {name!r}")
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:5] if "_" in name else []
        hint = f"; e.g. {', '.join(close)}" if close else "; e.g. vit_tiny_patch16_224, vit_small_patch16_224"
        raise ConfigError(f"tokenizer.arch={name!r} is not a timm model{hint}")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    blocks = getattr(model, "blocks", None)
    embed = getattr(model, "patch_embed", None)
    if blocks is None or embed is None or not len(blocks) or not hasattr(blocks[0], "attn"):
        raise ConfigError(f"tokenizer.arch={name!r} is not a plain ViT (patch_embed + attention blocks); use a vit_* model")
    width = int(model.embed_dim)
    attn = blocks[0].attn
    fc1 = blocks[0].mlp.fc1
    patch = embed.patch_size
    img = embed.img_size
    patch = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    img = int(img[0] if isinstance(img, (tuple, list)) else img)
    return ArchSpec(name, width, len(blocks), int(attn.num_heads), fc1.out_features / width, patch, img,
                    attn.qkv.bias is not None)


def arch_sets(name: str) -> list[str]:
    """``--set`` lines for timm's ``name``: ``arch_sets("vit_tiny_patch16_224")``."""
    return arch_spec(name).sets()


def main(argv: list[str] | None = None) -> int:
    """``python -m jepakit_vision.archs NAME``: print the ``--set`` flags for a timm ViT."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m jepakit_vision.archs vit_tiny_patch16_224", file=sys.stderr)
        return 2
    try:
        print(" ".join(f"--set {s}" for s in [f"tokenizer.arch={args[0]}", *arch_sets(args[0])]))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
