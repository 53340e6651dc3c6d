"""Predictors: DSeq-JEPA's sequential predictor and seq-JEPA's aggregator + action-conditioned
predictor (contract v2, ``jepakit_register_predictors``).

``dseq`` (DSeq-JEPA): I-JEPA's narrow transformer over ``[context, group 1's mask
tokens, ..., group M's]`` in one pass under a block-causal attention mask: the context
attends to itself; group j's mask tokens attend to the context, to their own group and to
every group before j -- GPT-style, each region predicted after, and conditioned on, the
regions before it in the masker's order (the ``saliency`` masker puts the most salient
first). Under the contract the predictor never sees target features, so "conditioned on
the ones before it" means on the predictor's own states for those regions, not on
their true embeddings (no teacher forcing). A learned embedding of the rank j is added
to group j's mask tokens. The same parameters as the built-in ``transformer`` plus the
rank table; with one group it computes what the built-in's one-pass form computes.

``seq-action`` (seq-JEPA): the context encoder's tokens of each view of a flattened
sequence (``views`` images per sequence, the last one the target) are mean-pooled into
per-view embeddings ``z_1..z_M`` (``M = views - 1``; the equivariant representation,
what a probe of the encoder sees). Each is concatenated with the embedding of the
action that produces the next view (``a_i = params[i+1] - params[i]``, a learned linear
map of the 5 transformation parameters), the last context view with the upcoming action
``a_M`` left out (zeros) as in the paper's ``a_1..a_{M-1}``; a transformer encoder
(``agg_depth`` blocks) over ``[AGG, z_1+a_1, ..., z_M]`` gives the aggregate (the
invariant representation, the AGG token's output); an MLP predictor of ``concat(aggregate,
embed(a_M))`` predicts the target view's pooled embedding. It returns ``(B * V, 1, N,
out_dim)``: the prediction broadcast over the target view's tokens on each sequence's last
row, zeros elsewhere (weighted 0 by the ``seq-views`` masker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from jepakit.blocks import init_weights, transformer_blocks
from jepakit.contract import Masks
from jepakit.kit import check
from jepakit.predictors import TransformerPredictor


def causal_group_mask(num_context: int, nt: int, m: int, device: torch.device | str | None = None) -> Tensor:
    """``(L, L)`` boolean attention mask (True: may attend) over ``[context, group 1, ...,
    group m]`` (``nt`` tokens each): the context sees the context; group j sees the
    context and groups 1..j."""
    group = torch.cat([torch.full((num_context,), -1, dtype=torch.long), torch.arange(m).repeat_interleave(nt)]).to(device)
    ctx_key = (group < 0).unsqueeze(0)
    earlier = (group.unsqueeze(0) <= group.unsqueeze(1)) & (group.unsqueeze(0) >= 0) & (group.unsqueeze(1) >= 0)
    return ctx_key | earlier


class SequentialPredictor(TransformerPredictor):
    """DSeq-JEPA's GPT-style predictor (see the module doc): the core's ``transformer`` in
    its one-pass form with a block-causal attention structure and a rank embedding per
    group.

    Args:
        max_targets: most target groups (ranks) the predictor holds an embedding for.
        qkv_bias: bias in the attention's query/key/value projection.
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
        segments: Sequence[Any] = (),
        max_targets: int = 16,
        qkv_bias: bool = True,
    ):
        check(int(max_targets) >= 1, f"max_targets must be >= 1, got {max_targets}")
        super().__init__(grid, num_prefix, width, out_dim, pred_width, pred_depth, pred_heads, mlp_ratio, pos, drop_path,
                         qkv_bias, one_pass=True, segments=segments)
        self.rank = nn.Parameter(torch.zeros(int(max_targets), pred_width))  # which step of the sequence a group is
        nn.init.trunc_normal_(self.rank, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return super().no_weight_decay() | {"rank"}

    def target_queries(self, target_idx: Tensor) -> Tensor:
        b, m, nt = target_idx.shape
        check(m <= self.rank.shape[0], f"{m} target groups; the sequential predictor holds ranks for {self.rank.shape[0]} (predictor.max_targets)")
        return super().target_queries(target_idx) + self.rank[:m].repeat_interleave(nt, dim=0).unsqueeze(0)

    def _mask(self, num_context: int, nt: int, m: int, device: torch.device) -> Tensor:
        return causal_group_mask(num_context, nt, m, device)


class SeqJEPAPredictor(nn.Module):
    """seq-JEPA's aggregator and action-conditioned predictor (see the module doc).

    Args:
        views: images per sequence (``data.views``, offered by the data): views - 1 context views.
        action_dim: transformation parameters per view (offered by the data).
        agg_depth: transformer blocks of the aggregator.
        action_width: width of the action embedding (default a quarter of pred_width, >= 8).
        hidden: hidden width of the predictor MLP (default 2 x pred_width).
        qkv_bias: bias in the aggregator's query/key/value projection.
    """

    def __init__(
        self,
        width: int,
        out_dim: int,
        views: int = 1,
        action_dim: int = 5,
        num_prefix: int = 0,
        pred_width: int = 96,
        pred_heads: int = 3,
        mlp_ratio: float = 4.0,
        agg_depth: int = 2,
        action_width: int | None = None,
        hidden: int | None = None,
        qkv_bias: bool = True,
    ):
        super().__init__()
        check(int(views) >= 1, f"views must be >= 1, got {views}")
        check(int(agg_depth) >= 1, f"agg_depth must be >= 1, got {agg_depth}")
        self.views, self.action_dim, self.num_prefix = int(views), int(action_dim), int(num_prefix)
        aw = int(action_width or max(8, pred_width // 4))
        self.view_in = nn.Linear(width, pred_width - aw)
        self.action = nn.Linear(self.action_dim, aw)  # the action embedding (a learnable linear map, as in the paper)
        self.agg_token = nn.Parameter(torch.zeros(1, 1, pred_width))
        self.step = nn.Parameter(torch.zeros(1, max(1, self.views - 1), pred_width))  # the place of a view in its sequence
        self.aggregator = transformer_blocks(pred_width, int(agg_depth), pred_heads, mlp_ratio, 0.0, qkv_bias)
        self.agg_norm = nn.LayerNorm(pred_width)
        hid = int(hidden or 2 * pred_width)
        self.head = nn.Sequential(nn.Linear(pred_width + aw, hid), nn.GELU(), nn.Linear(hid, out_dim))
        self.apply(init_weights)
        nn.init.trunc_normal_(self.agg_token, std=0.02)
        nn.init.trunc_normal_(self.step, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"agg_token", "step"}

    def _params(self, batch: Any, rows: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        if batch is None or "params" not in batch:
            raise KeyError("the seq-action predictor reads the views' transformation parameters from batch['params']; "
                           "the vision loader gives them with data.views >= 2")
        p = batch["params"].to(device=device, dtype=dtype)
        check(p.shape == (rows, self.action_dim), f"batch['params'] has shape {tuple(p.shape)}, expected ({rows}, {self.action_dim})")
        return p

    def aggregate(self, views: Tensor, params: Tensor) -> Tensor:
        """The invariant aggregate ``(B, pred_width)`` of per-view embeddings ``views`` (B, M,
        width) whose parameters are ``params`` (B, M, action_dim); the actions between
        consecutive views are paired with the view they start from, the last view with
        none. Any ``M`` up to ``views - 1``."""
        b, m, _ = views.shape
        check(1 <= m <= self.step.shape[1], f"the aggregator takes 1 to {self.step.shape[1]} views, got {m}")
        act = params[:, 1:] - params[:, :-1]  # (B, M - 1, A): view i -> i + 1
        act = torch.cat([act, act.new_zeros(b, 1, act.shape[-1])], dim=1)
        tokens = torch.cat([self.view_in(views), self.action(act)], dim=-1) + self.step[:, :m].to(views.dtype)
        z = torch.cat([self.agg_token.to(views.dtype).expand(b, -1, -1), tokens], dim=1)
        return self.agg_norm(self.aggregator(z))[:, 0]

    def _single(self, context: Tensor, masks: Masks) -> Tensor:
        """Single images (no sequence): each image is a sequence of one view with no action;
        the prediction of "the next view" is broadcast to every target token. Told once."""
        if not getattr(self, "_told", False):
            from jepakit.kit import notice

            notice("predictor seq-action: the data are single images (data.views=0), not view sequences: each image is "
                   "a one-view sequence without actions; set data.views=4 for seq-JEPA")
            self._told = True
        b, m, nt = masks.target.shape
        z = context[:, self.num_prefix :].mean(1, keepdim=True)
        zeros = z.new_zeros(b, 1, self.action_dim)
        pred = self.head(torch.cat([self.aggregate(z, zeros), self.action(zeros[:, 0])], dim=-1))
        return pred[:, None, None, :].expand(b, m, nt, -1)

    def forward(self, context: Tensor, masks: Masks, batch: Any = None) -> Tensor:
        rows, _, nt = masks.target.shape
        v = self.views
        if v < 2 or batch is None or "params" not in batch:
            return self._single(context, masks)
        check(rows % v == 0, f"{rows} rows are not sequences of {v} views")
        b = rows // v
        z = context[:, self.num_prefix :].mean(1).reshape(b, v, -1)  # per-view embeddings
        params = self._params(batch, rows, context.device, context.dtype).reshape(b, v, -1)
        agg = self.aggregate(z[:, :-1], params[:, :-1])
        upcoming = self.action(params[:, -1] - params[:, -2])  # the action that produces the target view
        pred = self.head(torch.cat([agg, upcoming], dim=-1))  # (B, out_dim)
        out = pred.new_zeros(b, v, nt, pred.shape[-1])
        out = torch.cat([out[:, :-1], pred[:, None, None, :].expand(b, 1, nt, -1)], dim=1)
        return out.reshape(rows, 1, nt, -1)


__all__ = ["SeqJEPAPredictor", "SequentialPredictor", "causal_group_mask"]
