"""The JEPA model: a backbone (tokenizer + positions + timm transformer blocks), a
pluggable predictor (:mod:`jepakit.predictors`; by default a narrow transformer with mask
tokens) and a pluggable target.

The context encoder only ever sees context tokens (the tokenizer is asked for them
with ``keep``), which is where JEPA saves compute over a masked autoencoder.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from .contract import Batch, Masks, Target, Tokenizer
from .errors import check
from .losses import covariance_penalty, prediction_loss, variance_hinge
from .posembed import PositionEmbedding
from .sigreg import NUM_SLICES, SIGReg


def _blocks(width: int, depth: int, heads: int, mlp_ratio: float, drop_path: float, qkv_bias: bool) -> nn.Sequential:
    check(width % heads == 0, f"width {width} must be divisible by heads {heads}")
    rates = torch.linspace(0, drop_path, depth).tolist() if depth else []
    return nn.Sequential(
        *[
            Block(width, heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=r, norm_layer=nn.LayerNorm)
            for r in rates
        ]
    )


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class Backbone(nn.Module):
    """Tokenizer + position embedding + transformer: the encoder that is pretrained and
    later probed. ``forward(batch, keep)`` returns ``(B, P + n, width)``."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        grid: tuple[int, ...],
        num_prefix: int = 0,
        width: int = 192,
        depth: int = 12,
        heads: int = 3,
        mlp_ratio: float = 4.0,
        pos: str = "sincos",
        drop_path: float = 0.0,
        qkv_bias: bool = True,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.grid, self.num_prefix, self.width = tuple(grid), int(num_prefix), width
        self.pos = PositionEmbedding(self.grid, width, pos)
        self.blocks = _blocks(width, depth, heads, mlp_ratio, drop_path, qkv_bias)
        self.norm = nn.LayerNorm(width)
        self.blocks.apply(_init_weights)

    @property
    def num_tokens(self) -> int:
        return self.pos.table.shape[0]

    def valid(self, batch: Batch) -> Tensor | None:
        """The layout's ``valid`` flags (B, N) of ``batch``, None when every token is."""
        return self.tokenizer.layout(batch).flags.get("valid")

    def forward(self, batch: Batch, keep: Tensor | None = None) -> Tensor:
        x = self.tokenizer(batch, keep)
        p = self.num_prefix
        n = x.shape[1] - p
        if keep is None:
            check(n == self.num_tokens, f"tokenizer returned {n} grid tokens, the layout has {self.num_tokens}")
            pos = self.pos.table[:n].unsqueeze(0)
        else:
            pos = self.pos(keep)
        grid_tokens = x[:, p:] + pos.to(x.dtype)
        x = torch.cat([x[:, :p], grid_tokens], dim=1) if p else grid_tokens
        return self.norm(self.blocks(x))

    def embed(self, batch: Batch, pool: str = "mean") -> Tensor:
        """Frozen-feature view of the grid tokens. ``tokens`` -> (B, N, width); otherwise
        ``pool`` joins statistics with ``+`` and returns their concatenation (B, k * width):
        ``mean``, ``std`` and ``max`` over valid tokens (mean+std+max is statistics
        pooling: the spread and peaks of per-token features carry what a mean washes
        out, e.g. the shape of recurring waves), ``flat`` = all tokens in grid order (for
        grids whose positions mean the same thing in every item, such as table columns;
        invalid tokens are zeroed)."""
        h = self(batch)[:, self.num_prefix :]
        if pool == "tokens":
            return h
        valid = self.tokenizer.layout(batch).flags.get("valid")
        w = torch.ones_like(h[..., :1]) if valid is None else valid.to(h.dtype).unsqueeze(-1)
        count = w.sum(1).clamp_min(1.0)
        mean = (h * w).sum(1) / count
        out = []
        for stat in pool_stats(pool):
            if stat == "mean":
                out.append(mean)
            elif stat == "std":
                out.append((((h - mean.unsqueeze(1)) ** 2 * w).sum(1) / count).sqrt())
            elif stat == "max":
                out.append(h.masked_fill(w == 0, float("-inf")).amax(1).nan_to_num(0.0, posinf=0.0, neginf=0.0))
            else:
                out.append((h * w).flatten(1))
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)

    def pooled_dim(self, pool: str) -> int:
        """Feature width of :meth:`embed`'s output (per token for ``tokens``)."""
        if pool == "tokens":
            return self.width
        return sum(self.width * (self.num_tokens if s == "flat" else 1) for s in pool_stats(pool))


POOL_STATS = ("mean", "std", "max", "flat")


def pool_stats(pool: str) -> list[str]:
    """The statistics of a pooled ``pool`` such as ``"mean+std+max"``, validated."""
    stats = [s.strip() for s in str(pool).split("+")]
    bad = [s for s in stats if s not in POOL_STATS]
    check(not bad and len(set(stats)) == len(stats), f"pool must be 'tokens' or statistics joined by '+' from {', '.join(POOL_STATS)}; got {pool!r}")
    return stats


