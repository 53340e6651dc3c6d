"""The JEPA model: a backbone (tokenizer + positions + timm transformer blocks), a
pluggable predictor (:mod:`jepakit.predictors`; by default a narrow transformer with mask
tokens) and a pluggable target.

The context encoder only ever sees context tokens (the tokenizer is asked for them
with ``keep``), which is where JEPA saves compute over a masked autoencoder.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .blocks import init_weights, transformer_blocks
from .contract import Batch, Loss, Masks, Regularizer, Segment, Target, Tokenizer, segment_span
from .errors import check
from .losses import BUILTIN_LOSSES
from .posembed import PositionEmbedding
from .predictors import TransformerPredictor
from .regularizers import CovarianceRegularizer, SIGRegRegularizer, VarianceRegularizer
from .sigreg import NUM_SLICES


class Backbone(nn.Module):
    """Tokenizer + position embedding + transformer: the encoder that is pretrained and
    later probed. ``forward(batch, keep)`` returns ``(B, P + n, width)``. ``segments``:
    the layout's segments (:meth:`jepakit.contract.Layout.of_segments`), each embedded at
    the positions of its own grid."""

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
        segments: Sequence[Segment] = (),
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.grid, self.num_prefix, self.width = tuple(grid), int(num_prefix), width
        self.segments = tuple(segments)
        self.pos = PositionEmbedding(self.grid, width, pos, self.segments)
        self.blocks = transformer_blocks(width, depth, heads, mlp_ratio, drop_path, qkv_bias)
        self.norm = nn.LayerNorm(width)
        self.blocks.apply(init_weights)

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
            pos = self.pos.lookup()[:n].unsqueeze(0)
        else:
            pos = self.pos(keep)
        grid_tokens = x[:, p:] + pos.to(x.dtype)
        x = torch.cat([x[:, :p], grid_tokens], dim=1) if p else grid_tokens
        return self.norm(self.blocks(x))

    def embed(self, batch: Batch, pool: str = "mean", segment: str | None = None) -> Tensor:
        """Frozen-feature view of the grid tokens. ``tokens`` -> (B, N, width); otherwise
        ``pool`` joins statistics with ``+`` and returns their concatenation (B, k * width):
        ``mean``, ``std`` and ``max`` over valid tokens (mean+std+max is statistics
        pooling: the spread and peaks of per-token features carry what a mean washes
        out, e.g. the shape of recurring waves), ``flat`` = all tokens in grid order (for
        grids whose positions mean the same thing in every item, such as table columns;
        invalid tokens are zeroed). ``segment``: a segmented layout's segment alone is
        encoded (its tokens only, as one modality is seen without the other) and pooled."""
        flags = self.tokenizer.layout(batch).flags
        valid = flags.get("valid")
        if segment is None:
            h = self(batch)[:, self.num_prefix :]
        else:
            start, stop = self._span(segment)
            b = next(v for v in batch.values() if torch.is_tensor(v)).shape[0]
            keep = torch.arange(start, stop, device=self.pos.table.device).expand(b, -1)
            h = self(batch, keep)[:, self.num_prefix :]
            valid = None if valid is None else valid[:, start:stop]
        if pool == "tokens":
            return h
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

    def _span(self, segment: str) -> tuple[int, int]:
        try:
            return segment_span(self.segments, segment)
        except KeyError:
            check(False, f"no segment {segment!r}: the layout's segments are {[seg.name for seg in self.segments] or 'none'}")
            raise

    def pooled_dim(self, pool: str, segment: str | None = None) -> int:
        """Feature width of :meth:`embed`'s output (per token for ``tokens``)."""
        if pool == "tokens":
            return self.width
        if segment is None:
            n = self.num_tokens
        else:
            start, stop = self._span(segment)
            n = stop - start
        return sum(self.width * (n if s == "flat" else 1) for s in pool_stats(pool))


POOL_STATS = ("mean", "std", "max", "flat")


def pool_stats(pool: str) -> list[str]:
    """The statistics of a pooled ``pool`` such as ``"mean+std+max"``, validated."""
    stats = [s.strip() for s in str(pool).split("+")]
    bad = [s for s in stats if s not in POOL_STATS]
    check(not bad and len(set(stats)) == len(stats), f"pool must be 'tokens' or statistics joined by '+' from {', '.join(POOL_STATS)}; got {pool!r}")
    return stats


