"""Built-in tokenizer: N-D patch embedding for dense arrays (signals, images, videos)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from .contract import Batch, Layout, Tokenizer
from .errors import DataError, check
from .kit import as_shape


def _axes(value: object) -> int | None:
    """How many axes a size lists (None for a single int)."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return None


class PatchTokenizer(Tokenizer):
    """Cuts ``batch[key]`` of shape ``(B, C, *size)`` into non-overlapping patches of
    ``patch`` and embeds each with a linear map (a strided convolution), like timm's
    ``PatchEmbed`` but for 1-, 2- or 3-D inputs. ``size`` and ``in_chans`` usually come
    from the data (``DataBundle.info``).

    ``size`` and ``patch`` are each an int (the same along every axis) or one int per
    axis (a tuple, or a list from YAML); the number of axes is ``ndim`` when given, else
    that of whichever of ``size`` and ``patch`` lists them, else 1. So a 2-D domain may
    offer ``size=64`` or ``size=(64, 64)`` alike (with ``patch: [8, 8]`` or ``ndim: 2``).
    """

    def __init__(
        self, dim: int, in_chans: int, size: int | Sequence[int], patch: int | Sequence[int] = 16, key: str = "x",
        ndim: int | None = None,
    ):
        super().__init__()
        if ndim is None:  # the first of size and patch that lists its axes says how many
            ndim = next((n for n in map(_axes, (size, patch)) if n is not None), 1)
        check(1 <= int(ndim) <= 3, f"size must have 1 to 3 dimensions, got {size}")
        size = as_shape(size, int(ndim), "size")
        patch_t = as_shape(patch, len(size), "patch")
        for s, p in zip(size, patch_t):
            check(p >= 1 and s % p == 0, f"patch {patch_t} must divide the input size {size}")
        self.dim, self.key, self.size, self.patch = dim, key, size, patch_t
        self.in_chans = int(in_chans)
        self.grid = tuple(s // p for s, p in zip(size, patch_t))
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[len(size)]
        self.proj = conv(self.in_chans, dim, kernel_size=patch_t, stride=patch_t)
        fan_in = self.in_chans * math.prod(patch_t)
        nn.init.trunc_normal_(self.proj.weight, std=(1.0 / fan_in) ** 0.5)
        nn.init.zeros_(self.proj.bias)

    def layout(self, batch: Batch) -> Layout:
        return Layout(self.grid)

    def embed(self, batch: Batch) -> Tensor:
        if self.key not in batch:
            raise DataError(f"the batch has no {self.key!r} entry (keys: {', '.join(batch)}); set tokenizer.key")
        x = batch[self.key]
        expected = (self.in_chans, *self.size)
        if tuple(x.shape[1:]) != expected:
            raise DataError(f"patch tokenizer expects inputs of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return self.proj(x.float()).flatten(2).transpose(1, 2)
