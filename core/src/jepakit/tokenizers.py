"""Built-in tokenizer: N-D patch embedding for dense arrays (signals, images, videos)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from .contract import Batch, Layout, Tokenizer
from .errors import DataError, check


def _tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    check(len(value) == n, f"{name} needs {n} entries, got {value}")
    return value


class PatchTokenizer(Tokenizer):
    """Cuts ``batch[key]`` of shape ``(B, C, *size)`` into non-overlapping patches of
    ``patch`` and embeds each with a linear map (a strided convolution), like timm's
    ``PatchEmbed`` but for 1-, 2- or 3-D inputs. ``size`` and ``in_chans`` usually come
    from the data (``DataBundle.info``)."""

    def __init__(self, dim: int, in_chans: int, size: int | Sequence[int], patch: int | Sequence[int] = 16, key: str = "x"):
        super().__init__()
        size = (size,) if isinstance(size, int) else tuple(int(s) for s in size)
        check(1 <= len(size) <= 3, f"size must have 1 to 3 dimensions, got {size}")
        patch_t = _tuple(patch, len(size), "patch")
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
