"""Patch tokenizer for single-channel SAR chips (timm's ``PatchEmbed`` with one input channel).

The amplitude chip is log-compressed and standardised per chip before the patch
projection: SAR amplitudes span decades and are heavy-tailed under speckle, and a log
turns the multiplicative speckle and calibration gain into additive terms that the
standardisation removes. The transform is part of the tokenizer so the EMA target
encoder sees exactly what the context encoder sees.
"""

from __future__ import annotations

import torch
from timm.layers import PatchEmbed
from torch import Tensor

from jepakit.contract import Batch, Layout, Tokenizer
from jepakit.kit import DataError, check


def log_standardize(x: Tensor, eps: float = 1e-3) -> Tensor:
    """``log(x + eps * mean)`` standardised per image (scale-free; zeros stay finite)."""
    x = x.clamp_min(0)
    m = x.mean(dim=(-2, -1), keepdim=True)
    z = torch.log(x + eps * m + 1e-12)
    return (z - z.mean(dim=(-2, -1), keepdim=True)) / (z.std(dim=(-2, -1), keepdim=True) + 1e-6)


class SARPatchTokenizer(Tokenizer):
    """``batch["image"]`` (B, 1, S, S) amplitude -> (B, (S/p)^2, dim) patch tokens."""

    def __init__(self, dim: int, img_size: int = 64, patch: int = 8, log_input: bool = True, key: str = "image"):
        super().__init__()
        check(img_size % patch == 0, f"img_size {img_size} must be a multiple of patch {patch}")
        self.dim, self.img_size, self.patch, self.log_input, self.key = int(dim), int(img_size), int(patch), bool(log_input), key
        self.grid = (img_size // patch, img_size // patch)
        self.proj = PatchEmbed(img_size=img_size, patch_size=patch, in_chans=1, embed_dim=dim)

    def _image(self, batch: Batch) -> Tensor:
        if self.key not in batch:
            raise DataError(f"batch has no {self.key!r} entry (keys: {', '.join(batch)})")
        x = batch[self.key]
        if x.dim() == 3:
            x = x[:, None]
        if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise DataError(
                f"SAR tokenizer expects images of shape (B, 1, {self.img_size}, {self.img_size}), got {tuple(x.shape)}"
            )
        return x.float()

    def layout(self, batch: Batch) -> Layout:
        return Layout(grid=self.grid)

    def embed(self, batch: Batch) -> Tensor:
        x = self._image(batch)
        if self.log_input:
            x = log_standardize(x)
        return self.proj(x)
