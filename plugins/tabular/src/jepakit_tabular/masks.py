"""Column maskers for tables (indices are column indices; the core skips the
regularization-token prefix).

* ``tjepa-subset`` — T-JEPA: one random context subset of the columns and several
  disjoint random target subsets, none overlapping the context.
* ``correlated`` — correlated feature masking (Yao et al. 2021, "Self-supervised Learning
  for Large-scale Item Recommendations"): each target group is a random seed column plus
  the columns most dependent on it (mutual information on the training rows, computed by
  :func:`jepakit_tabular.dependence.mutual_information` and offered as ``dependence``), so
  the predictor must infer a coherent block of related columns from the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from jepakit import Layout
from jepakit.kit import SampleMasker, check, draw_uniform, scale_pair


def _sizes(n: int, num_targets: int, ctx_share: float | None, tgt_share: float) -> tuple[int, int, int]:
    """(context size or -1 for 'all the rest', target size, number of targets) that fit in
    n columns with every set non-empty and all sets disjoint."""
    m = max(1, min(num_targets, n - 1))
    nt = max(1, min(round(tgt_share * n), (n - 1) // m))
    rest = n - m * nt
    nc = -1 if ctx_share is None else max(1, min(round(ctx_share * n), rest))
    return nc, nt, m


class SubsetMasker(SampleMasker):
    """T-JEPA subset masking: a context of ``context_share`` of the columns and
    ``num_targets`` disjoint target subsets of ``target_share`` each, drawn from the
    columns outside the context. Shares are drawn per batch from (min, max) ranges;
    ``context_share=None`` uses every non-target column as context."""

    def __init__(
        self,
        num_targets: int = 4,
        context_share: Sequence[float] | float | None = (0.4, 0.6),
        target_share: Sequence[float] | float = (0.1, 0.2),
    ):
        check(int(num_targets) >= 1, f"num_targets must be >= 1, got {num_targets}")
        self.num_targets = int(num_targets)
        self.context_share = None if context_share is None else scale_pair(context_share, "context_share")
        self.target_share = scale_pair(target_share, "target_share")
        check(self.target_share[1] < 1 and (self.context_share is None or self.context_share[1] < 1), "shares must be < 1")

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        n = layout.num_tokens
        check(n >= 2, f"masking needs at least 2 columns, the table has {n}")
        cs = None if self.context_share is None else draw_uniform(self.context_share, generator)
        self._nc, self._nt, self._m = _sizes(n, self.num_targets, cs, draw_uniform(self.target_share, generator))

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        n = layout.num_tokens
        perm = torch.randperm(n, generator=generator)
        targets = [perm[j * self._nt : (j + 1) * self._nt].sort().values for j in range(self._m)]
        rest = perm[self._m * self._nt :]
        ctx = rest if self._nc < 0 else rest[: self._nc]
        return ctx.sort().values, targets


class CorrelatedMasker(SubsetMasker):
    """Correlated feature masking: each of ``num_targets`` target groups is a random seed
    column and the ``target_share * n - 1`` free columns with the highest dependence on
    it (``dependence``: an (n, n) matrix, e.g. mutual information on the training rows);
    groups are disjoint; the context is ``context_share`` of the remaining columns
    (None: all of them)."""

    def __init__(
        self,
        dependence: Sequence[Sequence[float]] | np.ndarray | None = None,
        num_targets: int = 4,
        context_share: Sequence[float] | float | None = (0.4, 0.6),
        target_share: Sequence[float] | float = (0.1, 0.2),
    ):
        check(
            dependence is not None,
            "correlated masking needs a column dependence matrix (`dependence`); the tabular domain offers it when data.dependence is true",
        )
        dep = np.asarray(dependence, dtype=np.float64)
        check(dep.ndim == 2 and dep.shape[0] == dep.shape[1], f"dependence must be a square matrix, got shape {dep.shape}")
        check(bool(np.all(np.isfinite(dep))), "dependence must be finite")
        super().__init__(num_targets, context_share, target_share)
        self.dependence = torch.as_tensor(dep)

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        n = layout.num_tokens
        check(n >= 2, f"masking needs at least 2 columns, the table has {n}")
        check(
            self.dependence.shape[0] == n,
            f"dependence matrix is {self.dependence.shape[0]}x{self.dependence.shape[0]} but the table has {n} columns",
        )
        super().begin_batch(layout, generator)

    def group(self, seed: int, free: torch.Tensor, size: int) -> torch.Tensor:
        """The seed column plus the ``size - 1`` free columns most dependent on it."""
        others = free[free != seed]
        k = min(size - 1, others.numel())
        if k <= 0:
            return torch.tensor([seed])
        score = self.dependence[seed, others]
        top = others[torch.topk(score, k).indices]
        return torch.cat([torch.tensor([seed]), top])

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        n = layout.num_tokens
        free = torch.ones(n, dtype=torch.bool)
        targets = []
        for _ in range(self._m):
            pool = free.nonzero().flatten()
            seed = int(pool[torch.randint(pool.numel(), (1,), generator=generator)])
            g = self.group(seed, pool, self._nt)
            free[g] = False
            targets.append(g.sort().values)
        rest = free.nonzero().flatten()
        rest = rest[torch.randperm(rest.numel(), generator=generator)]
        ctx = rest if self._nc < 0 else rest[: self._nc]
        return ctx.sort().values, targets
