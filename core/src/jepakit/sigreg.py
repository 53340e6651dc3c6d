"""SIGReg (LeJEPA's sketched isotropic-Gaussian regulariser): the Epps-Pulley statistic,
its random slicing, and its application to whole views of a batch.

The statistic and the slicing are separate pieces: :class:`EppsPulley` holds the knots and
quadrature weights (buffers, computed once), :func:`sigreg` projects rows on random unit
directions and averages the per-direction statistic, and :func:`view_sigreg` decides
*which* rows are tested: the pooled embedding of every item of a view (the reference
use) and, optionally, the tokens at one grid position across the batch, so that an
encoder emitting a fixed code per position cannot satisfy the regulariser.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import check

# LeJEPA's reference settings: 1024 slices, 17 knots on [0, 3]
NUM_SLICES = 1024
KNOTS = 17
T_MAX = 3.0
SIGREG_ON = ("pooled", "positions", "pooled+positions")


def _all_sum(x: Tensor) -> Tensor:
    """Sum over ranks, differentiable (identity outside torch.distributed)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(x, op=dist.ReduceOp.SUM)
    return x


class _ECFSums(torch.autograd.Function):
    """Weighted sums over samples of cos(t_k x) and sin(t_k x) at equally spaced knots
    t_k = k dt, k < T: ``proj`` (..., N, K), ``weight`` (..., N) -> (2, ..., K, T).

    cos and sin are taken once, at dt x; the other knots follow by complex multiplication
    (e^{i k dt x} = (e^{i dt x})^k), and the backward pass recomputes them the same way
    instead of saving them. On 6 views x 64 items x 1024 slices x 17 knots this is 4x
    faster than one cos and one sin per knot with autograd's backward (172 ms a step on one
    CPU thread), which made SIGReg half of a small model's LeJEPA step.
    """

    @staticmethod
    def _next(c: Tensor, sn: Tensor, c1: Tensor, s1: Tensor) -> tuple[Tensor, Tensor]:
        nc = (c * c1).addcmul_(sn, s1, value=-1.0)
        return nc, (sn * c1).addcmul_(c, s1)

    @staticmethod
    def forward(ctx, proj: Tensor, weight: Tensor, dt: float, knots: int) -> Tensor:
        ctx.save_for_backward(proj, weight)
        ctx.dt, ctx.knots = dt, knots
        w = weight.unsqueeze(-2)  # (..., 1, N): the sums are batched matrix-vector products
        out = proj.new_empty((2, *proj.shape[:-2], proj.shape[-1], knots))
        c1, s1 = torch.cos(proj * dt), torch.sin(proj * dt)
        out[0, ..., 0] = weight.sum(-1, keepdim=True)
        out[1, ..., 0] = 0.0
        c, sn = c1, s1
        for k in range(1, knots):
            out[0, ..., k] = (w @ c).squeeze(-2)
            out[1, ..., k] = (w @ sn).squeeze(-2)
            if k + 1 < knots:
                c, sn = _ECFSums._next(c, sn, c1, s1)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        proj, weight = ctx.saved_tensors
        dt, knots = ctx.dt, ctx.knots
        c1, s1 = torch.cos(proj * dt), torch.sin(proj * dt)
        c, sn = c1, s1
        gx = torch.zeros_like(proj)
        for k in range(1, knots):
            # d/dx cos(t x) = -t sin(t x), d/dx sin(t x) = t cos(t x); grad is (2, ..., K, T)
            gx.addcmul_(c, grad[1, ..., k].unsqueeze(-2), value=k * dt)
            gx.addcmul_(sn, grad[0, ..., k].unsqueeze(-2), value=-k * dt)
            if k + 1 < knots:
                c, sn = _ECFSums._next(c, sn, c1, s1)
        return gx * weight.unsqueeze(-1), None, None, None


class EppsPulley(nn.Module):
    """Epps-Pulley statistic of 1-D samples against N(0, 1).

    ``N * integral over t in [-t_max, t_max] of |ECF(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt``:
    the integrand is even, so it is integrated on ``knots`` points of [0, t_max] with
    doubled trapezoid weights (``2 dt`` inside, ``dt`` at both ends), the weights of the
    LeJEPA reference code. Halving them (integrating only [0, t_max]) halves the statistic
    and so the effective lambda of every published setting.
    """

    def __init__(self, knots: int = KNOTS, t_max: float = T_MAX):
        super().__init__()
        check(knots >= 3 and knots % 2 == 1, f"knots must be odd and >= 3, got {knots}")
        check(t_max > 0, f"t_max must be > 0, got {t_max}")
        t = torch.linspace(0.0, float(t_max), int(knots))
        dt = float(t_max) / (knots - 1)
        w = torch.full((knots,), 2 * dt)
        w[0] = w[-1] = dt
        phi = torch.exp(-0.5 * t * t)
        self.register_buffer("t", t, persistent=False)
        self.register_buffer("phi", phi, persistent=False)
        self.register_buffer("weights", w * phi, persistent=False)
        self.dt, self.knots = dt, int(knots)

    def forward(self, proj: Tensor, weight: Tensor | None = None) -> Tensor:
        """``proj`` (..., N, K): N samples of K projections -> statistic (..., K). ``weight``
        (..., N) counts each sample (0 drops it); under torch.distributed the sums are
        taken over every rank, so the statistic is the global batch's."""
        proj = proj.float()
        w = proj.new_ones(proj.shape[:-1]) if weight is None else weight.float()
        sums = _all_sum(_ECFSums.apply(proj, w, self.dt, self.knots))  # (2, ..., K, T)
        count = _all_sum(w.sum(-1)).clamp_min(1.0)  # (...,)
        c = count.unsqueeze(-1).unsqueeze(-1)
        err = (sums[0] / c - self.phi).pow(2) + (sums[1] / c).pow(2)
        return (err @ self.weights) * count.unsqueeze(-1)


