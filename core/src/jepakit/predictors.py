"""Predictors: what maps the context encoder's tokens to predictions at the target
positions. The core's own is ``transformer`` (I-JEPA's narrow transformer with mask
tokens); a plugin registers others through ``jepakit_register_predictors``.

The contract: a predictor is an ``nn.Module`` (its parameters live under ``predictor.*``
in a checkpoint) whose ``forward(context, masks, batch)`` receives the context encoder's
output ``(B, P + Nc, width)`` (the ``P`` prefix tokens first), the step's
:class:`~jepakit.contract.Masks` and the batch, and returns predictions ``(B, M, Nt,
out_dim)`` for ``masks.target``. Its factory is offered the facts ``grid``,
``segments`` (a segmented layout's, else empty), ``num_prefix``, ``width`` (encoder width), ``out_dim`` (the target's width),
``pred_width``, ``pred_depth``, ``pred_heads``, ``mlp_ratio``, ``pos``, ``drop_path``
(the ``model`` section's), ``dim`` and every key of the data's ``info``, where its
signature names them (:data:`FACTS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import init_weights, transformer_blocks
from .contract import Batch, Masks
from .errors import check
from .posembed import PositionEmbedding

# how the one-pass attention structure reaches scaled-dot-product attention: one masked
# attention (boolean or additive mask) or split into its blocks (GroupSplit)
ATTN_MASKS = ("split", "bool", "float")

# the facts the core offers a predictor's factory, besides ``dim`` and the data's info
FACTS = ("grid", "segments", "num_prefix", "width", "out_dim", "pred_width", "pred_depth", "pred_heads", "mlp_ratio", "pos", "drop_path")


def group_mask(num_context: int, nt: int, m: int, device: torch.device | str | None = None) -> Tensor:
    """``(L, L)`` boolean attention mask (True: may attend), ``L = num_context + m * nt``,
    over the sequence ``[prefix + context, group 1's targets, ..., group m's]``: context
    tokens attend to the context only; a target token to the context and its own group."""
    n = num_context + m * nt
    group = torch.cat([torch.full((num_context,), -1, dtype=torch.long), torch.arange(m).repeat_interleave(nt)])
    group = group.to(device)
    ctx_key = (group < 0).unsqueeze(0)  # every row may see the context
    same = group.unsqueeze(1) == group.unsqueeze(0)  # ... and its own group (the context's own rows included)
    return (ctx_key | same).reshape(n, n)


class GroupSplit:
    """The one-pass sequence's attention structure, ``[P + Nc context, M groups of Nt]``,
    computed block by block instead of as one masked ``L x L`` attention: the context
    attends to itself (one unmasked attention), each group to the context and itself
    (``B * M`` unmasked attentions over ``Nc + Nt`` keys). The same result as
    :func:`group_mask`, without the ``L^2`` scores the mask throws away (about half of
    them at I-JEPA's ViT-Tiny masks) and on the unmasked attention kernels."""

    def __init__(self, num_context: int, nt: int, m: int):
        self.pc, self.nt, self.m = int(num_context), int(nt), int(m)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, dropout_p: float, targets_only: bool = False) -> Tensor:
        """``q, k, v`` ``(B, H, L, d)`` -> ``(B, H, L, d)``; with ``targets_only``, ``q``
        holds the target rows alone and so does the result, ``(B, H, M * Nt, d)``."""
        b, h, _, d = k.shape
        pc, nt, m = self.pc, self.nt, self.m

        def per_group(t: Tensor) -> Tensor:  # (B, H, M * Nt, d) -> (B, M, H, Nt, d)
            return t.reshape(b, h, m, nt, d).transpose(1, 2)

        def with_context(t: Tensor) -> Tensor:  # keys/values of each group: context then the group
            return torch.cat([t[:, :, :pc].unsqueeze(1).expand(b, m, h, pc, d), per_group(t[:, :, pc:])], dim=3).reshape(b * m, h, pc + nt, d)

        tq = per_group(q if targets_only else q[:, :, pc:]).reshape(b * m, h, nt, d)
        tgt = F.scaled_dot_product_attention(tq, with_context(k), with_context(v), dropout_p=dropout_p)
        tgt = tgt.reshape(b, m, h, nt, d).transpose(1, 2).reshape(b, h, m * nt, d)
        if targets_only:
            return tgt
        ctx = F.scaled_dot_product_attention(q[:, :, :pc], k[:, :, :pc], v[:, :, :pc], dropout_p=dropout_p)
        return torch.cat([ctx, tgt], dim=2)