class JEPA(nn.Module):
    """Online backbone + predictor + target + loss + regularizers. ``forward(batch, masks)``
    returns a dict with ``loss`` and its parts.

    ``predictor``: a built predictor (:mod:`jepakit.predictors`; the registry's, built by
    :func:`jepakit.train.build`); None builds the ``transformer`` from ``pred_width``,
    ``pred_depth``, ``pred_heads``, ``mlp_ratio``, ``pos`` and ``drop_path``. A predictor
    may return a dict: its ``pred`` is scored against the target, its other entries join
    the step's outputs for the loss (:class:`jepakit.contract.Loss`).

    ``loss``: a built :class:`~jepakit.contract.Loss` or a built-in's name. ``regularizers``:
    built :class:`~jepakit.contract.Regularizer` objects by name; ``var_weight``/
    ``var_gamma``, ``cov_weight`` and ``sigreg``/``sigreg_on``/``sigreg_slices`` are short
    forms of the ``variance``, ``covariance`` and ``sigreg`` regularizers (``sigreg`` > 0:
    LeJEPA's SIGReg on the online encoder's *full-view* embeddings mixed into any target,
    I-JEPA + SIGReg). The loss is the prediction loss, plus ``weight * term`` for each
    added regularizer, then mixed ``(1 - weight) * loss + weight * term`` for each mixing
    one. The full view costs one more pass of the online encoder over every token, shared
    with a target that needs it (:meth:`online_full`).
    """

    def __init__(
        self,
        backbone: Backbone,
        target: Target,
        loss: str | Loss = "smooth_l1",
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
        regularizers: Mapping[str, Regularizer] | None = None,
    ):
        super().__init__()
        check(0.0 <= float(sigreg) <= 1.0, f"loss.sigreg is a weight in [0, 1], got {sigreg}")
        self.backbone = backbone
        if isinstance(loss, str):
            check(loss in BUILTIN_LOSSES, f"loss must be one of {', '.join(BUILTIN_LOSSES)} or a built Loss, got {loss!r}")
            loss = BUILTIN_LOSSES[loss]()
        self.loss = loss
        self._loss_wants = wanted_keywords(loss.forward, ("out", "batch", "masks"))
        if predictor is None:  # the built-in transformer with the model section's sizes
            predictor = TransformerPredictor(
                backbone.grid, backbone.num_prefix, backbone.width, target.dim or backbone.width, pred_width, pred_depth,
                pred_heads, mlp_ratio, pos, drop_path, segments=backbone.segments,
            )
        self.predictor = predictor
        regs: dict[str, Regularizer] = {}
        short = {
            "variance": VarianceRegularizer(var_weight, var_gamma) if float(var_weight) > 0 else None,
            "covariance": CovarianceRegularizer(cov_weight) if float(cov_weight) > 0 else None,
            "sigreg": SIGRegRegularizer(sigreg, sigreg_on, sigreg_slices, seed=seed) if float(sigreg) > 0 else None,
        }
        sources = [("loss section", {k: v for k, v in short.items() if v is not None}), ("regularizers", regularizers or {}),
                   (f"target {type(target).__name__}", target.regularizers())]
        for where, given in sources:
            for name, reg in given.items():
                check(isinstance(reg, Regularizer), f"regularizer {name!r} ({where}) is not a jepakit Regularizer: {reg!r}")
                check(name not in regs, f"regularizer {name!r} is given twice (again by the {where}); give it once")
                regs[name] = reg
        self.regularizers = nn.ModuleDict(regs)
        self._full: tuple[Batch, Tensor] | None = None
        self.target = target
        target.attach(self)
        self.register_load_state_dict_pre_hook(_renamed_state)

    @property
    def sigreg(self) -> Regularizer | None:
        """The SIGReg regularizer, if the run has one."""
        return self.regularizers["sigreg"] if "sigreg" in self.regularizers else None

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
        extra: dict[str, Any] = {}
        if isinstance(pred, Mapping):
            check("pred" in pred, f"predictor {type(self.predictor).__name__} returned a dict without 'pred': {sorted(pred)}")
            extra = {k: v for k, v in pred.items() if k != "pred"}
            pred = pred["pred"]
        if self.target.needs_grad:
            target = self.target(self, batch, masks)
        else:
            with torch.no_grad():
                target = self.target(self, batch, masks)
        if target.shape[:3] != pred.shape[:3]:
            raise ValueError(f"target returned shape {tuple(target.shape)}, expected (B, M, Nt, D) = {tuple(pred.shape)}")
        out: dict[str, Any] = {"context": context[:, p:], "context_idx": masks.context, "pred": pred, "target": target, **extra}
        given = {"out": out, "batch": batch, "masks": masks}
        pred_loss = self.loss(pred, target, masks.weight, **{k: given[k] for k in self._loss_wants})
        out["pred_loss"] = pred_loss
        if self._full is not None or any(r.needs_full for r in self.regularizers.values()):
            out["full"] = self.online_full(batch)[:, p:]
            valid = self.backbone.valid(batch)
            if valid is not None:
                out["valid"] = valid
        loss = pred_loss
        # added terms first, then the mixing ones: (1 - w) * (prediction + added) + w * term
        for mixing in (False, True):
            for name, reg in self.regularizers.items():
                if bool(reg.mix) is not mixing:
                    continue
                term = reg(out)
                out[name] = term
                loss = (1.0 - reg.weight) * loss + reg.weight * term if mixing else loss + reg.weight * term
        out.pop("context_idx")
        out["loss"] = loss
        return out

    @torch.no_grad()
    def update(self, progress: float) -> None:
        """After each optimizer step: the target's update (EMA) and the regularizers' step
        (the next SIGReg directions)."""
        self.target.update(self, progress)
        for reg in self.regularizers.values():
            reg.step()

    def encoder_for_eval(self, which: str = "online") -> Backbone:
        """The backbone to probe: ``online`` or ``target`` (the target's encoder, falling
        back to the online one for targets that have none, such as SIGReg)."""
        check(which in ("online", "target"), f"eval.encoder must be online or target, got {which!r}")
        if which == "target" and self.target.encoder() is not None:
            return self.target.encoder()
        return self.backbone

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


# state-dict keys of earlier versions: SIGReg's direction counter sat on the model's
# ``sigreg`` module (loss.sigreg) or on the ``sigreg`` target itself
_RENAMED = {"sigreg.calls": "regularizers.sigreg.calls", "target.calls": "regularizers.sigreg.calls"}


def _renamed_state(module: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
    if not any(prefix + old in state for old in _RENAMED):
        return
    expected = set(module.state_dict())  # a key the model still has (a target's own ``calls``) is not old
    for old, new in _RENAMED.items():
        if prefix + old in state and prefix + new not in state and old not in expected and new in expected:
            state[prefix + new] = state.pop(prefix + old)


def wanted_keywords(fn: Callable[..., Any], offered: Iterable[str]) -> tuple[str, ...]:
    """The ``offered`` keywords that ``fn``'s signature names (injection by signature)."""
    params = inspect.signature(fn).parameters
    return tuple(k for k in offered if k in params)
