"""The slice-embedding target: what masked slice-embedding prediction predicts.

The paper's masked embedding prediction (Nguyen et al. 2023, after BERT's masked tokens)
predicts the embeddings the 2-D slice encoder gives the masked slices, before the
transformer mixes slices. Here they come from an EMA copy of the slice encoder (the
core's EMA schedule, a run-relative half-life), layer-normed, as I-JEPA's targets are:
a target that moves with the online weights it trains would be chased to a constant.
The core's ``ema`` target (the EMA *transformer's* outputs at the masked slices, which
see the whole volume) is the other choice, ``--set target=ema``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from jepakit import Masks
from jepakit.targets import EMATarget


class SliceEMATarget(EMATarget):
    """The EMA slice encoder's embeddings of the target slices (layer-normed), ``(B, M,
    Nt, width)``. ``half_life``/``momentum``/``steps`` as the core's ``ema`` target."""

    def __init__(self, momentum=None, half_life=(0.01, 0.05), layer_norm: bool = True, steps: int = 1000):
        super().__init__(momentum=momentum, half_life=half_life, sees="all", layer_norm=layer_norm, steps=steps)

    def forward(self, model, batch: dict, masks: Masks) -> Tensor:
        tok = self.backbone.tokenizer
        flat = masks.target.reshape(masks.target.shape[0], -1)
        if hasattr(tok, "tokens"):  # the slice tokenizer: only the target slices encoded, never augmented
            h = tok.tokens(batch, flat)
        else:  # any other tokenizer: its tokens of the target cells (prefix tokens dropped)
            h = tok(batch, flat)[:, -flat.shape[1]:]
        if self.layer_norm:
            h = F.layer_norm(h, h.shape[-1:])
        return h.reshape(*masks.target.shape, h.shape[-1])


__all__ = ["SliceEMATarget"]