def block_forward(block: nn.Module, x: Tensor, mask: Tensor | GroupSplit | None, rows_from: int = 0) -> Tensor:
    """A timm ``Block`` applied to ``x`` with an attention ``mask`` (boolean: True may
    attend, or additive float, or a :class:`GroupSplit`); with ``rows_from`` only the
    outputs of rows ``rows_from:`` are computed (every row still gives keys and values:
    a last block whose earlier rows nobody reads), through
    ``F.scaled_dot_product_attention`` and the block's own modules (``norm1``, ``attn.qkv``, ``attn.proj``, ``ls1``, ``drop_path1``,
    ``norm2``, ``mlp``, ``ls2``, ``drop_path2``): the same parameters, so one state dict
    serves the masked and the unmasked forms, on every timm 1.x (whose ``Block.forward``
    did not take a mask before 1.0.12 or so)."""
    a = block.attn
    b, n, _ = x.shape
    h = block.norm1(x)
    qkv = a.qkv(h).reshape(b, n, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = a.q_norm(q), a.k_norm(k)
    dropout_p = a.attn_drop.p if block.training else 0.0
    if rows_from:
        q, x = q[:, :, rows_from:], x[:, rows_from:]
    if isinstance(mask, GroupSplit):
        o = mask.attend(q, k, v, dropout_p, targets_only=bool(rows_from))
    else:
        if mask is not None and mask.dtype != torch.bool and mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        if mask is not None and rows_from:
            mask = mask[rows_from:]
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    o = o.transpose(1, 2).reshape(b, x.shape[1], -1)
    norm = getattr(a, "norm", None)
    if norm is not None:
        o = norm(o)
    o = a.proj_drop(a.proj(o))
    x = x + block.drop_path1(block.ls1(o))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))


