"""Contrastive clustering (SwAV's swapped prediction, as the paper builds on DeepCluster-v2
and SwAV) as a registered regularizer, so that any domain can add it to its JEPA loss.

Two views of each item are the step's two encodings of it: the context encoder's (the
context slices only) and the online encoder's full view (every slice; ``needs_full``).
Both are projected (a 2-layer MLP) onto the unit sphere and scored against ``prototypes``
learned cluster centres; each view's soft assignment (softmax at ``temperature``) must
predict the other view's *code*, the Sinkhorn-Knopp equipartition of the batch over the
clusters (``epsilon``, ``sinkhorn_iters``), which rules out the collapse of every item
into one cluster. ``level``:

* ``slice`` (2-D, the paper's intra term): every valid context slice's token against the
  same slice's token in the full view;
* ``volume`` (3-D, the paper's inter term): each item's mean over its valid context
  slices against its mean over every valid slice;
* ``both`` (default): their mean.

Images and volumes of one batch share the prototypes and one Sinkhorn problem, so the
codes spread both modalities over the same clusters: the cross-modal (image <-> volume)
part of the clustering. Outside this plugin the term needs only ``context`` and
``full`` tokens: it works on any domain's grid (``valid`` flags where the layout has them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jepakit import gather_tokens
from jepakit.contract import Regularizer
from jepakit.kit import check

LEVELS = ("slice", "volume", "both")


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iters: int = 3) -> Tensor:
    """SwAV's codes: ``(n, K)`` scores -> ``(n, K)`` soft assignments whose clusters are
    used (nearly) equally over the ``n`` rows; each row sums to 1. Computed in the log
    domain, so scores far apart (a cluster every row prefers) never underflow."""
    n, k = scores.shape
    log_q = scores.float() / epsilon
    for _ in range(iters):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) + math.log(n / k)  # each cluster holds n / K rows
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True)  # each row is a distribution
    return log_q.exp()


def swapped(za: Tensor, zb: Tensor, prototypes: Tensor, temperature: float, epsilon: float, iters: int) -> Tensor:
    """SwAV's swapped prediction between two views' unit embeddings ``(n, d)``."""
    sa, sb = za @ prototypes.T, zb @ prototypes.T
    qa, qb = sinkhorn(sa, epsilon, iters), sinkhorn(sb, epsilon, iters)
    la, lb = F.log_softmax(sa / temperature, dim=1), F.log_softmax(sb / temperature, dim=1)
    return -0.5 * ((qb * la).sum(1).mean() + (qa * lb).sum(1).mean())


class ClusterRegularizer(Regularizer):
    """Intra (slice, 2-D) and inter (volume, 3-D) contrastive clustering between the
    context and the full view (see the module doc), added as ``weight * term``.
    ``prototypes``: clusters (16: SwAV over-clusters, 4x the 4 synthetic classes);
    ``temperature`` 0.1 and ``epsilon`` 0.05 with 3 Sinkhorn iterations are SwAV's."""

    needs_full = True

    def __init__(self, dim: int, weight: float = 1.0, prototypes: int = 16, proj_dim: int = 32, temperature: float = 0.1,
                 epsilon: float = 0.05, sinkhorn_iters: int = 3, level: str = "both"):
        super().__init__()
        check(float(weight) >= 0, f"weight must be >= 0, got {weight}")
        check(int(prototypes) >= 2, f"prototypes must be >= 2, got {prototypes}")
        check(float(temperature) > 0 and float(epsilon) > 0, f"temperature and epsilon must be > 0, got {temperature}, {epsilon}")
        check(int(sinkhorn_iters) >= 1, f"sinkhorn_iters must be >= 1, got {sinkhorn_iters}")
        check(level in LEVELS, f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.weight, self.level = float(weight), level
        self.temperature, self.epsilon, self.iters = float(temperature), float(epsilon), int(sinkhorn_iters)
        self.head = nn.Sequential(nn.Linear(int(dim), int(dim)), nn.GELU(), nn.Linear(int(dim), int(proj_dim)))
        self.prototypes = nn.Parameter(F.normalize(torch.randn(int(prototypes), int(proj_dim)), dim=1))

    def no_weight_decay(self) -> set[str]:
        return {"prototypes"}  # unit vectors: they are normalised in every forward

    def _z(self, h: Tensor) -> Tensor:
        return F.normalize(self.head(h.float()), dim=-1)

    def forward(self, out: dict[str, Tensor]) -> Tensor:
        ctx, full = out["context"], out["full"]
        b, nc, _ = ctx.shape
        idx = out.get("context_idx")
        if idx is None:  # a context in grid order of the first nc positions
            idx = torch.arange(nc, device=ctx.device).expand(b, nc)
        valid = out.get("valid")
        vfull = torch.ones(full.shape[:2], dtype=torch.bool, device=full.device) if valid is None else valid.to(full.device).bool()
        vctx = torch.gather(vfull, 1, idx)
        protos = F.normalize(self.prototypes, dim=1)
        terms = []
        if self.level in ("slice", "both"):
            full_at = gather_tokens(full, idx)
            keep = vctx.reshape(-1)
            if bool(keep.any()):
                za = self._z(ctx.reshape(-1, ctx.shape[-1])[keep])
                zb = self._z(full_at.reshape(-1, full.shape[-1])[keep])
                terms.append(swapped(za, zb, protos, self.temperature, self.epsilon, self.iters))
        if self.level in ("volume", "both"):
            wc, wf = vctx.unsqueeze(-1).to(ctx.dtype), vfull.unsqueeze(-1).to(full.dtype)
            pc = (ctx * wc).sum(1) / wc.sum(1).clamp_min(1.0)
            pf = (full * wf).sum(1) / wf.sum(1).clamp_min(1.0)
            terms.append(swapped(self._z(pc), self._z(pf), protos, self.temperature, self.epsilon, self.iters))
        if not terms:
            return ctx.sum() * 0.0
        return torch.stack(terms).mean()


__all__ = ["ClusterRegularizer", "sinkhorn", "swapped"]
