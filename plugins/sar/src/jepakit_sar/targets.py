"""Hand-made prediction targets computed from the raw chip (no encoder).

* :class:`ROATarget`: SAR-JEPA's multi-scale ratio-of-averages gradient magnitudes
  (:mod:`jepakit_sar.roa`), patchified to the token grid and concatenated over radii;
* :class:`PixelTarget`: the patch's pixels (MAE's target), normalised per patch;
* :class:`HOGTarget`: MaskFeat-style histograms of oriented (Sobel) gradients per cell.

All three read ``batch["image"]`` (linear amplitude), return ``(B, N, Dt)`` features
from :meth:`features` and ``gather_tokens(features, masks.target)`` from :meth:`forward`,
and run without gradients. ``patch`` must match the tokenizer's (both take it from the
data's ``info``), which :meth:`forward` checks against the model's layout.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from jepakit.contract import Batch, Masks, Target, gather_tokens
from jepakit.kit import DataError, check

from .roa import DEFAULT_EPS, DEFAULT_RADII, patchify, roa_gradients
from .tokenizer import log_standardize


class _ImageTarget(Target):
    needs_grad = False

    def __init__(self, patch: int, key: str = "image"):
        super().__init__()
        check(patch >= 1, f"patch must be >= 1, got {patch}")
        self.patch, self.key = int(patch), key

    def _image(self, batch: Batch) -> Tensor:
        if self.key not in batch:
            raise DataError(f"batch has no {self.key!r} entry (keys: {', '.join(batch)})")
        x = batch[self.key].float()
        return x[:, None] if x.dim() == 3 else x

    @abstractmethod
    def features(self, image: Tensor) -> Tensor:
        """``(B, N, dim)`` features of ``image`` (B, 1, H, W), one row per token."""

    @torch.no_grad()
    def forward(self, model, batch: Batch, masks: Masks) -> Tensor:
        x = self._image(batch)
        feat = self.features(x)
        grid = getattr(getattr(model, "backbone", None), "grid", None)
        if grid is not None and feat.shape[1] != math.prod(grid):
            raise ValueError(
                f"{type(self).__name__}: patch {self.patch} gives {feat.shape[1]} tokens but the tokenizer's grid is {grid}"
            )
        return gather_tokens(feat, masks.target.to(feat.device))


class ROATarget(_ImageTarget):
    """Multi-scale ROA gradient magnitudes per patch: ``dim = len(radii) * (patch/cell)^2``."""

    def __init__(
        self,
        patch: int = 8,
        radii: Sequence[int] = DEFAULT_RADII,
        eps: float = DEFAULT_EPS,
        cell: int = 1,
        key: str = "image",
    ):
        super().__init__(patch, key)
        check(len(radii) > 0 and min(int(r) for r in radii) >= 1, f"radii must be positive, got {radii!r}")
        check(cell >= 1 and patch % cell == 0, f"cell {cell} must divide patch {patch}")
        check(eps > 0, f"eps must be > 0, got {eps}")
        self.radii, self.eps, self.cell = tuple(int(r) for r in radii), float(eps), int(cell)
        self.dim = len(self.radii) * (self.patch // self.cell) ** 2

    def features(self, image: Tensor) -> Tensor:
        return patchify(roa_gradients(image, self.radii, self.eps), self.patch, self.cell)


class PixelTarget(_ImageTarget):
    """The patch's pixels (``log=True``: log-amplitude as the encoder sees it), each patch
    standardised (MAE's ``norm_pix_loss``): ``dim = patch^2``."""

    def __init__(self, patch: int = 8, log: bool = False, norm: bool = True, key: str = "image"):
        super().__init__(patch, key)
        self.log, self.norm = bool(log), bool(norm)
        self.dim = self.patch**2

    def features(self, image: Tensor) -> Tensor:
        x = log_standardize(image) if self.log else image
        feat = patchify(x, self.patch)
        if self.norm:
            feat = (feat - feat.mean(-1, keepdim=True)) / (feat.var(-1, keepdim=True) + 1e-6).sqrt()
        return feat


class HOGTarget(_ImageTarget):
    """Histograms of oriented gradients (MaskFeat): Sobel gradients, ``nbins`` unsigned
    orientation bins weighted by magnitude, summed over ``cell x cell`` pixels and
    L2-normalised per cell: ``dim = nbins * (patch/cell)^2``."""

    def __init__(self, patch: int = 8, nbins: int = 9, cell: int = 4, log: bool = False, key: str = "image"):
        super().__init__(patch, key)
        check(nbins >= 2, f"nbins must be >= 2, got {nbins}")
        check(cell >= 1 and patch % cell == 0, f"cell {cell} must divide patch {patch}")
        self.nbins, self.cell, self.log = int(nbins), int(cell), bool(log)
        self.dim = self.nbins * (self.patch // self.cell) ** 2
        sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("kernel", torch.stack([sobel, sobel.t()])[:, None], persistent=False)

    def features(self, image: Tensor) -> Tensor:
        x = log_standardize(image) if self.log else image
        g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x))
        gx, gy = g[:, :1], g[:, 1:]
        mag = torch.sqrt(gx * gx + gy * gy)
        angle = torch.atan2(gy, gx) % math.pi  # unsigned orientation
        bins = (angle / math.pi * self.nbins).long().clamp_max(self.nbins - 1)
        hist = torch.zeros(x.shape[0], self.nbins, *x.shape[-2:], device=x.device, dtype=x.dtype)
        hist.scatter_(1, bins, mag)
        hist = F.avg_pool2d(hist, self.cell) * self.cell**2
        hist = F.normalize(hist, dim=1)
        return patchify(hist, self.patch // self.cell)