class TransformerPredictor(nn.Module):
    """Narrow transformer that predicts target-token features from the context: context
    tokens plus one mask token per target position (its position embedding added).

    ``one_pass=False`` (I-JEPA's form): each of the M target groups is predicted in its
    own sequence ``[context, group m's mask tokens]`` (the context repeated M times), all
    tokens attending to all. ``one_pass=True``: the context and every group's mask
    tokens in ONE sequence ``P + Nc + M * Nt`` long, under an attention mask: context
    (and prefix) tokens attend to the context only, a group's mask tokens to the context
    and their own group; the context is encoded once instead of M times, about a third
    fewer FLOPs per I-JEPA ViT-Tiny step (``benchmarks/perf_suite.py --only jepa``).

    The two differ in one respect: per group, the context tokens also attend to that
    group's mask tokens. ``isolate_context=True`` keeps the per-group form but denies the
    context that view, which computes exactly what ``one_pass`` computes (at the per-group
    cost): the ablation that separates the two. Both modes have the same parameters, so
    a checkpoint of either loads into the other. ``attn_mask``: how that structure is
    computed, ``split`` (:class:`GroupSplit`: the context's attention and the groups'
    as separate unmasked attentions, no scores computed to be masked away) or one masked
    attention with a ``bool`` or ``float`` (additive) mask; the results are the same to
    1e-5. The predictor's forward + backward at I-JEPA's ViT-Tiny masks (2 threads): split
    0.99x bool's speed on a quiet machine, 1.10x with the other core busy; split is the
    default for doing less work.
    """

    def __init__(
        self,
        grid: tuple[int, ...],
        num_prefix: int,
        width: int,
        out_dim: int,
        pred_width: int = 96,
        pred_depth: int = 6,
        pred_heads: int = 3,
        mlp_ratio: float = 4.0,
        pos: str = "sincos",
        drop_path: float = 0.0,
        qkv_bias: bool = True,
        one_pass: bool = False,
        isolate_context: bool = False,
        attn_mask: str = "split",
        segments: Sequence[Any] = (),
    ):
        super().__init__()
        check(isinstance(one_pass, bool) and isinstance(isolate_context, bool),
              f"one_pass and isolate_context must be true or false, got {one_pass!r} and {isolate_context!r}")
        check(attn_mask in ATTN_MASKS, f"attn_mask must be one of {', '.join(ATTN_MASKS)}, got {attn_mask!r}")
        self.num_prefix = int(num_prefix)
        self.one_pass, self.isolate_context, self.attn_mask = one_pass, isolate_context, attn_mask
        self.inp = nn.Linear(width, pred_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, pred_width))
        self.pos = PositionEmbedding(tuple(grid), pred_width, pos, segments)
        self.blocks = transformer_blocks(pred_width, pred_depth, pred_heads, mlp_ratio, drop_path, qkv_bias)
        self.norm = nn.LayerNorm(pred_width)
        self.out = nn.Linear(pred_width, out_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"mask_token"}

    def target_queries(self, target_idx: Tensor) -> Tensor:
        """``(B, M * Nt, pred_width)``: the one-pass form's mask tokens at the target
        positions (a subclass adds what its queries carry, e.g. the group's rank)."""
        b, m, nt = target_idx.shape
        return self.mask_token + self.pos(target_idx.reshape(b, m * nt))

    def _mask(self, num_context: int, nt: int, m: int, device: torch.device) -> Tensor | GroupSplit:
        """The one-pass form's attention structure over ``[context, M groups of Nt]`` (a
        subclass may return another boolean mask, e.g. block-causal groups)."""
        if self.attn_mask == "split":
            return GroupSplit(num_context, nt, m)
        mask = group_mask(num_context, nt, m, device)
        if self.attn_mask == "float":
            mask = torch.zeros(mask.shape, device=device).masked_fill_(~mask, float("-inf"))
        return mask

    def _run(self, z: Tensor, mask: Tensor | GroupSplit | None, rows_from: int = 0) -> Tensor:
        """The blocks over ``z``; with ``rows_from`` the last block computes rows
        ``rows_from:`` only (the mask tokens: the context's last outputs are never read,
        1/depth of the context's predictor work, about 2 % of an I-JEPA ViT-Tiny step)."""
        if mask is None and not rows_from:
            return self.blocks(z)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            z = block_forward(block, z, mask, rows_from if i == last else 0)
        return z

    def forward(self, context: Tensor, masks: Masks, batch: Batch | None = None) -> Tensor:
        """``context`` (B, P + Nc, width), ``masks.context`` (B, Nc), ``masks.target``
        (B, M, Nt) -> predictions (B, M, Nt, out_dim)."""
        target_idx = masks.target
        b, m, nt = target_idx.shape
        p = self.num_prefix
        x = self.inp(context)
        ctx_pos = self.pos(masks.context).to(x.dtype)
        x = torch.cat([x[:, :p], x[:, p:] + ctx_pos], dim=1) if p else x + ctx_pos
        pc = x.shape[1]
        if self.one_pass:
            q = self.target_queries(target_idx).to(x.dtype)
            z = self._run(torch.cat([x, q], dim=1), self._mask(pc, nt, m, x.device), rows_from=pc)
            return self.out(self.norm(z)).reshape(b, m, nt, -1)
        # expand + reshape: the backward is one sum over the groups (repeat_interleave's is slower)
        x = x.unsqueeze(1).expand(b, m, *x.shape[1:]).reshape(b * m, *x.shape[1:])
        q = self.mask_token.to(x.dtype) + self.pos(target_idx.reshape(b * m, nt)).to(x.dtype)
        mask = self._mask(pc, nt, 1, x.device) if self.isolate_context else None
        z = self._run(torch.cat([x, q], dim=1), mask)
        z = self.out(self.norm(z[:, -nt:]))
        return z.reshape(b, m, nt, -1)