_STATS: dict[tuple[int, float, str], EppsPulley] = {}


def _statistic(knots: int, t_max: float, device: torch.device) -> EppsPulley:
    key = (int(knots), float(t_max), str(device))
    if key not in _STATS:
        _STATS[key] = EppsPulley(knots, t_max).to(device)
    return _STATS[key]


def directions(dim: int, num_slices: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``(dim, num_slices)`` random unit directions, drawn on the CPU from ``generator`` so
    that every rank (and every device) draws the same ones."""
    a = torch.randn(dim, num_slices, generator=generator)
    return (a / a.norm(dim=0, keepdim=True)).to(device)


def sigreg(
    x: Tensor,
    num_slices: int = NUM_SLICES,
    knots: int = KNOTS,
    t_max: float = T_MAX,
    generator: torch.Generator | None = None,
    weight: Tensor | None = None,
) -> Tensor:
    """SIGReg of the rows of ``x``: (N, D), or (G, N, D) for G independent groups tested
    at once (e.g. grid positions). The rows are projected on ``num_slices`` random unit
    directions and the Epps-Pulley statistic of each projection is averaged over
    directions (and groups). ``weight`` ((N,) or (G, N)) counts rows; cost is linear in N.
    Pass the same ``generator`` state on every rank so the directions match."""
    check(x.ndim in (2, 3), f"sigreg expects (N, D) or (G, N, D) embeddings, got {tuple(x.shape)}")
    a = directions(x.shape[-1], int(num_slices), generator, x.device)
    stat = _statistic(knots, t_max, x.device)(x.float() @ a, weight)
    return stat.mean()


def pooled(tokens: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean of ``tokens`` (B, N, D) over the tokens flagged ``valid`` (B, N) (all if None)."""
    if valid is None:
        return tokens.mean(1)
    w = valid.to(tokens.dtype).unsqueeze(-1)
    return (tokens * w).sum(1) / w.sum(1).clamp_min(1.0)


def view_sigreg(
    tokens: Tensor,
    valid: Tensor | None = None,
    on: str = "pooled",
    num_slices: int = NUM_SLICES,
    positions: int = 16,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SIGReg of a full view's grid tokens (B, N, D) across the batch.

    ``on="pooled"``: the items' pooled embeddings (mean over valid tokens) are tested, as
    LeJEPA tests each view's embedding. ``"positions"``: the tokens at ``positions`` grid
    positions drawn at random, each position tested across the batch, so a code that
    depends on the position but not on the item is penalised as hard as a constant.
    ``"pooled+positions"``: the mean of both.
    """
    check(on in SIGREG_ON, f"sigreg 'on' must be one of {', '.join(SIGREG_ON)}, got {on!r}")
    parts = []
    if on in ("pooled", "pooled+positions"):
        parts.append(sigreg(pooled(tokens, valid), num_slices, generator=generator))
    if on in ("positions", "pooled+positions"):
        n = tokens.shape[1]
        pick = torch.randperm(n, generator=generator)[: max(1, min(int(positions), n))].to(tokens.device)
        per = tokens[:, pick].transpose(0, 1)  # (P, B, D)
        w = None if valid is None else valid[:, pick].transpose(0, 1)
        parts.append(sigreg(per, num_slices, generator=generator, weight=w))
    return parts[0] if len(parts) == 1 else (parts[0] + parts[1]) / 2


class SIGReg(nn.Module):
    """SIGReg as a loss term with its own direction stream: call it with embeddings, or
    :meth:`of_view` with a view's tokens; :meth:`step` after each optimizer step draws
    the next directions (seeded by ``seed`` and the step count, identical on every rank)."""

    def __init__(self, num_slices: int = NUM_SLICES, on: str = "pooled", positions: int = 16, seed: int = 0):
        super().__init__()
        check(on in SIGREG_ON, f"sigreg 'on' must be one of {', '.join(SIGREG_ON)}, got {on!r}")
        check(int(num_slices) >= 1 and int(positions) >= 1, "sigreg num_slices and positions must be >= 1")
        self.num_slices, self.on, self.positions, self.seed = int(num_slices), on, int(positions), int(seed)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.calls))

    def forward(self, x: Tensor) -> Tensor:
        """SIGReg of embeddings (N, D), or of G groups (G, N, D) tested separately."""
        return sigreg(x, self.num_slices, generator=self.generator())

    def of_view(self, tokens: Tensor, valid: Tensor | None = None) -> Tensor:
        """SIGReg of a full view's grid tokens (B, N, D), rows chosen by ``on``."""
        return view_sigreg(tokens, valid, self.on, self.num_slices, self.positions, self.generator())

    @torch.no_grad()
    def step(self) -> None:
        self.calls += 1
