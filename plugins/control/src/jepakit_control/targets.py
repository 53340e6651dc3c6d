"""The target: an EMA copy of the encoder that sees the future observations.

The core's EMA target (run-relative half-life) encoding only the target tokens
(``sees="target"``): its tokenizer copy is the only one that embeds the future steps'
observations (``reveal_future``), so the targets are the target encoder's embeddings of
``o[t+1 .. t+k]`` alone, at their time positions -- ACT-JEPA's abstract observation
sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

from jepakit.contract import Encoder
from jepakit.targets import EMATarget


class FutureEMATarget(EMATarget):
    def __init__(self, momentum: Sequence[float] | None = None, half_life: Sequence[float] | float = (0.01, 0.05),
                 layer_norm: bool = True, steps: int = 1000):
        super().__init__(momentum, half_life, sees="target", layer_norm=layer_norm, steps=steps)

    def attach(self, model: Encoder) -> None:
        super().attach(model)
        tok = self.backbone.tokenizer
        if hasattr(tok, "reveal_future"):
            tok.reveal_future = True


__all__ = ["FutureEMATarget"]
