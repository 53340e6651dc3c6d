"""The slice tokenizer: one token per slice, from a 2-D slice encoder shared by images and
by the slices of volumes.

The core's transformer over these tokens is the slice-aggregating transformer; mean
pooling of its valid tokens is the volume (or image) embedding. Each slice is encoded on
its own (no batch statistics, no mixing across slices), so a slice's token does not
depend on which other slices were kept, and the order of the tokens is the order of the
slices: the position embedding of grid cell ``s`` is slice ``s``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jepakit import Layout, Tokenizer
from jepakit.kit import DataError, as_shape, check


class SliceEncoder(nn.Module):
    """A small 2-D CNN: two stride-2 3x3 convolutions (``channels``, then 2x) with GELU,
    then a linear map of the flattened ``(H/4) x (W/4)`` map to ``dim``. 16 x 16 slices at
    ``channels`` 16 and ``dim`` 64: 37 k parameters, about 0.2 MFLOP per slice."""

    def __init__(self, dim: int, height: int, width: int, channels: int = 16):
        super().__init__()
        c = int(channels)
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.GELU(),
        )
        h, w = math.ceil(math.ceil(height / 2) / 2), math.ceil(math.ceil(width / 2) / 2)
        self.proj = nn.Linear(2 * c * h * w, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(n, H, W)`` slices -> ``(n, dim)``."""
        return self.proj(self.conv(x.unsqueeze(1)).flatten(1))


class SliceTokenizer(Tokenizer):
    """``batch["x"]`` ``(B, S, H, W)`` -> one token per slice ``(B, S, dim)``; grid
    ``(S,)``. ``batch["valid"]`` ``(B, S)`` marks the slices that hold data (an image is
    a 1-slice volume whose other slices are padding); invalid slices become a learned pad
    token (they carry nothing of the input) and are flagged ``valid`` False in the
    layout, which the probes' pooling and the slice masker read. ``size`` ``(S, H, W)``
    comes from the data (``DataBundle.info``). Asked for a subset of slices (``keep``),
    it encodes only those.

    ``augment`` (training only, and only for a subset: the context view): the kept slices
    of each item are transformed together by one random in-plane rotation/flip (the 8
    symmetries of the square), a circular shift of up to 2 pixels, an intensity scale of
    0.8-1.2 and Gaussian noise of std 0.1. So the context view and the full view of a
    volume differ by an augmentation as well as by the hidden slices, as the paper's two
    transformations ``s`` and ``t`` of a volume do; the clustering terms then ask for
    invariance to it. Evaluation (eval mode) and the full view are never augmented; the
    draws come from torch's global generator, which the core seeds per step."""

    def __init__(self, dim: int, size: int | Sequence[int], channels: int = 16, key: str = "x", augment: bool = True):
        super().__init__()
        check(isinstance(augment, bool), f"augment must be true or false, got {augment!r}")
        self.augment = augment
        self.size = as_shape(size, 3, "size")
        check(int(channels) >= 1, f"channels must be >= 1, got {channels}")
        self.dim, self.key = int(dim), str(key)
        self.encoder = SliceEncoder(self.dim, self.size[1], self.size[2], int(channels))
        self.pad = nn.Parameter(torch.zeros(1, 1, self.dim))
        nn.init.trunc_normal_(self.pad, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"pad"}

    def _input(self, batch: dict) -> Tensor:
        if self.key not in batch:
            raise DataError(f"the batch has no {self.key!r} entry (keys: {', '.join(batch)}); set tokenizer.key")
        x = batch[self.key]
        if tuple(x.shape[1:]) != tuple(self.size):
            raise DataError(f"slice tokenizer expects slices of shape (B, {', '.join(map(str, self.size))}) (data.size), "
                            f"got {tuple(x.shape)}")
        return x

    def _valid(self, batch: dict, b: int) -> Tensor:
        v = batch.get("valid")
        if v is None:
            return torch.ones(b, self.size[0], dtype=torch.bool)
        v = torch.as_tensor(v).to(torch.bool)
        if tuple(v.shape) != (b, self.size[0]):
            raise DataError(f"batch['valid'] must be (B, S) = ({b}, {self.size[0]}), one flag per slice; got {tuple(v.shape)}")
        return v

    def layout(self, batch: dict) -> Layout:
        x = self._input(batch)
        return Layout((self.size[0],), flags={"valid": self._valid(batch, x.shape[0]).cpu()})

    def _encode(self, x: Tensor, valid: Tensor) -> Tensor:
        """``x`` (B, n, H, W), ``valid`` (B, n) -> (B, n, dim)."""
        b, n = x.shape[:2]
        tokens = self.encoder(x.reshape(b * n, *x.shape[2:]).float()).reshape(b, n, self.dim)
        return torch.where(valid.to(tokens.device).unsqueeze(-1), tokens, self.pad.to(tokens.dtype).expand(b, n, -1))

    def embed(self, batch: dict) -> Tensor:
        x = self._input(batch)
        return self._encode(x, self._valid(batch, x.shape[0]))

    def tokens(self, batch: dict, keep: Tensor, augment: bool = False) -> Tensor:
        """``(B, n, dim)`` tokens of the slices ``keep`` (B, n), only those encoded."""
        x = self._input(batch)
        valid = self._valid(batch, x.shape[0]).to(keep.device)
        idx = keep.long()
        xs = torch.gather(x, 1, idx.to(x.device)[:, :, None, None].expand(-1, -1, *x.shape[2:])).float()
        if augment:
            xs = augment_slices(xs)
        return self._encode(xs, torch.gather(valid, 1, idx))

    def forward(self, batch: dict, keep: Tensor | None = None) -> Tensor:
        if keep is None:
            return self.embed(batch)
        return self.tokens(batch, keep, augment=self.augment and self.training)


def augment_slices(x: Tensor) -> Tensor:
    """``(B, n, H, W)``: each item's slices transformed together (see
    :class:`SliceTokenizer`'s ``augment``)."""
    out = []
    square = x.shape[-1] == x.shape[-2]
    for item in x:
        k = int(torch.randint(4 if square else 1, (1,)))
        item = torch.rot90(item, k, dims=(-2, -1)) if k else item
        if bool(torch.rand(()) < 0.5):
            item = item.flip(-1)
        shift = torch.randint(-2, 3, (2,)).tolist()
        item = torch.roll(item, shifts=shift, dims=(-2, -1))
        scale = 0.8 + 0.4 * torch.rand(())
        out.append(item * scale + 0.1 * torch.randn_like(item))
    return torch.stack(out)


__all__ = ["SliceEncoder", "SliceTokenizer", "augment_slices"]