class JEPA(nn.Module):
    """Online backbone + predictor + target. ``forward(batch, masks)`` returns a dict with
    ``loss`` and its parts.

    ``predictor``: a built predictor (:mod:`jepakit.predictors`; the registry's, built by
    :func:`jepakit.train.build`); None builds the ``transformer`` from ``pred_width``,
    ``pred_depth``, ``pred_heads``, ``mlp_ratio``, ``pos`` and ``drop_path``.

    ``sigreg`` > 0 adds LeJEPA's SIGReg on the online encoder's *full-view* embeddings to
    any target (I-JEPA + SIGReg): loss = (1 - sigreg) * (prediction + ...) + sigreg *
    SIGReg, the LeJEPA mix. The full view costs one more pass of the online encoder over
    every token, shared with a target that needs it (:meth:`online_full`).
    """

    def __init__(
        self,
        backbone: Backbone,
        target: Target,
        loss: str = "smooth_l1",
        var_weight: float = 0.0,
        var_gamma: float = 1.0,
        pred_width: int = 96,
        pred_depth: int = 6,
        pred_heads: int = 3,
        mlp_ratio: float = 4.0,
        pos: str = "sincos",
        drop_path: float = 0.0,
        sigreg: float = 0.0,
        sigreg_on: str = "pooled",
        sigreg_slices: int = NUM_SLICES,
        seed: int = 0,
        cov_weight: float = 0.0,
        predictor: nn.Module | None = None,
    ):
        super().__init__()
        check(0.0 <= float(sigreg) <= 1.0, f"loss.sigreg is a weight in [0, 1], got {sigreg}")
        from .targets import SIGRegTarget

        check(not (float(sigreg) > 0 and isinstance(target, SIGRegTarget)),
              "target sigreg already adds SIGReg (target.lam); leave loss.sigreg at 0 or use another target")
        self.backbone = backbone
        self.loss_name, self.var_weight, self.var_gamma = loss, float(var_weight), float(var_gamma)
        self.cov_weight = float(cov_weight)
        if predictor is None:  # the built-in transformer with the model section's sizes
            from .predictors import TransformerPredictor

            predictor = TransformerPredictor(
                backbone.grid, backbone.num_prefix, backbone.width, target.dim or backbone.width, pred_width, pred_depth,
                pred_heads, mlp_ratio, pos, drop_path,
            )
        self.predictor = predictor
        self.sigreg_weight = float(sigreg)
        self.sigreg = SIGReg(sigreg_slices, sigreg_on, seed=seed) if self.sigreg_weight > 0 else None
        self._full: tuple[Batch, Tensor] | None = None
        self.target = target
        target.attach(self)

    def online_full(self, batch: Batch) -> Tensor:
        """The online backbone over every token of ``batch`` (B, P + N, width), with
        gradients: computed at most once per :meth:`forward`, for the targets and
        regularisers that need the full view."""
        if self._full is None or self._full[0] is not batch:
            self._full = (batch, self.backbone(batch))
        return self._full[1]

    def forward(self, batch: Batch, masks: Masks) -> dict[str, Tensor]:
        self._full = None
        try:
            return self._forward(batch, masks)
        finally:
            self._full = None

    def _forward(self, batch: Batch, masks: Masks) -> dict[str, Tensor]:
        p = self.backbone.num_prefix
        context = self.backbone(batch, masks.context)
        pred = self.predictor(context, masks, batch)
        if self.target.needs_grad:
            target = self.target(self, batch, masks)
        else:
            with torch.no_grad():
                target = self.target(self, batch, masks)
        if target.shape[:3] != pred.shape[:3]:
            raise ValueError(f"target returned shape {tuple(target.shape)}, expected (B, M, Nt, D) = {tuple(pred.shape)}")
        pred_loss = prediction_loss(self.loss_name, pred, target, masks.weight)
        out = {"context": context[:, p:], "pred": pred, "target": target, "pred_loss": pred_loss}
        if self.sigreg is not None or self._full is not None:
            out["full"] = self.online_full(batch)[:, p:]
            valid = self.backbone.valid(batch)
            if valid is not None:
                out["valid"] = valid
        reg = self.target.regularizer(self, out)
        loss = self.target.combine(pred_loss, reg)
        if reg is not None:
            out["reg"] = reg
        if self.var_weight > 0:
            var = variance_hinge(out["context"], self.var_gamma, masks.context)
            out["var"] = var
            loss = loss + self.var_weight * var
        if self.cov_weight > 0:
            out["cov"] = covariance_penalty(out["context"], masks.context)
            loss = loss + self.cov_weight * out["cov"]
        if self.sigreg is not None:
            out["sigreg"] = self.sigreg.of_view(out["full"], out.get("valid"))
            loss = (1.0 - self.sigreg_weight) * loss + self.sigreg_weight * out["sigreg"]
        out["loss"] = loss
        return out

    @torch.no_grad()
    def update(self, progress: float) -> None:
        """After each optimizer step: the target's update (EMA) and the next SIGReg directions."""
        self.target.update(self, progress)
        if self.sigreg is not None:
            self.sigreg.step()

    def encoder_for_eval(self, which: str = "online") -> Backbone:
        """The backbone to probe: ``online`` or ``target`` (the target's encoder, falling
        back to the online one for targets that have none, such as SIGReg)."""
        check(which in ("online", "target"), f"eval.encoder must be online or target, got {which!r}")
        if which == "target" and self.target.encoder() is not None:
            return self.target.encoder()
        return self.backbone

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]
