"""Built-in targets: the EMA target encoder (I-JEPA) and SIGReg (LeJEPA, EMA-free)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from .contract import Batch, Masks, Target, gather_tokens
from .errors import check

if TYPE_CHECKING:  # pragma: no cover
    from .model import JEPA


class EMATarget(Target):
    """A momentum copy of the online backbone; targets are its layer-normed outputs.

    ``momentum`` rises linearly from its first to its second value over training (I-JEPA:
    0.996 -> 1.0). ``sees="all"`` encodes every token once and gathers the targets;
    ``sees="target"`` asks the tokenizer for the target tokens only, one pass per target
    group, so a tokenizer that drops raw input (a sparse encoder) shows the target encoder
    nothing but the target region.
    """

    def __init__(self, momentum: Sequence[float] = (0.996, 1.0), sees: str = "all", layer_norm: bool = True):
        super().__init__()
        check(len(momentum) == 2 and all(0.0 <= m <= 1.0 for m in momentum), f"momentum must be two values in [0, 1], got {momentum}")
        check(sees in ("all", "target"), f"sees must be 'all' or 'target', got {sees!r}")
        self.momentum = (float(momentum[0]), float(momentum[1]))
        self.sees, self.layer_norm = sees, bool(layer_norm)
        self.current_momentum = self.momentum[0]

    def attach(self, model: JEPA) -> None:
        self.backbone = copy.deepcopy(model.backbone)
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def encoder(self):
        return self.backbone

    def _norm(self, h: Tensor) -> Tensor:
        return F.layer_norm(h, h.shape[-1:]) if self.layer_norm else h

    def forward(self, model: JEPA, batch: Batch, masks: Masks) -> Tensor:
        p = self.backbone.num_prefix
        if self.sees == "all":
            h = self._norm(self.backbone(batch)[:, p:])
            return gather_tokens(h, masks.target)
        groups = [self._norm(self.backbone(batch, masks.target[:, j])[:, p:]) for j in range(masks.target.shape[1])]
        return torch.stack(groups, dim=1)

    @torch.no_grad()
    def update(self, model: JEPA, progress: float) -> None:
        lo, hi = self.momentum
        m = lo + (hi - lo) * min(max(progress, 0.0), 1.0)
        self.current_momentum = m
        ema = [p for p in self.backbone.parameters()]
        online = [p for p in model.backbone.parameters()]
        torch._foreach_lerp_(ema, online, 1.0 - m)


def _all_mean(x: Tensor) -> tuple[Tensor, int]:
    """Mean over ranks, differentiable; returns the world size too."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce

        world = dist.get_world_size()
        return all_reduce(x, op=dist.ReduceOp.SUM) / world, world
    return x, 1


def sigreg(
    x: Tensor,
    num_slices: int = 256,
    knots: int = 17,
    t_max: float = 3.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """LeJEPA's sketched isotropic-Gaussian regulariser (SIGReg) on rows of ``x`` (N, D).

    The rows are projected on ``num_slices`` random unit directions; each 1-D projection
    is compared with N(0, 1) by the Epps-Pulley statistic, N * integral over t in [0,
    t_max] of |ECF(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt by the trapezoid rule on ``knots``
    points. Cost is linear in N. Under torch.distributed the ECF means are averaged
    over ranks (and N is the global count), so every rank sees the statistic of the
    global batch; pass the same ``generator`` state on every rank so directions match.
    """
    check(x.ndim == 2, f"sigreg expects (N, D) embeddings, got {tuple(x.shape)}")
    check(knots >= 3 and knots % 2 == 1, f"knots must be odd and >= 3, got {knots}")
    n, d = x.shape
    dirs = torch.randn(d, num_slices, generator=generator, device="cpu").to(x.device, torch.float32)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    proj = x.float() @ dirs  # (N, K)
    t = torch.linspace(0.0, t_max, knots, device=x.device)
    xt = proj.unsqueeze(-1) * t  # (N, K, T)
    ecf = torch.stack([xt.cos().mean(0), xt.sin().mean(0)])  # (2, K, T)
    ecf, world = _all_mean(ecf)
    gauss = torch.exp(-0.5 * t * t)
    err = (ecf[0] - gauss).pow(2) + ecf[1].pow(2)
    dt = t_max / (knots - 1)
    trap = torch.full((knots,), dt, device=x.device)
    trap[0] = trap[-1] = dt / 2
    stat = (err * (trap * gauss)).sum(-1) * (n * world)
    return stat.mean()


class SIGRegTarget(Target):
    """LeJEPA without EMA: the online backbone over all tokens is the target, and SIGReg
    keeps the (mean-pooled, or per-token) context embeddings isotropic Gaussian so that
    the prediction loss cannot collapse. Loss = (1 - lam) * prediction + lam * SIGReg.
    Directions are drawn from a generator seeded with ``seed`` and the step, identical on
    every rank."""

    needs_grad = True

    def __init__(self, lam: float = 0.05, num_slices: int = 256, knots: int = 17, on: str = "pooled", stop_grad: bool = False, seed: int = 0):
        super().__init__()
        check(0.0 <= lam <= 1.0, f"lam must be in [0, 1], got {lam}")
        check(on in ("pooled", "tokens"), f"on must be 'pooled' or 'tokens', got {on!r}")
        self.lam, self.num_slices, self.knots, self.on = float(lam), int(num_slices), int(knots), on
        self.stop_grad, self.seed = bool(stop_grad), int(seed)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, model: JEPA, batch: Batch, masks: Masks) -> Tensor:
        p = model.backbone.num_prefix
        if self.stop_grad:
            with torch.no_grad():
                h = model.backbone(batch)[:, p:]
        else:
            h = model.backbone(batch)[:, p:]
        return gather_tokens(h, masks.target)

    def regularizer(self, model: JEPA, out: dict[str, Tensor]) -> Tensor:
        ctx = out["context"]
        x = ctx.mean(1) if self.on == "pooled" else ctx.reshape(-1, ctx.shape[-1])
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.calls))
        return sigreg(x, self.num_slices, self.knots, generator=g)

    def combine(self, prediction_loss: Tensor, regularizer: Tensor | None) -> Tensor:
        reg = regularizer if regularizer is not None else prediction_loss.new_zeros(())
        return (1.0 - self.lam) * prediction_loss + self.lam * reg

    @torch.no_grad()
    def update(self, model: JEPA, progress: float) -> None:
        self.calls += 1

