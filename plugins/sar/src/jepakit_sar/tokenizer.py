"""Patch tokenizer for single-channel SAR chips (timm's ``PatchEmbed`` with one input channel).

The amplitude chip is log-compressed and standardised per chip before the patch
projection: SAR amplitudes span decades and are heavy-tailed under speckle, and a log
turns the multiplicative speckle and calibration gain into additive terms that the
standardisation removes. The transform is part of the tokenizer so the EMA target
encoder sees exactly what the context encoder sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import PatchEmbed
from torch import Tensor

from jepakit.contract import Batch, Layout, Tokenizer
from jepakit.kit import DataError, as_shape, check


def log_standardize(x: Tensor, eps: float = 1e-3) -> Tensor:
    """``log(x + eps * mean)`` standardised per image (scale-free; zeros stay finite)."""
    x = x.clamp_min(0)
    m = x.mean(dim=(-2, -1), keepdim=True)
    z = torch.log(x + eps * m + 1e-12)
    return (z - z.mean(dim=(-2, -1), keepdim=True)) / (z.std(dim=(-2, -1), keepdim=True) + 1e-6)


class SARPatchTokenizer(Tokenizer):
    """``batch["image"]`` (B, 1, H, W) amplitude -> (B, (H/p) * (W/p), dim) patch tokens.

    ``img_size`` and ``patch`` are an int (a square) or ``(H, W)`` (a tuple, or a list
    from YAML), read with :func:`jepakit.kit.as_shape`."""

    def __init__(
        self, dim: int, img_size: int | Sequence[int] = 64, patch: int | Sequence[int] = 8, log_input: bool = True,
        key: str = "image",
    ):
        super().__init__()
        size, patch_hw = as_shape(img_size, 2, "img_size"), as_shape(patch, 2, "patch")
        check(all(s % p == 0 for s, p in zip(size, patch_hw)), f"img_size {img_size} must be a multiple of patch {patch}")
        self.dim, self.img_size, self.patch, self.log_input, self.key = int(dim), size, patch_hw, bool(log_input), key
        self.grid = (size[0] // patch_hw[0], size[1] // patch_hw[1])
        self.proj = PatchEmbed(img_size=size, patch_size=patch_hw, in_chans=1, embed_dim=dim)

    def _image(self, batch: Batch) -> Tensor:
        if self.key not in batch:
            raise DataError(f"batch has no {self.key!r} entry (keys: {', '.join(batch)})")
        x = batch[self.key]
        if x.dim() == 3:
            x = x[:, None]
        if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != self.img_size:
            raise DataError(
                f"SAR tokenizer expects images of shape (B, 1, {self.img_size[0]}, {self.img_size[1]}), got {tuple(x.shape)}"
            )
        return x.float()

    def layout(self, batch: Batch) -> Layout:
        return Layout(grid=self.grid)

    def embed(self, batch: Batch) -> Tensor:
        x = self._image(batch)
        if self.log_input:
            x = log_standardize(x)
        return self.proj(x)
