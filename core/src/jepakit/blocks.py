"""Building blocks the encoder and the core's predictor share: a stack of timm
transformer blocks with a linear drop-path schedule, and the weight initialisation both
apply. Their own module so that :mod:`jepakit.predictors` needs nothing of
:mod:`jepakit.model`, which builds its default predictor from there."""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from .errors import check


def transformer_blocks(width: int, depth: int, heads: int, mlp_ratio: float, drop_path: float, qkv_bias: bool) -> nn.Sequential:
    check(width % heads == 0, f"width {width} must be divisible by heads {heads}")
    rates = torch.linspace(0, drop_path, depth).tolist() if depth else []
    return nn.Sequential(
        *[
            Block(width, heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=r, norm_layer=nn.LayerNorm)
            for r in rates
        ]
    )


def init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
