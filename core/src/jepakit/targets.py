"""Built-in targets: the EMA target encoder (I-JEPA), the online encoder (LeJEPA,
EMA-free) and the online encoder with the SIGReg it needs."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .contract import Batch, Encoder, Masks, Regularizer, Target, gather_tokens
from .errors import check
from .regularizers import SIGRegRegularizer
from .sigreg import KNOTS, NUM_SLICES, sigreg

__all__ = ["EMATarget", "OnlineTarget", "SIGRegTarget", "sigreg"]


class EMATarget(Target):
    """A momentum copy of the online backbone; targets are its layer-normed outputs.

    The momentum follows the run, not a fixed number of steps: ``half_life`` is the
    half-life of the average in units of the run (0.02 = 2 % of ``steps``), rising
    linearly from its first to its second value, so ``m = 0.5 ** (1 / (h * steps))``.
    I-JEPA's absolute schedule (``momentum: [0.996, 1.0]``, linear) was written for a
    190,000-step run: over a 300-step run it leaves 55 % of the target at its random
    init (13.5 % after 1000 steps) and freezes it over the last fifth; it stays
    selectable by setting ``momentum`` (and then ``half_life`` is ignored).

    ``sees="all"`` encodes every token once and gathers the targets; ``sees="target"``
    asks the tokenizer for the target tokens only, one pass per target group, so a
    tokenizer that drops raw input (a sparse encoder) shows the target encoder nothing
    but the target region. ``steps`` (the run's length) is offered by the core.
    """

    def __init__(
        self,
        momentum: Sequence[float] | None = None,
        half_life: Sequence[float] | float = (0.01, 0.05),
        sees: str = "all",
        layer_norm: bool = True,
        steps: int = 1000,
    ):
        super().__init__()
        if momentum is not None:
            check(len(momentum) == 2 and all(0.0 <= m <= 1.0 for m in momentum), f"momentum must be two values in [0, 1], got {momentum}")
            self.momentum: tuple[float, float] | None = (float(momentum[0]), float(momentum[1]))
        else:
            self.momentum = None
        hl = (half_life, half_life) if isinstance(half_life, (int, float)) else tuple(half_life)
        check(len(hl) == 2 and all(h > 0 for h in hl), f"half_life must be one or two fractions of the run > 0, got {half_life}")
        check(sees in ("all", "target"), f"sees must be 'all' or 'target', got {sees!r}")
        check(int(steps) >= 1, f"steps must be >= 1, got {steps}")
        self.half_life = (float(hl[0]), float(hl[1]))
        self.steps = int(steps)
        self.sees, self.layer_norm = sees, bool(layer_norm)
        self.current_momentum = self.momentum_at(0.0)

    def momentum_at(self, progress: float) -> float:
        """The EMA momentum after ``progress`` (0..1) of the run."""
        p = min(max(progress, 0.0), 1.0)
        if self.momentum is not None:
            lo, hi = self.momentum
            return lo + (hi - lo) * p
        h0, h1 = self.half_life
        half = (h0 + (h1 - h0) * p) * self.steps  # in steps
        return 0.5 ** (1.0 / max(half, 1e-9))

    def attach(self, model: Encoder) -> None:
        self.backbone = copy.deepcopy(model.backbone)
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def encoder(self):
        return self.backbone

    def _norm(self, h: Tensor) -> Tensor:
        return F.layer_norm(h, h.shape[-1:]) if self.layer_norm else h

    def forward(self, model: Encoder, batch: Batch, masks: Masks) -> Tensor:
        p = self.backbone.num_prefix
        if self.sees == "all":
            h = self._norm(self.backbone(batch)[:, p:])
            return gather_tokens(h, masks.target)
        groups = [self._norm(self.backbone(batch, masks.target[:, j])[:, p:]) for j in range(masks.target.shape[1])]
        return torch.stack(groups, dim=1)

    @torch.no_grad()
    def update(self, model: Encoder, progress: float) -> None:
        m = self.momentum_at(progress)
        self.current_momentum = m
        ema = [p for p in self.backbone.parameters()]
        online = [p for p in model.backbone.parameters()]
        torch._foreach_lerp_(ema, online, 1.0 - m)


class OnlineTarget(Target):
    """The online backbone over every token is its own target, no EMA (LeJEPA's
    predictive form). Alone it collapses (a constant code predicts itself); pair it with
    a regularizer such as ``sigreg`` (``regularizers: {sigreg: {weight: 0.05}}``), or use
    the ``sigreg`` target, which brings one. ``stop_grad`` detaches the target."""

    needs_grad = True

    def __init__(self, stop_grad: bool = False):
        super().__init__()
        self.stop_grad = bool(stop_grad)

    def forward(self, model: Encoder, batch: Batch, masks: Masks) -> Tensor:
        h = model.online_full(batch)[:, model.backbone.num_prefix :]
        if self.stop_grad:
            h = h.detach()
        return gather_tokens(h, masks.target)


class SIGRegTarget(OnlineTarget):
    """LeJEPA's regulariser on a predictive JEPA, without EMA: the online backbone over
    every token is the target (:class:`OnlineTarget`), and the SIGReg regularizer it
    declares keeps the *full-view* embeddings isotropic Gaussian so that the prediction
    loss cannot collapse. Loss = (1 - lam) * prediction + lam * SIGReg.

    ``on`` picks the rows tested (:func:`jepakit.sigreg.view_sigreg`): ``pooled`` (each
    item's mean over its valid tokens, the reference), ``positions`` (the tokens at
    ``positions`` random grid positions, each across the batch) or both. Regularising
    the masked *context* instead lets an encoder that ignores its input pay the bill with
    a fixed code per position: the pooled context still varies with the random mask.
    Directions are drawn from a generator seeded with ``seed`` and the step, identical on
    every rank. ``knots`` is accepted for older configs; the statistic's knots are fixed.
    """

    def __init__(
        self, lam: float = 0.05, num_slices: int = NUM_SLICES, knots: int = KNOTS, on: str = "pooled", positions: int = 16,
        stop_grad: bool = False, seed: int = 0,
    ):
        super().__init__(stop_grad)
        check(0.0 <= lam <= 1.0, f"lam must be in [0, 1], got {lam}")
        self.lam, self.num_slices, self.knots, self.on = float(lam), int(num_slices), int(knots), on
        self.positions, self.seed = int(positions), int(seed)
        # built once and held outside the module tree: the model adopts it among its
        # regularizers, which is where its direction counter is saved
        self.__dict__["_sigreg"] = SIGRegRegularizer(self.lam, on, self.num_slices, self.positions, self.seed)

    def regularizers(self) -> dict[str, Regularizer]:
        return {"sigreg": self._sigreg}
