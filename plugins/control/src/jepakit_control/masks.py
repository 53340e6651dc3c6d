"""The ``chunk`` masker: the past is the context, the future steps are the target.

ACT-JEPA predicts the target encoder's embeddings of the next ``chunk`` observations from
the current and past ones, so there is nothing to draw: context = grid positions ``0 ..
window-1`` (every past step), one target group = ``window .. window+chunk-1`` (every future
step). The same masks every step; the generator is not used.
"""

from __future__ import annotations

import torch

from jepakit import Layout, Masker, Masks
from jepakit.kit import check


class ChunkMasker(Masker):
    def __init__(self, window: int, chunk: int):
        self.window, self.chunk = int(window), int(chunk)

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Masks:
        n = layout.num_tokens
        check(n == self.window + self.chunk, f"chunk masker: the layout has {n} steps, expected window + chunk = "
              f"{self.window} + {self.chunk}")
        context = torch.arange(self.window).expand(batch_size, -1).clone()
        target = torch.arange(self.window, n).expand(batch_size, 1, -1).clone()
        return Masks(context, target)


__all__ = ["ChunkMasker"]
