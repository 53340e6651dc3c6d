"""The image tokenizer: timm's ``PatchEmbed`` over ``(B, C, S, S)`` images in [0, 1].

``arch`` names a timm ViT (``vit_tiny_patch16_224``...): its patch size is used and its
width must be the run's ``model.width`` (the core builds the encoder's blocks from the
``model`` section; :mod:`jepakit_vision.archs` prints the ``--set`` lines that match a
name). ``pretrained: true`` is refused in one line: weights are never downloaded.

Pixels are mapped to [-1, 1] by a fixed affine map, not standardised per image: the
colour and brightness transformations of seq-JEPA must stay visible to the encoder.
"""

from __future__ import annotations

from timm.layers import PatchEmbed
from torch import Tensor

from jepakit.contract import Batch, Layout, Tokenizer
from jepakit.kit import ConfigError, DataError, notice

from .archs import arch_spec, refuse_pretrained


class ImagePatchTokenizer(Tokenizer):
    """``batch[key]`` (B, C, S, S) -> (B, (S/patch)^2, dim) patch tokens on an (S/p, S/p) grid.

    Args:
        patch: patch side in pixels (default 4, or the arch's).
        arch: a timm ViT name (vit_tiny_patch16_224...): its patch size; model.width must be its width.
        pretrained: refused when true (weights are never downloaded).
        key: the batch entry holding the images.
    """

    def __init__(self, dim: int, in_chans: int = 3, size: int = 32, patch: int | None = None, arch: str | None = None,
                 pretrained: bool = False, key: str = "image"):
        super().__init__()
        refuse_pretrained(pretrained)
        if arch is not None:
            spec = arch_spec(arch)
            if int(dim) != spec.width:
                raise ConfigError(f"the arch {arch} is a ViT of width {spec.width}, depth {spec.depth}, heads {spec.heads}; "
                                  f"this run has model.width={dim}: add " + " ".join(f"--set {s}" for s in spec.sets()[:4])
                                  + " (python -m jepakit_vision.archs " + arch + " prints them all)")
            if patch is not None and int(patch) != spec.patch:
                raise ConfigError(f"tokenizer.patch={patch} contradicts the arch {arch} (model.arch or tokenizer.arch; patch "
                                  f"{spec.patch}): add --set tokenizer.patch={spec.patch}")
            patch = spec.patch
            if int(size) != spec.img_size:
                notice(f"the arch {arch} is made for {spec.img_size} px images; these are {size} px (data.size): "
                       f"a {int(size) // spec.patch}x{int(size) // spec.patch} grid of {spec.patch} px patches")
        patch = 4 if patch is None else int(patch)
        size = int(size)
        if patch < 1 or size % patch or size // patch < 2:
            raise ConfigError(f"tokenizer.patch={patch} must divide data.size={size} into a grid of at least 2x2 patches")
        self.dim, self.in_chans, self.size, self.patch, self.key, self.arch = int(dim), int(in_chans), size, patch, key, arch
        self.grid = (size // patch, size // patch)
        self.proj = PatchEmbed(img_size=size, patch_size=patch, in_chans=self.in_chans, embed_dim=self.dim)

    def layout(self, batch: Batch) -> Layout:
        return Layout(self.grid)

    def _image(self, batch: Batch) -> Tensor:
        if self.key not in batch:
            raise DataError(f"the batch has no {self.key!r} entry (keys: {', '.join(batch)}); set tokenizer.key")
        x = batch[self.key]
        if x.dim() == 3:
            x = x[:, None]
        expected = (self.in_chans, self.size, self.size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise DataError(f"image tokenizer expects images of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}; "
                            "data.size and data.channels set them")
        return x.float()

    def embed(self, batch: Batch) -> Tensor:
        return self.proj(self._image(batch) * 2.0 - 1.0)
